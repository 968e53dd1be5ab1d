"""SMTP over TLS: a real aiosmtpd server that requires STARTTLS, and one that speaks TLS from the
first byte (smtps://), each with a self-signed certificate made for the test; our client
verifies it against SMTP_CA_FILE and delivers."""

from __future__ import annotations

import logging
import ssl
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from pydantic import ValidationError
from sqlalchemy import text

from core.config import Settings
from tests.conftest import RuntimeFactory
from tests.fakes.smtp import Handler
from tests.ports import free_port as _free_port


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (its own CA), made with the cryptography package
    when the venv has it, else with the openssl command."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    try:
        _with_cryptography(cert, key)
    except ImportError:
        subprocess.run(
            [
                "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
                "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
    return cert, key


def _with_cryptography(cert: Path, key: Path) -> None:
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(private, hashes.SHA256())
    )
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


@pytest.fixture
def tls_server(certificate: tuple[Path, Path]) -> Iterator[tuple[Handler, int, dict[str, Any]]]:
    """A server that refuses mail until STARTTLS (``require_starttls``); the dict records
    whether each delivered message came over TLS."""
    handler = Handler()
    seen: dict[str, Any] = {"tls": []}
    original = handler.handle_DATA

    async def handle_data(server: Any, session: Any, envelope: Any) -> str:
        seen["tls"].append(session.ssl is not None)
        return await original(server, session, envelope)

    handler.handle_DATA = handle_data  # type: ignore[method-assign]
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=_free_port(),
        tls_context=_server_context(*certificate),
        require_starttls=True,
    )
    controller.start()
    try:
        yield handler, controller.port, seen
    finally:
        controller.stop()


@pytest.fixture
def smtps_server(certificate: tuple[Path, Path]) -> Iterator[tuple[Handler, int]]:
    """TLS from the first byte (port 465 style)."""
    handler = Handler()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=_free_port(),
        ssl_context=_server_context(*certificate),
    )
    controller.start()
    try:
        yield handler, controller.port
    finally:
        controller.stop()


async def _send(runtime: Any, to: str) -> None:
    async with runtime.db.transaction() as session:
        await runtime.mailer.enqueue(session, to=to, template="password_changed", email=to)
    await runtime.mailer.settle()
    await runtime.jobs.drain()


@pytest.mark.parametrize("starttls", ["on", "auto"])
async def test_starttls_required_by_the_server_delivers(
    runtime_factory: RuntimeFactory,
    tls_server: tuple[Handler, int, dict[str, Any]],
    certificate: tuple[Path, Path],
    starttls: str,
) -> None:
    handler, port, seen = tls_server
    to = f"tls-{uuid.uuid4().hex[:10]}@example.com"
    async with runtime_factory(
        smtp_url=f"smtp://127.0.0.1:{port}",
        smtp_starttls=starttls,
        smtp_ca_file=str(certificate[0]),
    ) as runtime:
        await _send(runtime, to)
    [got] = handler.to(to)
    assert got.message["Subject"] == "Your TrulyBot password was changed"
    assert seen["tls"] == [True]


async def test_without_starttls_the_server_refuses_and_nothing_is_delivered(
    runtime_factory: RuntimeFactory,
    tls_server: tuple[Handler, int, dict[str, Any]],
    certificate: tuple[Path, Path],
) -> None:
    handler, port, _seen = tls_server
    to = f"plain-{uuid.uuid4().hex[:10]}@example.com"
    async with runtime_factory(
        smtp_url=f"smtp://127.0.0.1:{port}",
        smtp_starttls="off",
        mail_retry_seconds=0.01,
        mail_max_attempts=1,
    ) as runtime:
        await _send(runtime, to)
    assert handler.to(to) == []


async def test_an_untrusted_certificate_is_refused(
    runtime_factory: RuntimeFactory, tls_server: tuple[Handler, int, dict[str, Any]]
) -> None:
    handler, port, _seen = tls_server
    to = f"untrusted-{uuid.uuid4().hex[:10]}@example.com"
    async with runtime_factory(
        smtp_url=f"smtp://127.0.0.1:{port}",
        smtp_starttls="on",
        mail_retry_seconds=0.01,
        mail_max_attempts=1,
    ) as runtime:
        await _send(runtime, to)  # no SMTP_CA_FILE: the self-signed certificate is not trusted
    assert handler.to(to) == []


async def test_implicit_tls_smtps_delivers(
    runtime_factory: RuntimeFactory,
    smtps_server: tuple[Handler, int],
    certificate: tuple[Path, Path],
) -> None:
    handler, port = smtps_server
    to = f"smtps-{uuid.uuid4().hex[:10]}@example.com"
    async with runtime_factory(
        smtp_url=f"smtps://127.0.0.1:{port}", smtp_ca_file=str(certificate[0])
    ) as runtime:
        await _send(runtime, to)
    [got] = handler.to(to)
    assert got.message["Subject"] == "Your TrulyBot password was changed"


async def test_a_ca_file_under_the_home_directory_is_read_where_it_is(
    runtime_factory: RuntimeFactory,
    smtps_server: tuple[Handler, int],
    certificate: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``SMTP_CA_FILE=~/cert.pem`` (a .env file expands nothing) passed the check at start,
    which expanded ``~``, and the mail transport opened ``~/cert.pem`` as written: every mail
    failed at its send. The setting now holds the path the check read."""
    monkeypatch.setenv("HOME", str(certificate[0].parent))
    handler, port = smtps_server
    to = f"home-ca-{uuid.uuid4().hex[:10]}@example.com"
    async with runtime_factory(
        smtp_url=f"smtps://127.0.0.1:{port}", smtp_ca_file=f"~/{certificate[0].name}"
    ) as runtime:
        assert runtime.settings.smtp_ca_file == str(certificate[0])
        await _send(runtime, to)
    [got] = handler.to(to)
    assert got.message["Subject"] == "Your TrulyBot password was changed"


# --- credentials never cross the network in clear --------------------------------------------


def _auth_server(certificate: tuple[Path, Path] | None, seen: list[tuple[bool, bytes]]) -> Any:
    """A server that takes any AUTH, recording whether each came over TLS. Without
    ``certificate`` it offers no STARTTLS and accepts AUTH in clear: what the client sees when
    an attacker on the path strips the STARTTLS offer from the server's answer."""

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: Any, data: Any) -> Any:
        seen.append((session.ssl is not None, data.password))
        return AuthResult(success=True)

    tls: dict[str, Any] = (
        {"tls_context": _server_context(*certificate)}
        if certificate
        else {"auth_require_tls": False}
    )
    return Controller(
        Handler(), hostname="127.0.0.1", port=_free_port(), authenticator=authenticator, **tls
    )


async def test_credentials_are_never_sent_when_starttls_is_not_offered(
    runtime_factory: RuntimeFactory, owner_db: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """SMTP_STARTTLS=auto (the default) ran AUTH over plain TCP when the server's answer
    offered no STARTTLS, and the relay's password went to whoever stripped the offer. Now the
    send fails, the message waits for a later flush, and the log says why."""
    seen: list[tuple[bool, bytes]] = []
    controller = _auth_server(None, seen)
    controller.start()
    to = f"strip-{uuid.uuid4().hex[:10]}@example.com"
    try:
        with caplog.at_level(logging.WARNING, "trulybot.mail"):
            async with runtime_factory(
                smtp_url=f"smtp://relay-user:s3cret-pass@127.0.0.1:{controller.port}",
                mail_retry_seconds=0.01,
            ) as runtime:
                await _send(runtime, to)
                # A relay that refuses stops a flush at the first mail due (another test's
                # may come first, tests/test_mail_outage.py): flush until this one was tried.
                for _ in range(50):
                    async with owner_db.transaction() as s:
                        tried = (
                            await s.execute(
                                text("SELECT last_error FROM mail_outbox WHERE recipient = :to"),
                                {"to": to},
                            )
                        ).scalar_one()
                    if tried:
                        break
                    await runtime.mailer.flush()
    finally:
        controller.stop()
    assert seen == []
    async with owner_db.transaction() as s:
        row = (
            await s.execute(text("SELECT * FROM mail_outbox WHERE recipient = :to"), {"to": to})
        ).one()
        await s.execute(text("DELETE FROM mail_outbox WHERE id = :id"), {"id": row.id})
    assert (row.sent_at, row.failed_at) == (None, None)  # kept for a later flush
    assert "offered no STARTTLS" in row.last_error
    assert any("offered no STARTTLS" in r.getMessage() for r in caplog.records)


async def test_credentials_go_over_starttls_when_offered(
    runtime_factory: RuntimeFactory, certificate: tuple[Path, Path]
) -> None:
    seen: list[tuple[bool, bytes]] = []
    controller = _auth_server(certificate, seen)
    controller.start()
    to = f"auth-{uuid.uuid4().hex[:10]}@example.com"
    try:
        async with runtime_factory(
            smtp_url=f"smtp://relay-user:s3cret-pass@127.0.0.1:{controller.port}",
            smtp_ca_file=str(certificate[0]),
        ) as runtime:
            await _send(runtime, to)
    finally:
        controller.stop()
    assert seen  # (another test's mail still due may come along on this connection's flush)
    assert all(seen_tls and password == b"s3cret-pass" for seen_tls, password in seen)
    assert len(controller.handler.to(to)) == 1


def test_credentials_in_clear_to_another_host_are_refused_at_start() -> None:
    url = "smtp://relay-user:s3cret-pass@smtp.relay.example:587"
    with pytest.raises(ValidationError, match="SMTP_ALLOW_PLAINTEXT_AUTH") as refused:
        Settings(smtp_url=url, smtp_starttls="off")
    assert "s3cret-pass" not in str(refused.value)
    assert Settings(smtp_url=url, smtp_starttls="off", smtp_allow_plaintext_auth=True).smtp_url
    assert Settings(smtp_url=url, smtp_starttls="auto").smtp_url  # requires STARTTLS
    local = "smtp://relay-user:s3cret-pass@127.0.0.1:25"
    assert Settings(smtp_url=local, smtp_starttls="off").smtp_url  # never leaves the machine
    assert Settings(smtp_url="smtp://smtp.relay.example:25", smtp_starttls="off").smtp_url
