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

  // The playground's question box empties once the answer is in.
  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.detail.elt;
    if (event.detail.successful && form && form.querySelector) {
      form.querySelectorAll("[data-clear-after-send]").forEach(function (field) {
        field.value = "";
        field.focus();
      });
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

    // The widget preview (the real widget.js in a frame) follows the colour and position.
    var frame = root.querySelector("[data-widget-preview-frame]");
    var editor = frame && frame.closest("[data-widget-editor]");
    if (frame && editor) {
      var timer = null;
      var refresh = function () {
        var color = editor.querySelector('input[name="primary_color"]');
        var position = editor.querySelector('select[name="position"]');
        var params = new URLSearchParams();
        if (color && /^#[0-9a-fA-F]{6}$/.test(color.value)) { params.set("color", color.value); }
        if (position) { params.set("position", position.value); }
        var next = frame.getAttribute("data-src") + "?" + params.toString();
        if (frame.getAttribute("src") !== next) { frame.setAttribute("src", next); }
      };
      editor.addEventListener("input", function () {
        clearTimeout(timer);
        timer = setTimeout(refresh, 300);
      });
      editor.addEventListener("change", refresh);
    }
  }

  document.addEventListener("DOMContentLoaded", function () { onReady(document); });
  document.addEventListener("htmx:load", function (event) { onReady(event.detail.elt); });
})();
