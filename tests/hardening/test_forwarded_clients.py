"""The client behind a trusted proxy, as proxies really write it.

Two shapes made every client behind the balancer count as the balancer itself (one bucket for
every per-IP limit and the login guard, so one person's wrong passwords locked everyone out):

* ``trulybot serve`` on ``HOST=::`` (a dual-stack socket) sees an IPv4 balancer as
  ``::ffff:10.0.0.5``, which ``TRUSTED_PROXIES=10.0.0.0/8`` did not match, so X-Forwarded-For
  was ignored;
* some balancers (Azure's Application Gateway) write each hop with its port
  (``203.0.113.9:51234``, ``[2001:db8::7]:443``), which was read as garbage.
"""

from __future__ import annotations

import httpx
import pytest

from api.client_address import client_ip, client_scheme
from tests.conftest import signup
from tests.hardening.conftest import ClientFactory, fresh_ip

WRONG = "not the password"


async def _login(
    client: httpx.AsyncClient, email: str, password: str, forwarded_for: str
) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/login",
        json={"email": email, "password": password},
        headers={"X-Forwarded-For": forwarded_for},
    )


def test_a_proxy_seen_as_an_ipv4_mapped_address_is_trusted() -> None:
    assert client_ip("::ffff:10.0.0.5", "203.0.113.9", "10.0.0.0/8") == "203.0.113.9"
    # A hop the proxies wrote in the mapped form is one of them too.
    assert client_ip("10.0.0.5", "203.0.113.9, ::ffff:10.0.0.7", "10.0.0.0/8") == "203.0.113.9"
    # Not a trusted proxy: X-Forwarded-For is still not believed (the peer, as IPv4).
    assert client_ip("::ffff:192.0.2.1", "203.0.113.9", "10.0.0.0/8") == "192.0.2.1"
    # TRUSTED_PROXIES may name them in the mapped form too, the peer or a hop.
    mapped = "::ffff:10.0.0.0/104"
    assert client_ip("::ffff:10.0.0.5", "203.0.113.9", mapped) == "203.0.113.9"
    assert client_ip("::ffff:10.0.0.5", "203.0.113.9, 10.0.0.7", mapped) == "203.0.113.9"
    assert client_ip("::ffff:192.0.2.1", "203.0.113.9", mapped) == "192.0.2.1"


def test_a_hop_written_with_its_port_names_the_client() -> None:
    assert client_ip("10.0.0.5", "203.0.113.9:51234", "10.0.0.0/8") == "203.0.113.9"
    assert client_ip("10.0.0.5", "[2001:db8::7]:443", "10.0.0.0/8") == "2001:db8::7"
    assert client_ip("10.0.0.5", "[2001:db8::7]", "10.0.0.0/8") == "2001:db8::7"
    assert client_ip("10.0.0.5", "203.0.113.9, 10.0.0.7:8080", "10.0.0.0/8") == "203.0.113.9"
    # Still garbage: a name, a port alone, a bare IPv6 address followed by a port-like part.
    for garbage in ("proxy.internal:80", ":80", "203.0.113.9:", "203.0.113.9:99999", "[::1"):
        assert client_ip("10.0.0.5", garbage, "10.0.0.0/8") == "10.0.0.5", garbage


@pytest.mark.parametrize(
    ("peer", "hop", "listed"),
    [
        ("::ffff:{balancer}", "{client}", "{balancer}/32"),  # a server on HOST=:: sees it so
        ("{balancer}", "{client}:50123", "{balancer}/32"),  # each hop written with its port
        # TRUSTED_PROXIES listing the balancer as that server sees it (how operators worked
        # around the dual-stack socket before): believed before fix-auth, and again now.
        ("::ffff:{balancer}", "{client}", "::ffff:{balancer}/128"),
    ],
    ids=["dual-stack-socket", "hops-with-ports", "listed-ipv4-mapped"],
)
async def test_behind_the_balancer_one_attacker_does_not_lock_everyone_out(
    app_client: ClientFactory, client: httpx.AsyncClient, peer: str, hop: str, listed: str
) -> None:
    owner = await signup(client, "Behind the balancer")
    balancer = fresh_ip()
    async with app_client(
        ip=peer.format(balancer=balancer),
        rate_limits="on",
        rate_limit_auth="1000/minute",
        login_max_failures=50,
        login_ip_max_failures=2,
        trusted_proxies=listed.format(balancer=balancer),
    ) as through_proxy:
        attacker = hop.format(client=fresh_ip())
        assert (await _login(through_proxy, "x@example.com", WRONG, attacker)).status_code == 401
        locked = await _login(through_proxy, "y@example.com", WRONG, attacker)
        assert locked.status_code == 429
        assert locked.json()["error"]["code"] == "login_locked"
        someone_else = hop.format(client=fresh_ip())
        signed_in = await _login(through_proxy, owner.email, owner.password, someone_else)
        assert signed_in.status_code == 200, signed_in.text


def test_a_hop_with_an_ipv6_zone_is_the_address_without_it() -> None:
    """A zone (``%eth0``) names an interface of the host that wrote it, nothing here; and it
    may be any length."""
    assert client_ip("10.0.0.5", "fe80::1%eth0", "10.0.0.0/8") == "fe80::1"
    assert client_ip("10.0.0.5", "[fe80::1%eth0]:443", "10.0.0.0/8") == "fe80::1"
    assert client_ip("10.0.0.5", "fe80::1%" + "x" * 200, "*") == "fe80::1"


async def test_a_long_ipv6_zone_in_x_forwarded_for_signs_in_and_is_not_stored(
    app_client: ClientFactory, client: httpx.AsyncClient
) -> None:
    """Behind ``TRUSTED_PROXIES=*`` a client that reaches the server itself writes the hop: a
    zone of 200 characters was a 500 (the session's address is at most 64 characters)."""
    owner = await signup(client, "Zoned")
    async with app_client(trusted_proxies="*") as through_proxy:
        zoned = "fe80::1%" + "x" * 200
        signed_in = await _login(through_proxy, owner.email, owner.password, zoned)
        assert signed_in.status_code == 200, signed_in.text
        headers = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
        listed = await through_proxy.get("/api/v1/auth/sessions", headers=headers)
    assert [s["ip"] for s in listed.json() if s["current"]] == ["fe80::1"]


def test_behind_any_proxy_the_client_is_the_hop_the_proxy_appended() -> None:
    """``TRUSTED_PROXIES=*`` trusts the peer, whoever it is, to have appended the address it
    saw; every hop before that one is what the client sent and proves nothing. The left-most hop
    was taken: a client named itself."""
    assert client_ip("10.0.0.5", "198.51.100.7, 203.0.113.9", "*") == "203.0.113.9"
    assert client_ip("10.0.0.5", "203.0.113.9", "*") == "203.0.113.9"
    # Listed proxies beside * are skipped from the right, as without *.
    chain = "198.51.100.7, 203.0.113.9, 10.0.0.7"
    assert client_ip("10.0.0.5", chain, "*, 10.0.0.0/8") == "203.0.113.9"
    # Garbage appended by the proxy itself: the peer, as before.
    assert client_ip("10.0.0.5", "203.0.113.9, garbage", "*") == "10.0.0.5"


BEHIND_ANY_PROXY = {
    "rate_limits": "on",
    "rate_limit_auth": "1000/minute",
    "login_max_failures": 50,
    "login_ip_max_failures": 2,
    "trusted_proxies": "*",
}
"""An address is locked after 2 wrong passwords; ``*`` trusts the peer as the proxy."""


async def test_behind_any_proxy_a_client_cannot_pick_its_address_to_dodge_the_lockout(
    app_client: ClientFactory, client: httpx.AsyncClient
) -> None:
    """Behind ``TRUSTED_PROXIES=*`` an attacker wrote a new X-Forwarded-For of its own with each
    wrong password (the proxy appends the address it saw): each try counted as another address,
    so the address lock never came, while the owner behind another address still signs in."""
    owner = await signup(client, "Behind any proxy")
    async with app_client(**BEHIND_ANY_PROXY) as through_proxy:
        attacker = fresh_ip()
        tries = [
            await _login(through_proxy, f"{n}@example.com", WRONG, f"{fresh_ip()}, {attacker}")
            for n in range(3)
        ]
        owner_address = fresh_ip()
        signed_in = await _login(through_proxy, owner.email, owner.password, owner_address)
    assert [t.status_code for t in tries] == [401, 429, 429], [t.text for t in tries]
    assert tries[-1].json()["error"]["code"] == "login_locked"
    assert signed_in.status_code == 200, signed_in.text


async def test_behind_any_proxy_several_forwarded_for_headers_of_the_client_name_no_one(
    app_client: ClientFactory, client: httpx.AsyncClient
) -> None:
    """Behind ``TRUSTED_PROXIES=*`` the client sends several X-Forwarded-For headers of its own,
    fresh addresses in each, and the proxy adds its own header after them (HAProxy's ``option
    forwardfor``): the headers are read as one chain in their order, so the client is still the
    address the proxy wrote, and its wrong passwords lock that address."""
    async with app_client(**BEHIND_ANY_PROXY) as through_proxy:
        attacker = fresh_ip()
        tries = []
        for n in range(3):
            headers = [
                ("X-Forwarded-For", fresh_ip()),
                ("X-Forwarded-For", f"{fresh_ip()}, {fresh_ip()}"),
                ("X-Forwarded-For", attacker),  # the proxy's, after the client's
            ]
            body = {"email": f"{n}@example.com", "password": WRONG}
            tries.append(await through_proxy.post("/api/v1/auth/login", json=body, headers=headers))
    assert [t.status_code for t in tries] == [401, 429, 429], [t.text for t in tries]
    assert tries[-1].json()["error"]["code"] == "login_locked"


def test_an_untrusted_peer_is_written_as_a_trusted_hop_is() -> None:
    """The TCP peer names the client in one form whichever way the socket wrote it: an
    IPv4-mapped address as its IPv4 address, an IPv6 one lower-case and zero-compressed, as a
    trusted proxy's hop is. ``::ffff:203.0.113.5`` (a server on ``HOST=::``) and
    ``203.0.113.5`` were two addresses in the sessions and the audit log."""
    assert client_ip("::ffff:203.0.113.5", None, "") == "203.0.113.5"
    assert client_ip("2001:DB8:0:0:0:0:0:7", None, "") == "2001:db8::7"
    assert client_ip("2001:db8::7", "203.0.113.9", "10.0.0.0/8") == "2001:db8::7"
    # The same peer when it is a trusted proxy whose chain is garbage.
    assert client_ip("::ffff:10.0.0.5", "garbage", "10.0.0.0/8") == "10.0.0.5"
    # Not an address at all (a Unix socket's peer, none): as it was.
    assert client_ip(None, None, "") == "unknown"
    assert client_ip("/run/trulybot.sock", None, "") == "/run/trulybot.sock"


async def test_a_visitor_on_a_dual_stack_socket_is_one_address_in_the_sessions_and_audit_log(
    app_client: ClientFactory, client: httpx.AsyncClient
) -> None:
    """Signed in through a server on ``HOST=::`` (the peer ``::ffff:a.b.c.d``), the session and
    the audit log name the plain IPv4 address, as they do behind a proxy."""
    owner = await signup(client, "Dual stack")
    address = fresh_ip()
    async with app_client(ip=f"::ffff:{address}") as dual_stack:
        body = {"email": owner.email, "password": owner.password}
        signed_in = await dual_stack.post("/api/v1/auth/login", json=body)
        assert signed_in.status_code == 200, signed_in.text
        headers = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
        listed = await dual_stack.get("/api/v1/auth/sessions", headers=headers)
        renamed = await dual_stack.patch(owner.url(), json={"name": "Renamed"}, headers=headers)
        assert renamed.status_code == 200, renamed.text
        audit = await dual_stack.get(owner.url("/audit"), headers=headers)
    assert [s["ip"] for s in listed.json() if s["current"]] == [address]
    assert audit.status_code == 200, audit.text
    assert [item["ip"] for item in audit.json()["items"][:1]] == [address]


HSTS = "strict-transport-security"


@pytest.mark.parametrize(
    ("trusted", "forwarded_for", "forwarded_proto", "https"),
    [
        # One proxy that appends (node-http-proxy's xfwd, HAProxy's add-header): the client
        # wrote the values left of the proxy's own, the right-most.
        ("{proxy}", "{client}", ["http, https"], True),
        ("{proxy}", "{client}", ["https, http"], False),
        ("*", "{client}", ["http, https"], True),
        ("*", "{client}", ["https, http"], False),
        # The client's value and the proxy's in headers of their own, in order.
        ("{proxy}", "{client}", ["http", "https"], True),
        ("{proxy}", "{client}", ["https", "http"], False),
        # One proxy that overwrites (nginx's proxy_set_header X-Forwarded-Proto $scheme, AWS
        # and Google balancers): one value, whatever the client wrote in X-Forwarded-For.
        ("{proxy}", "198.51.100.7, {client}", ["https"], True),
        ("{proxy}", "198.51.100.7, {client}", ["http"], False),
        # Two listed proxies that append: the scheme is the one the client used at the edge,
        # not the plain http between the two proxies.
        ("{proxy}, 10.255.0.0/16", "{client}, 10.255.0.9", ["https, http"], True),
        ("{proxy}, 10.255.0.0/16", "{client}, 10.255.0.9", ["https, http, http"], False),
        # An edge that overwrites behind an inner proxy that passes the header on: one value.
        ("{proxy}, 10.255.0.0/16", "{client}, 10.255.0.9", ["https"], True),
    ],
)
async def test_the_scheme_is_the_one_the_trusted_proxy_wrote_not_the_clients(
    app_client: ClientFactory,
    trusted: str,
    forwarded_for: str,
    forwarded_proto: list[str],
    https: bool,
) -> None:
    """Behind a TLS-terminating proxy the left-most X-Forwarded-Proto was believed: a client
    over https that wrote ``X-Forwarded-Proto: http`` in front of the proxy's ``https`` got no
    HSTS (so its next visit could go out in cleartext), and one over plain http that wrote
    ``https`` got HSTS and the scheme https. The value is the one at the client's hop, as the
    client's address is (right-most untrusted; ``*`` trusts only the connecting proxy)."""
    proxy = fresh_ip()
    headers = [("X-Forwarded-For", forwarded_for.format(client=fresh_ip()))]
    headers += [("X-Forwarded-Proto", value) for value in forwarded_proto]
    async with app_client(ip=proxy, trusted_proxies=trusted.format(proxy=proxy)) as behind:
        response = await behind.get("/healthz", headers=headers)
    assert (HSTS in response.headers) is https, response.headers


def test_the_scheme_without_a_believable_client_hop_is_what_the_peer_wrote() -> None:
    """No X-Forwarded-For, or garbage in it: the right-most value, the trusted peer's own. A
    request that came over TLS itself is https; an untrusted peer's header is not read."""
    assert client_scheme("http", "10.0.0.5", None, "https, http", "10.0.0.0/8") == "http"
    assert client_scheme("http", "10.0.0.5", "garbage", "http, https", "10.0.0.0/8") == "https"
    assert client_scheme("https", "10.0.0.5", "203.0.113.9", "http", "10.0.0.0/8") == "https"
    assert client_scheme("http", "192.0.2.1", "203.0.113.9", "https", "10.0.0.0/8") == "http"
