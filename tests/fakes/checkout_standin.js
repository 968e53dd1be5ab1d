// A local stand-in for Razorpay Checkout's checkout.js with the same contract:
//   var checkout = new Razorpay(options); checkout.on("payment.failed", fn); checkout.open();
// MODE "pay": the payment is made (captured) on the fake Razorpay by the stand-in's server,
//   then options.handler({razorpay_payment_id, razorpay_order_id, razorpay_signature}),
//   the signature being hex HMAC-SHA256 of "order_id|payment_id" with the key secret, as
//   Razorpay signs; "fail": the payment.failed handlers get Razorpay's error shape, then the
//   window closes (options.modal.ondismiss); "dismiss": the customer closes the window.
// Served by tests/fakes/checkout_standin.py, which fills in MODE and SECRET.
(function () {
  "use strict";
  var MODE = "__MODE__";
  var SECRET = "__SECRET__";
  var ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  // Where this script came from: "pay" asks that origin to make the payment on the fake
  // Razorpay (as the real Checkout does at Razorpay), through a script tag (the page's CSP
  // allows scripts from this origin).
  var ORIGIN = new URL(document.currentScript.src).origin;
  var paid = {};
  window.__standinPaid = function (orderId, paymentId) {
    if (paid[orderId]) { paid[orderId](paymentId); }
  };

  function payAtRazorpay(orderId, then) {
    paid[orderId] = then;
    var tag = document.createElement("script");
    tag.src = ORIGIN + "/v1/pay.js?order_id=" + encodeURIComponent(orderId);
    document.head.appendChild(tag);
  }

  function paymentId() {
    var bytes = new Uint8Array(14);
    window.crypto.getRandomValues(bytes);
    return "pay_" + Array.prototype.map.call(bytes, function (b) {
      return ALPHABET[b % ALPHABET.length];
    }).join("");
  }

  function hex(buffer) {
    return Array.prototype.map.call(new Uint8Array(buffer), function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  function sign(message) {
    var encoder = new TextEncoder();
    return window.crypto.subtle.importKey(
      "raw", encoder.encode(SECRET), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]
    ).then(function (key) {
      return window.crypto.subtle.sign("HMAC", key, encoder.encode(message));
    }).then(hex);
  }

  function Razorpay(options) {
    if (!options || !options.key || !options.order_id || typeof options.handler !== "function") {
      throw new Error("Razorpay: key, order_id and handler are required");
    }
    this.options = options;
    this.listeners = {};
    window.__checkoutOptions = {
      key: options.key, amount: options.amount, currency: options.currency,
      order_id: options.order_id, prefill: options.prefill, name: options.name
    };
  }

  Razorpay.prototype.on = function (event, listener) {
    (this.listeners[event] = this.listeners[event] || []).push(listener);
  };

  Razorpay.prototype.open = function () {
    var options = this.options;
    var listeners = this.listeners;
    var payment = paymentId();
    var dismiss = function () {
      if (options.modal && typeof options.modal.ondismiss === "function") {
        options.modal.ondismiss();
      }
    };
    window.setTimeout(function () {
      if (MODE === "dismiss") {
        dismiss();
      } else if (MODE === "fail") {
        (listeners["payment.failed"] || []).forEach(function (listener) {
          listener({
            error: {
              code: "BAD_REQUEST_ERROR",
              description: "Your payment has been cancelled. Try again or complete the payment later.",
              source: "customer",
              step: "payment_authentication",
              reason: "payment_cancelled",
              metadata: { order_id: options.order_id, payment_id: payment }
            }
          });
        });
        dismiss();
      } else {
        payAtRazorpay(options.order_id, function (captured) {
          sign(options.order_id + "|" + captured).then(function (signature) {
            options.handler({
              razorpay_payment_id: captured,
              razorpay_order_id: options.order_id,
              razorpay_signature: signature
            });
          });
        });
      }
    }, 0);
  };

  window.Razorpay = Razorpay;
})();
