// Upgrading through Razorpay Checkout (the plan page only; loaded after Checkout's own script).
// 1. our route creates the order (the amount comes from the catalog, never from here);
// 2. Checkout opens on that order; on success its handler gets {razorpay_payment_id,
//    razorpay_order_id, razorpay_signature};
// 3. our verify route checks the signature and grants the plan; the page shows it.
// A failed payment, a closed window or a refused request says so and leaves the plan as it was.
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function say(message) {
    var box = document.getElementById("checkout-status");
    if (!box) { return; }
    box.textContent = message;
    box.hidden = !message;
  }

  function post(url, fields) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Accept": "application/json",
        "Content-Type": "application/x-www-form-urlencoded",
        "X-CSRF-Token": csrfToken()
      },
      body: new URLSearchParams(fields).toString()
    });
  }

  // The API's error envelope {"error": {"code", "message"}} as a sentence.
  function refusal(response, what) {
    return response.json().then(function (body) {
      var error = body && body.error;
      if (error && error.code === "email_unverified") {
        return what + ": confirm your email address first (see the link we sent you).";
      }
      return what + ": " + (error && error.message ? error.message : "error " + response.status);
    }, function () {
      return response.status === 403
        ? what + ": refused. Reload the page and try again."
        : what + " (error " + response.status + ").";
    });
  }

  function verify(url, result) {
    say("Payment received; confirming it…");
    post(url, {
      razorpay_payment_id: result.razorpay_payment_id,
      razorpay_order_id: result.razorpay_order_id,
      razorpay_signature: result.razorpay_signature
    }).then(function (response) {
      if (!response.ok) {
        return refusal(response, "The payment could not be confirmed").then(say);
      }
      return response.json().then(function (body) { window.location.assign(body.redirect); });
    }).catch(function () {
      say("The connection was lost while confirming the payment. Reload the page: a completed " +
          "payment is applied when Razorpay reports it.");
    });
  }

  function open(form, button, order) {
    var paid = false;
    var failure = "";
    var checkout = new window.Razorpay({
      key: order.key_id,
      amount: order.amount,
      currency: order.currency,
      order_id: order.razorpay_order_id,
      name: order.name,
      description: order.description,
      prefill: order.prefill,
      handler: function (result) {
        paid = true;
        verify(order.verify_url, result);
      },
      modal: {
        ondismiss: function () {
          button.disabled = false;
          if (!paid) {
            say(failure || "Payment cancelled: the payment window was closed. Your plan is unchanged.");
          }
        }
      }
    });
    checkout.on("payment.failed", function (response) {
      var error = (response && response.error) || {};
      var reason = String(error.description || "it was declined").replace(/[.\s]+$/, "");
      failure = "The payment failed: " + reason + ". Your plan is unchanged; you can try again.";
      button.disabled = false;
      say(failure);
    });
    say("");
    checkout.open();
  }

  function start(form) {
    var button = form.querySelector("button[type='submit']");
    if (typeof window.Razorpay !== "function") {
      say("The payment window could not be loaded. Check the connection (or a blocker of " +
          "third-party scripts) and reload the page.");
      return;
    }
    button.disabled = true;
    say("Opening the payment window…");
    post(form.getAttribute("action"), new FormData(form)).then(function (response) {
      if (!response.ok) {
        button.disabled = false;
        return refusal(response, "The payment could not start").then(say);
      }
      return response.json().then(function (order) { open(form, button, order); });
    }).catch(function () {
      button.disabled = false;
      say("The payment window could not be opened; try again.");
    });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.matches && form.matches("form[data-checkout]")) {
      event.preventDefault();
      start(form);
    }
  });
})();
