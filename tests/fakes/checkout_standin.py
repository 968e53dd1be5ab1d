"""A local stand-in for Razorpay Checkout's script, on its own origin (a free local port).

The dashboard's plan page loads it through ``RAZORPAY_CHECKOUT_SCRIPT_URL`` as it would load
Razorpay's checkout.js. The script (checkout_standin.js) keeps Razorpay's contract; ``mode``
chooses what the customer does at the next page load: ``"pay"`` (the handler gets a payment
signed with the key secret, as Razorpay signs), ``"fail"`` (``payment.failed``, then the window
closes) or ``"dismiss"`` (the window is closed)::

    with CheckoutStandIn(key_secret=fake.key_secret) as standin:
        settings = {"RAZORPAY_CHECKOUT_SCRIPT_URL": standin.script_url}
        standin.mode = "fail"
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Literal

SCRIPT = Path(__file__).with_name("checkout_standin.js")
Mode = Literal["pay", "fail", "dismiss"]


class CheckoutStandIn:
    def __init__(self, key_secret: str) -> None:
        self.key_secret = key_secret
        self.mode: Mode = "pay"
        self.served = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def script(self) -> bytes:
        text = SCRIPT.read_text()
        text = text.replace('"__MODE__"', json.dumps(self.mode))
        text = text.replace('"__SECRET__"', json.dumps(self.key_secret))
        return text.encode()

    @property
    def script_url(self) -> str:
        if self._server is None:
            raise RuntimeError("CheckoutStandIn is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1/checkout.js"

    def __enter__(self) -> CheckoutStandIn:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path != "/v1/checkout.js":
                    self.send_error(404)
                    return
                body = standin.script()
                standin.served += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/javascript; charset=utf-8")
                self.send_header("Cache-Control", "no-store")
                self.send_header("X-Content-Type-Options", "nosniff")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
