"""Checks of single setting values (URLs an operator writes), used by ``core.config.Settings``:
each raises ``ValueError`` naming the setting and what is wrong, which the commands print."""

from __future__ import annotations

import ipaddress
import re
from email.utils import getaddresses
from pathlib import Path
from urllib.parse import parse_qs, urlsplit, urlunsplit

from core.origins import OriginError, format_origin, normalize_host, split_origin

REDIS_SCHEMES = ("redis", "rediss", "unix")  # what both redis-py and arq's worker read
SMTP_SCHEMES = ("smtp", "smtps")  # core/mail.py: smtps is TLS from the start
POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+asyncpg")
_UNSAFE_URL_CHARS = re.compile(r"[\s\"'<>`\\\x00-\x1f\x7f]")
_SPACES = re.compile(r"[\s\x00-\x1f\x7f]")
_CONTROLS = re.compile(r"[\x00-\x1f\x7f]")


def split_csv(value: object) -> object:
    """``"a, b,,c"`` -> ``["a", "b", "c"]`` (a list setting written as one line)."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def masked_url(value: str) -> str | None:
    """``value`` with whatever precedes its last "@" after the scheme masked (a password
    written into the URL); None when it cannot be shown safely (no scheme)."""
    if "@" not in value:
        return value
    scheme, sep, _ = value.partition("://")
    if not sep or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme):
        return None
    return f"{scheme}://***@{value.rpartition('@')[2]}"


def shown_url(value: str) -> str:
    """``value`` quoted for a refusal, masked: the check refusing a password written into the
    URL never prints it (to the terminal and the deploy logs)."""
    masked = masked_url(value)
    return repr(masked) if masked is not None else "(not shown)"


def check_url_scheme(value: str, schemes: tuple[str, ...]) -> None:
    """A URL the driver can use (before: a traceback from inside the start-up), its port
    included: one that is no number was a ValueError traceback (`trulybot migrate`'s parse of
    DATABASE_URL, serve's start-up on REDIS_URL), and 0 or 99999 failed only at the first
    connection."""
    _check_scheme(value, schemes)
    try:
        port = urlsplit(value).port
    except ValueError:
        port = 0
    _check_port(port)


def check_redis_url(value: str) -> str:
    """``check_url_scheme`` for REDIS_URL, and its database a number (0 or more), named once:
    after the host (``/3``, not for a socket) or as ``?db=3``. Serve reads the URL with
    redis-py, the worker with arq, and each read another database, or none, from the rest:
    ``/abc`` was database 0 to serve and a traceback to the worker, ``/1/2`` database 12 to
    serve. The URL as both read it: a lone ``/`` after the host (database 0 to redis-py, a
    traceback to arq) is dropped, and the scheme is written in lower case (redis-py refused
    ``REDIS://``, a traceback of serve's start-up, where arq took it)."""
    parts = urlsplit(value)
    after_host = value.partition("://")[2][len(parts.netloc) :]
    if parts.scheme in ("redis", "rediss") and "@" in after_host:
        # A password's "/", "?" or "#" typed as is ended the host part there: the refusal was
        # of the port ("a number from 1 to 65535") or the database, named in the URL right.
        raise ValueError(
            "the password (or user name) holds a character a URL reserves, typed as is: write"
            " / as %2F, ? as %3F, # as %23, @ as %40 and % as %25"
        )
    check_url_scheme(value, REDIS_SCHEMES)
    value = parts.scheme + value[len(parts.scheme) :]
    given = parse_qs(parts.query, keep_blank_values=True).get("db")
    if given is not None and (len(given) > 1 or not re.fullmatch(r"[0-9]+", given[0])):
        raise ValueError("db= must be a number, once (?db=0)")
    if parts.scheme != "unix":
        check_url_host(parts.hostname, "redis://HOST:6379/0")
    check_redis_options(value)
    if parts.scheme == "unix" or parts.path in ("", "/"):
        return urlunsplit(parts._replace(path="")) if parts.path == "/" else value
    if not re.fullmatch(r"/[0-9]+", parts.path):
        raise ValueError(
            "the database after the host must be a number (redis://host:6379/0), or nothing"
        )
    if given is not None:
        raise ValueError("the database is given twice: after the host and as ?db=")
    return value


def check_url_host(host: str | None, example: str) -> None:
    """A URL's host there and without spaces: ``redis://`` or ``http://`` alone was taken as
    localhost (or as no host: every model call failed), and ``redis:// host`` started a server
    that said Redis "does not answer" for as long as it ran."""
    if not host:
        raise ValueError(f"the host is missing ({example})")
    if _SPACES.search(host):
        raise ValueError("the host contains a space or a control character")


def check_redis_options(value: str) -> None:
    """The URL's query parameters as redis-py makes a connection of them (nothing connects).
    An unknown one (``?foo=1``, ``?timeout=3``) made every connection fail, and serve started
    on its in-process fallbacks saying Redis "does not answer (TypeError)" for as long as it
    ran; a value that is not one (``?socket_timeout=abc``) was a traceback of its start-up.
    The password is never quoted."""
    from redis.asyncio import ConnectionPool
    from redis.exceptions import RedisError

    try:
        pool = ConnectionPool.from_url(value)
        pool.make_connection()
    except TypeError as exc:
        found = re.search(r"argument '(\w+)'", str(exc))
        name = repr(found.group(1)) if found else "(not shown)"
        raise ValueError(
            f"unknown parameter {name} in the query (after ?); redis-py reads e.g."
            " ?socket_timeout=2 or, with rediss://, ?ssl_cert_reqs=none"
        ) from None
    except (ValueError, RedisError) as exc:
        raise ValueError(f"a query parameter redis-py cannot use: {exc}") from None
    _check_redis_kwargs(pool.connection_kwargs)


def _check_redis_kwargs(given: dict[str, object]) -> None:
    """Options redis-py takes that no connection of ours works with: an answer decoded to str
    (``?decode_responses=true``: the clients read bytes, rag/chat/cache.py decodes its
    counts' keys itself), a timeout that is not above 0 (``?socket_timeout=0`` or ``nan``:
    every command timed out and serve ran "degraded" for as long as it ran)."""
    for name in ("decode_responses", "encoding", "encoding_errors"):
        if name in given:
            raise ValueError(f"?{name}= is not taken: Redis' answers are read as bytes")
    for name in ("socket_timeout", "socket_connect_timeout"):
        seconds = given.get(name)
        if isinstance(seconds, float) and not 0 < seconds <= 3600:
            raise ValueError(f"{name} must be a number of seconds above 0, at most 3600")
    _check_redis_ca_file(given.get("ssl_ca_certs"))
    _check_redis_client_certificate(given.get("ssl_certfile"), given.get("ssl_keyfile"))


def _check_redis_ca_file(value: object) -> None:
    """``rediss://...?ssl_ca_certs=FILE`` checked as SMTP_CA_FILE is (``check_ca_file``): a
    file that was not there, or held no PEM certificate, was taken at start and every
    connection to Redis failed on it later. redis-py opens the path as written: ``~`` is
    refused rather than expanded."""
    if not isinstance(value, str):
        return
    if value.startswith("~"):
        raise ValueError(
            f"?ssl_ca_certs={value!r}: write the file's full path (redis-py expands no ~)"
        )
    try:
        check_ca_file(value)
    except ValueError as exc:
        raise ValueError(f"?ssl_ca_certs={exc}") from None


def _check_redis_client_certificate(certfile: object, keyfile: object) -> None:
    """``rediss://...?ssl_certfile=CERT&ssl_keyfile=KEY``, the client certificate of a Redis
    that asks for one: redis-py sends it only when both are given (one alone was taken and
    silently left out, and the server refused every connection), loads the pair at the first
    connection (a missing file, a key that is not the certificate's, a key under a passphrase:
    each was taken at start and every connection failed on it), and opens the paths as
    written (``~`` is refused rather than expanded)."""
    import ssl

    given = {"ssl_certfile": certfile, "ssl_keyfile": keyfile}
    named = {name: value for name, value in given.items() if isinstance(value, str)}
    if not named:
        return
    if len(named) == 1:
        [(name, _)] = named.items()
        other = "ssl_keyfile" if name == "ssl_certfile" else "ssl_certfile"
        raise ValueError(
            f"?{name}= without ?{other}=: redis-py sends the client certificate only with"
            " both (the certificate's file and its key's)"
        )
    for name, value in named.items():
        if value.startswith("~"):
            raise ValueError(
                f"?{name}={value!r}: write the file's full path (redis-py expands no ~)"
            )
        if not Path(value).is_file():
            raise ValueError(f"?{name}={value!r} is no file")
    context = ssl.create_default_context()
    try:
        # No passphrase is read (redis-py passes none): an encrypted key fails here, not on a
        # terminal prompt.
        context.load_cert_chain(named["ssl_certfile"], named["ssl_keyfile"], password=lambda: b"")
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise ValueError(
            "?ssl_certfile= and ?ssl_keyfile= are not a PEM certificate and its unencrypted key"
            f" ({exc})"
        ) from None


def check_http_url(value: str) -> None:
    """An http(s) base URL (OPENAI_BASE_URL, RAZORPAY_BASE_URL) with a host."""
    check_url_scheme(value, ("http", "https"))
    check_url_host(urlsplit(value).hostname, "https://HOST[:PORT]/PATH")


def _check_scheme(value: str, schemes: tuple[str, ...]) -> None:
    if urlsplit(value).scheme not in schemes:
        raise ValueError(f"must start with {' or '.join(s + '://' for s in schemes)}")


def _check_port(port: int | None) -> None:
    if port is not None and not 0 < port <= 65535:
        raise ValueError("the port must be a number from 1 to 65535")


def _database_port(value: str) -> int | None:
    """The port of a database URL as SQLAlchemy reads it, which the engine connects with (0:
    not a number). Its parser takes a password with an unencoded "/" or "#" whole, where
    urlsplit ends the host there and read the password's start as the port."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(value).port
    except ArgumentError:  # no host it reads (postgresql:///db?host=/run/postgresql)
        return None
    except ValueError:
        hosts = urlsplit(value).netloc.rpartition("@")[2]
        if "," in hosts:  # libpq's list, which SQLAlchemy does not read
            query = "&".join(f"host={host}" for host in hosts.split(","))
            raise ValueError(f"several hosts go in the query: ...@/DBNAME?{query}") from None
        return 0


def check_smtp_url(value: str) -> None:
    """``smtp[s]://[user[:password]@]host[:port]`` as core/mail.py reads it. Before, only the
    scheme was checked: a port that is no number failed the first mail, and a URL naming no
    host sent to localhost. The value is never quoted (it may hold the relay's password).
    Spaces are allowed in the user and password only."""
    try:
        parts = urlsplit(value)
    except ValueError:
        raise ValueError("it does not parse as a URL") from None
    if parts.scheme not in SMTP_SCHEMES:
        raise ValueError(f"must start with {' or '.join(s + '://' for s in SMTP_SCHEMES)}")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("the port must be a number from 1 to 65535") from None
    if _CONTROLS.search(value):
        raise ValueError("it contains control characters (a line break, a tab)")
    # A space in the user or password is sent as it is (Gmail shows app passwords with spaces,
    # and the previous release took them); anywhere else it failed at the first mail.
    userinfo = parts.netloc.rpartition("@")[0]
    if _SPACES.search(value.replace(f"{userinfo}@", "", 1) if userinfo else value):
        raise ValueError("it contains a space outside the user name and password")
    if port is not None and not 0 < port <= 65535:
        raise ValueError("the port must be a number from 1 to 65535")
    if not parts.hostname:
        raise ValueError("the host is missing (smtp://user:pass@host:587 or smtps://host:465)")


def check_smtp_plaintext_auth(url: str, starttls: str, allowed: bool) -> None:
    """Credentials in ``SMTP_URL`` with ``SMTP_STARTTLS=off`` on plain smtp:// go out in clear
    text: refused for a relay that is not on this machine unless ``SMTP_ALLOW_PLAINTEXT_AUTH``
    says so (a relay on a private network the operator trusts). ``auto`` and ``on`` need no
    check: with credentials, both require STARTTLS (core/mail.py)."""
    parts = urlsplit(url)
    if allowed or starttls != "off" or parts.scheme != "smtp":
        return
    if not (parts.username or parts.password) or _is_local(parts.hostname or ""):
        return
    raise ValueError(
        "SMTP_URL has a user and password and SMTP_STARTTLS is off: they would cross the"
        " network in clear text. Use SMTP_STARTTLS=on (or smtps://), or set"
        " SMTP_ALLOW_PLAINTEXT_AUTH=true for a relay on a network you trust"
    )


def _is_local(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_mailbox(value: str) -> None:
    """One address, with or without a display name (``Acme Bot <bot@acme.test>``). An unquoted
    comma (``Acme, Inc <...>``) made two, and the first, ``Acme``, became the envelope sender."""
    found = getaddresses([value])
    if len(found) != 1 or "@" not in found[0][1] or _SPACES.search(found[0][1]):
        raise ValueError(
            'must be one address, e.g. "Acme, Inc" <bot@acme.test> (a name with a comma or'
            " other punctuation in double quotes)"
        )


def check_ca_file(value: str) -> str:
    """SMTP_CA_FILE (and REDIS_URL's ``?ssl_ca_certs=``): a file of PEM certificates Python's
    TLS loads. A path that was not there (or a key, or a directory) was taken, and every mail
    failed at its send, retried until given up, while the server said "mail: smtp". Returned
    with ``~`` expanded: the mail transport opens the path as it is, and ``~/ca.pem`` passed
    this check to fail each send."""
    import ssl

    path = Path(value).expanduser()
    if not path.is_file():
        raise ValueError(f"{value!r} is no file (name the PEM file of the CA certificates)")
    try:
        ssl.create_default_context(cafile=str(path))
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise ValueError(f"{value!r} holds no PEM certificate it can load ({exc})") from None
    return str(path)


def check_public_base_url(value: str) -> None:
    """http(s)://host[:port][/path]: nothing that could break out of the snippet's attribute."""
    problem = None
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        problem, parts, port = "it does not parse as a URL", None, None
    if parts is not None:
        if parts.scheme not in ("http", "https"):
            problem = "it must start with http:// or https://"
        elif not parts.hostname:
            problem = "the host is missing"
        elif parts.username is not None or parts.password is not None:
            problem = "it must not contain a user name or password"
        elif parts.query or parts.fragment or "?" in value or "#" in value:
            problem = "it must not have a query or fragment"
        elif port is not None and not 0 < port <= 65535:
            problem = "the port is out of range"
    if problem is None and _UNSAFE_URL_CHARS.search(value):
        problem = "it contains spaces, quotes, angle brackets or control characters"
    if problem:
        raise ValueError(f"PUBLIC_BASE_URL {shown_url(value)} is not valid: {problem}")


def check_script_url(value: str) -> None:
    """An absolute http(s) URL of a script, safe inside an attribute and a CSP source."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        shown = shown_url(value)
        raise ValueError(f"RAZORPAY_CHECKOUT_SCRIPT_URL {shown} does not parse") from None
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.username is not None
        or parts.password is not None
        or parts.fragment
        or _UNSAFE_URL_CHARS.search(value)
        or ";" in value
        or "," in value
    ):
        raise ValueError(
            f"RAZORPAY_CHECKOUT_SCRIPT_URL {shown_url(value)} must be an http(s) URL without"
            " credentials, spaces, quotes, commas or semicolons"
        )


SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
"""libpq's ``sslmode`` values (asyncpg's ``ssl`` takes the same names)."""
DATABASE_URL_PARAMETERS = (
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "connect_timeout",
    "application_name",
    "ssl",
    "host",
    "port",
)
"""The query parameters a database URL may carry: libpq's TLS and timeout ones (what managed
PostgreSQL providers hand out, translated for asyncpg by ``core.db_url``), asyncpg's ``ssl``,
and ``host``/``port`` (a socket directory, several hosts)."""


def check_database_url(value: str) -> None:
    """``postgresql://...`` whose query parameters the driver can use: an unknown one (or
    ``?sslmode=require`` before it was translated) was a TypeError traceback from inside
    asyncpg at the first connection. The value is never quoted (it holds a password)."""
    _check_scheme(value, POSTGRES_SCHEMES)
    _check_port(_database_port(value))
    parts = urlsplit(value)
    if "@" in parts.query and "@" not in parts.netloc:
        # An unencoded "?" in the password started the query there: its "parameters" are the
        # rest of the password and the host, never quoted.
        raise ValueError("a password holding ? must be percent-encoded (%3F)")
    try:
        query = parse_qs(urlsplit(value).query, keep_blank_values=True, strict_parsing=False)
    except ValueError:
        raise ValueError("its query (after ?) does not parse") from None
    for name, values in query.items():
        if name not in DATABASE_URL_PARAMETERS:
            raise ValueError(
                f"unknown parameter {name!r} (accepted: {', '.join(DATABASE_URL_PARAMETERS)})"
            )
        if len(values) > 1 and name not in ("host", "port"):
            raise ValueError(f"the parameter {name!r} is given more than once")
    for name in ("sslmode", "ssl"):
        mode = query.get(name, [None])[0]
        if mode is not None and mode not in SSL_MODES:
            raise ValueError(f"{name}={mode!r} is not one of {', '.join(SSL_MODES)}")
    timeout = query.get("connect_timeout", [None])[0]
    if timeout is not None:
        try:
            seconds = float(timeout)
        except ValueError:
            seconds = -1
        if not 0 < seconds <= 3600:
            raise ValueError("connect_timeout must be a number of seconds from 1 to 3600")
    for name in ("sslrootcert", "sslcert", "sslkey"):
        path = query.get(name, [None])[0]
        if path is not None and not Path(path).expanduser().is_file():
            raise ValueError(f"{name}: no such file {path!r}")
    if ("sslcert" in query) != ("sslkey" in query):
        raise ValueError("sslcert and sslkey go together (the client certificate and its key)")


def check_origins(values: list[str]) -> list[str]:
    """DASHBOARD_ORIGINS: each an origin as a browser sends it in ``Origin`` (``scheme://host``
    and a port other than the scheme's), returned in that form: the CORS layer compares the
    header with each entry as a string, so ``abc``, ``https://app.example.com/dashboard`` or
    ``HTTPS://App.Example.com:443/`` were taken and never matched a request. A bare ``*``
    is refused: with credentials, every website could call the API as a signed-in owner."""
    return [_origin(value) for value in values]


def _origin(value: str) -> str:
    if value == "*":
        raise ValueError(
            "'*' would let every website call the API with an owner's credentials: list the"
            " dashboard's origins (https://app.example.com)"
        )
    try:  # scheme://host[:port] and nothing else, as widget.policy's allowed origins
        scheme, host, port = split_origin(value, trailing_slash=True)
    except OriginError as exc:
        raise ValueError(str(exc)) from None
    if "*" in host:
        raise ValueError(f"{value!r} is not an origin: wildcards are not taken: list each origin")
    try:  # as the browser writes it in Origin (widget.policy's allowed origins are too)
        return format_origin(scheme, normalize_host(host), port)
    except OriginError as exc:
        raise ValueError(f"{value!r} is not an origin: {exc}") from None


def check_chunk_overlap(overlap: int, chunk_tokens: int) -> None:
    """Chunks overlap by fewer tokens than they hold (rag/knowledge/chunking.py refused it in
    every upload's job, which then ended ``failed``)."""
    if overlap >= chunk_tokens:
        raise ValueError(
            f"CHUNK_OVERLAP_TOKENS ({overlap}) must be smaller than CHUNK_TOKENS ({chunk_tokens})"
        )


def check_production_base_url(value: str | None) -> None:
    """``PUBLIC_BASE_URL`` in production: set, and https. Over http every embedding https site
    blocks widget.js as mixed content (and visitors' messages cross the network in clear), and
    the mailed links lead to a dashboard whose Secure cookie the browser never sends back."""
    if not value:
        raise ValueError(
            "PUBLIC_BASE_URL must be set in production (the URL visitors' browsers load "
            "widget.js from, e.g. https://bot.example.com)"
        )
    if urlsplit(value).scheme != "https":
        raise ValueError(
            "PUBLIC_BASE_URL must be an https:// URL in production (the widget is loaded from"
            " it on https sites; the dashboard cookie is Secure)"
        )


def check_sentry_dsn(value: str) -> None:
    """A DSN sentry_sdk can start with (before: its BadDsn, a traceback from the app's start-up
    in every worker). The message quotes nothing of it: the key is in it."""
    from sentry_sdk.utils import BadDsn, Dsn

    try:
        Dsn(value)
    except BadDsn:
        raise ValueError(
            "must be a Sentry DSN, https://PUBLIC_KEY@HOST/PROJECT_ID (the project's"
            " Client Keys page)"
        ) from None
