"""A local stand-in for Razorpay Checkout's script, on its own origin (a free local port).

The dashboard's plan page loads it through ``RAZORPAY_CHECKOUT_SCRIPT_URL`` as it would load
Razorpay's checkout.js. The script (checkout_standin.js) keeps Razorpay's contract; ``mode``
chooses what the customer does at the next page load: ``"pay"`` (the payment is made, captured, on
the fake Razorpay given as ``razorpay``, and the handler gets it signed with the key secret, as
Razorpay signs), ``"fail"`` (``payment.failed``, then the window
closes) or ``"dismiss"`` (the window is closed)::

    with CheckoutStandIn(key_secret=fake.key_secret, razorpay=fake) as standin:
        settings = {"RAZORPAY_CHECKOUT_SCRIPT_URL": standin.script_url}
        standin.mode = "fail"
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Literal
from urllib.parse import parse_qs, urlsplit

if TYPE_CHECKING:
    from tests.fakes.razorpay_server import FakeRazorpay

SCRIPT = Path(__file__).with_name("checkout_standin.js")
Mode = Literal["pay", "fail", "dismiss"]


class CheckoutStandIn:
    def __init__(self, key_secret: str, razorpay: FakeRazorpay | None = None) -> None:
        self.key_secret = key_secret
        self.razorpay = razorpay
        """Where "pay" makes its payment (captured), as the real Checkout does at Razorpay:
        the app's verify fetches it and grants only a captured payment."""
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
                url = urlsplit(self.path)
                if url.path == "/v1/pay.js" and standin.razorpay is not None:
                    order_id = parse_qs(url.query).get("order_id", [""])[0]
                    payment = standin.razorpay.capture_payment(order_id)
                    ids = f"{json.dumps(order_id)}, {json.dumps(payment['id'])}"
                    call = f"window.__standinPaid({ids});"
                    self._script(call.encode())
                    return
                if url.path != "/v1/checkout.js":
                    self.send_error(404)
                    return
                standin.served += 1
                self._script(standin.script())

            def _script(self, body: bytes) -> None:
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
