// The dashboard's only script besides htmx: no inline script anywhere (the CSP forbids it).
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  // Every htmx request carries the CSRF token (state-changing ones are refused without it).
  document.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers["X-CSRF-Token"] = csrfToken();
  });

  // A failed htmx request says so instead of doing nothing.
  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr ? event.detail.xhr.status : 0;
    var box = document.getElementById("flash");
    if (box) {
      box.textContent = status === 403
        ? "That was refused. Reload the page and try again."
        : "Something went wrong (" + status + "). Try again.";
      box.hidden = false;
    }
  });

  function onReady(root) {
    // The workspace switcher submits itself when a workspace is chosen.
    root.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      select.addEventListener("change", function () { select.form.requestSubmit(); });
      var button = select.form.querySelector("button");
      if (button) { button.hidden = true; }
    });

    // Copy buttons: data-copy names the element whose text is copied.
    root.querySelectorAll("button[data-copy]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        var source = document.getElementById(button.getAttribute("data-copy"));
        if (!source || !navigator.clipboard) { return; }
        navigator.clipboard.writeText(source.textContent.trim()).then(function () {
          var status = document.getElementById(button.getAttribute("data-copy") + "-status");
          if (status) { status.textContent = "Copied to the clipboard."; }
        });
      });
    });

    // Drag and drop onto the upload zone fills its file input (the input alone still works).
    root.querySelectorAll("[data-dropzone]").forEach(function (zone) {
      var input = zone.querySelector('input[type="file"]');
      if (!input) { return; }
      ["dragenter", "dragover"].forEach(function (name) {
        zone.addEventListener(name, function (event) {
          event.preventDefault();
          zone.classList.add("dragging");
        });
      });
      ["dragleave", "drop"].forEach(function (name) {
        zone.addEventListener(name, function () { zone.classList.remove("dragging"); });
      });
      zone.addEventListener("drop", function (event) {
        event.preventDefault();
        if (event.dataTransfer && event.dataTransfer.files.length) {
          input.files = event.dataTransfer.files;
          input.dispatchEvent(new Event("change", { bubbles: true }));
        }
      });
      input.addEventListener("change", function () {
        var list = zone.querySelector("[data-dropzone-files]");
        if (list) {
          list.textContent = Array.prototype.map.call(input.files, function (f) {
            return f.name;
          }).join(", ");
        }
      });
    });

    // Upload progress (htmx reports it for multipart requests).
    root.querySelectorAll("form[data-progress]").forEach(function (form) {
      var bar = document.getElementById(form.getAttribute("data-progress"));
      if (!bar) { return; }
      form.addEventListener("htmx:xhr:progress", function (event) {
        if (event.detail.lengthComputable) {
          bar.hidden = false;
          bar.value = Math.round((event.detail.loaded / event.detail.total) * 100);
        }
      });
      form.addEventListener("htmx:afterRequest", function () { bar.hidden = true; });
    });

    // The widget preview follows the colour and name fields as they change.
    var preview = root.querySelector("[data-widget-preview]");
    if (preview) {
      var form = preview.closest("[data-widget-editor]") || document;
      var update = function () {
        var color = form.querySelector('input[name="primary_color"]');
        var name = form.querySelector('input[name="bot_name"]');
        var greeting = form.querySelector('textarea[name="greeting"]');
        var launcher = preview.querySelector("[data-preview-launcher]");
        var header = preview.querySelector("[data-preview-header]");
        if (color && /^#[0-9a-fA-F]{6}$/.test(color.value)) {
          preview.querySelectorAll("[data-preview-color]").forEach(function (el) {
            el.setAttribute("fill", color.value);
          });
          preview.setAttribute("data-color", color.value);
        }
        if (name && header) { header.textContent = name.value || "Chat"; }
        var text = preview.querySelector("[data-preview-greeting]");
        if (greeting && text) { text.textContent = greeting.value; }
        if (launcher) { launcher.setAttribute("aria-label", "Preview of " + (name ? name.value : "the widget")); }
      };
      form.addEventListener("input", update);
      update();
    }
  }

  document.addEventListener("DOMContentLoaded", function () { onReady(document); });
  document.addEventListener("htmx:load", function (event) { onReady(event.detail.elt); });
})();
