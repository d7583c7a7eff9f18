"""Fixtures of the notification tests: real local servers on 127.0.0.1 (HTTP and SMTP)."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, Session
from pytest_httpserver import HTTPServer
from werkzeug import Request


def url_of(server: HTTPServer, path: str) -> str:
    return f"http://127.0.0.1:{server.port}{path}"


def requests_to(server: HTTPServer, path: str) -> list[Request]:
    """Every request the server received on ``path``, in order."""
    return [request for request, _ in server.log if request.path == path]


def json_posts(server: HTTPServer, path: str) -> list[Any]:
    """The JSON bodies POSTed to ``path``, in order."""
    out = []
    for request in requests_to(server, path):
        assert request.method == "POST"
        assert request.headers["Content-Type"] == "application/json"
        out.append(json.loads(request.get_data()))
    return out


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def instance(dagster_home: Path) -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.get() as inst:
        yield inst


# --------------------------------------------------------------------------- SMTP


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A self-signed certificate for 127.0.0.1 and localhost, made with the openssl CLI."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost"),
            *("-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
        ],
        check=True,
        capture_output=True,
    )
    return TlsFiles(cert, key)


@dataclass
class Received:
    """One message the SMTP server accepted."""

    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    authenticated: bool
    tls: bool


@dataclass
class SmtpServer:
    """A real aiosmtpd server on 127.0.0.1 that keeps what it receives."""

    port: int
    messages: list[Received] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)
    mechanisms: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        assert envelope.mail_from is not None
        content = envelope.original_content or b""
        self.messages.append(
            Received(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                content,
                bool(session.authenticated),
                server.transport.get_extra_info("ssl_object") is not None,
            )
        )
        return "250 OK"


StartSmtp = Callable[..., SmtpServer]


@pytest.fixture
def smtp_server(tls_files: TlsFiles) -> Iterator[StartSmtp]:
    """``smtp_server(security, credentials=None)`` starts an SMTP server for that security.

    ``plain``: no TLS; ``starttls``: STARTTLS required before any mail; ``ssl``: implicit TLS.
    With ``credentials`` (user, password) the server offers AUTH and refuses mail without login.
    """
    controllers: list[Controller] = []

    def start(security: str, credentials: tuple[str, str] | None = None) -> SmtpServer:
        smtp = SmtpServer(port=closed_port())
        kwargs: dict[str, Any] = {}
        if credentials is not None:

            def authenticate(
                server: Any, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
            ) -> AuthResult:
                login, password = auth_data.login.decode(), auth_data.password.decode()
                smtp.logins.append((login, password))
                smtp.mechanisms.append(mechanism)
                ok = (login, password) == credentials
                return AuthResult(success=ok, handled=False)  # the server answers 535 on failure

            kwargs.update(authenticator=authenticate, auth_required=True)
        if security == "plain":
            kwargs["auth_require_tls"] = False
        elif security == "starttls":
            kwargs.update(tls_context=tls_files.server_context(), require_starttls=True)
        else:  # aiosmtpd only offers AUTH over implicit TLS with auth_require_tls off
            kwargs.update(ssl_context=tls_files.server_context(), auth_require_tls=False)
        controller = Controller(smtp, hostname="127.0.0.1", port=smtp.port, **kwargs)
        controller.start()
        controllers.append(controller)
        return smtp

    yield start
    for controller in controllers:
        controller.stop()
