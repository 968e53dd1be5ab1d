// The dashboard's only script besides htmx: no inline script anywhere (the CSP forbids it).
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  // A form that came back refused: focus its first invalid field, so a keyboard or screen
  // reader user lands on it and hears its label and reason (aria-describedby), instead of
  // the page starting again from the top. A page that focuses a field itself (autofocus) wins.
  var invalid = document.querySelector("form [aria-invalid='true']");
  if (invalid && !document.querySelector("[autofocus]")) { invalid.focus(); }

  // Every htmx request carries the CSRF token (state-changing ones are refused without it).
  document.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers["X-CSRF-Token"] = csrfToken();
  });

  // A failed htmx request says so instead of doing nothing: the server's reason when it gave
  // one (X-Error-Message: "This file type is not supported..."), else the status.
  function decodedReason(header) {
    if (!header) { return ""; }
    try { return decodeURIComponent(header); } catch (e) { return ""; }
  }

  function errorReason(xhr) {
    return decodedReason(xhr ? xhr.getResponseHeader("X-Error-Message") : null);
  }

  function flash(message) {
    var box = document.getElementById("flash");
    if (box) {
      box.textContent = message;
      box.hidden = false;
    }
  }

  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    var status = xhr ? xhr.status : 0;
    var reason = errorReason(xhr);
    if (status === 403 && !reason) {
      flash("That was refused. Reload the page and try again.");
    } else {
      flash(reason || "Something went wrong (" + status + "). Try again.");
    }
  });

  // No answer at all (the connection dropped, the server restarting): htmx did nothing
  // visible, as if the button had not been pressed.
  ["htmx:sendError", "htmx:timeout"].forEach(function (name) {
    document.addEventListener(name, function () {
      flash("Could not reach the server: check your connection and try again.");
    });
  });

  // A form htmx is sending takes no second submit until the answer is in: htmx queued one,
  // so a double-click sent the form twice (every file of an upload). Its buttons stay enabled
  // (disabling the focused one would drop the keyboard's focus to the page's top); the second
  // submit is stopped before htmx sees it.
  function isForm(elt) { return elt && elt.tagName === "FORM"; }
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (!isForm(event.detail.elt)) { return; }  // a list refreshing itself changes nothing
    event.detail.elt.setAttribute("data-sending", "");
    // The owner tries again: the last failure's message goes (it stayed beside a change that
    // had been made since); a new failure says so again.
    var box = document.getElementById("flash");
    if (box) { box.hidden = true; }
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    if (isForm(event.detail.elt)) { event.detail.elt.removeAttribute("data-sending"); }
  });
  document.addEventListener("submit", function (event) {
    if (isForm(event.target) && event.target.hasAttribute("data-sending")) {
      event.preventDefault();
      event.stopPropagation();
    }
  }, true);
  // A plain form (no htmx, no streamed answer) posted takes no second submit while the browser
  // waits for its answer either: a double-click on "Create key" made two keys, the second's
  // secret never shown, and one on "Send invitation" invited twice. The page from the back
  // button, or ten seconds without an answer, lets it be sent again.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (event.defaultPrevented || !isForm(form) || (form.method || "").toLowerCase() !== "post" ||
        form.hasAttribute("hx-post") || form.hasAttribute("data-stream-url")) { return; }
    form.setAttribute("data-sending", "");
    setTimeout(function () { form.removeAttribute("data-sending"); }, 10000);
  });
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[data-sending]").forEach(function (form) {
      form.removeAttribute("data-sending");
    });
  });

  // A swap that removes what the keyboard is on (a deleted FAQ's row) would drop the focus to
  // the page's top: it goes to the next row instead, else the one before, else the heading of
  // the section (a heading with tabindex="-1").
  function firstControl(row) {
    return row ? row.querySelector("a[href], button:not([disabled]), input, select, textarea") : null;
  }
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    var active = document.activeElement;
    if (!target || !active || active === document.body || !target.contains(active)) { return; }
    var section = target.closest("section");
    var next = firstControl(target.nextElementSibling) ||
      firstControl(target.previousElementSibling) ||
      (section ? section.querySelector("h2[tabindex='-1']") : null);
    if (!next) { return; }
    setTimeout(function () {  // after the swap (htmx swaps at once, then settles)
      // Only when the focus fell: a swap that kept it (a refreshed list whose controls keep
      // their ids, which htmx focuses again) is left alone.
      var kept = document.activeElement;
      if ((!kept || kept === document.body) && document.body.contains(next)) { next.focus(); }
    }, 0);
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

  // The playground streams its answer (server-sent events over fetch); without fetch
  // streaming the form posts normally and the page comes back with the answer.
  function streamAnswer(form) {
    var log = document.getElementById(form.getAttribute("data-stream-log"));
    var status = form.querySelector("[data-stream-status]");
    var field = form.querySelector("textarea[name='message']");
    var button = form.querySelector("button[type='submit']");
    if (!field.value.trim()) {
      // Spaces only pass the textarea's "required": nothing is sent, and the transcript gets
      // no empty "You:" line with the refusal as if the bot had said it.
      if (status) { status.textContent = "Write a question first."; }
      field.focus();
      return;
    }
    var question = document.createElement("li");
    question.className = "user";
    var who = document.createElement("span");
    who.className = "who";
    who.textContent = "You: ";
    question.appendChild(who);
    question.appendChild(document.createTextNode(field.value));
    var reply = document.createElement("li");
    reply.className = "assistant";
    reply.setAttribute("data-testid", "playground-streaming");
    var text = document.createElement("span");
    reply.appendChild(text);
    log.appendChild(question);
    log.appendChild(reply);
    button.disabled = true;
    if (status) { status.textContent = "Answering…"; }
    var body = new URLSearchParams(new FormData(form));
    var finish = function (message) {
      button.disabled = false;
      if (status) { status.textContent = message || ""; }
    };
    var ended = false;  // the stream's last event (html or error) came
    var handle = function (event, data) {
      if (event === "delta") { text.textContent += data.text; }
      else if (event === "replace") { text.textContent = data.text; }
      else if (event === "error") {
        ended = true;
        text.textContent = data.message;
        finish("The answer failed.");
      }
      else if (event === "html") {
        ended = true;
        var fragment = document.createRange().createContextualFragment(data.html);
        var carried = fragment.querySelector("#conversation-id");
        if (carried) {
          form.querySelector("#conversation-id").value = carried.value;
          carried.remove();
        }
        question.remove();
        log.replaceChild(fragment, reply);
        field.value = "";
        field.focus();
        finish("");
      }
    };
    fetch(form.getAttribute("data-stream-url"), {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Accept": "text/event-stream",
        "Content-Type": "application/x-www-form-urlencoded",
        "X-CSRF-Token": csrfToken()
      },
      body: body.toString()
    }).then(function (response) {
      // Signed out since the page was shown (ended from another browser, expired): the server
      // answers 401, or an older one redirects to its login page, which is no stream.
      var type = response.headers.get("Content-Type") || "";
      if (response.status === 401 || response.redirected ||
          (response.ok && type.indexOf("text/event-stream") !== 0)) {
        text.textContent = "You were signed out, so the question was not sent. " +
          "Reload the page to sign in again.";
        finish("Signed out: reload the page.");
        return;
      }
      if (!response.ok || !response.body) {
        // The server's reason when it gave one (a blank question, the plan's monthly limit).
        var reason = decodedReason(response.headers.get("X-Error-Message"));
        text.textContent = reason || (response.status === 429
          ? "Too many questions at once; wait a moment."
          : "The question was refused (" + response.status + ").");
        finish("");
        return;
      }
      var reader = response.body.getReader();
      var decoder = new TextDecoder();
      var buffer = "";
      var pump = function () {
        return reader.read().then(function (chunk) {
          if (chunk.done) {
            if (!ended) {  // the stream stopped before its last event: never "Answering…"
              if (!text.textContent) { text.textContent = "No answer came back."; }
              finish("The answer was cut off; ask again.");
            }
            return;
          }
          buffer += decoder.decode(chunk.value, { stream: true });
          var parts = buffer.split("\n\n");
          buffer = parts.pop();
          parts.forEach(function (part) {
            var event = "message";
            var data = "";
            part.split("\n").forEach(function (line) {
              if (line.indexOf("event: ") === 0) { event = line.slice(7); }
              else if (line.indexOf("data: ") === 0) { data += line.slice(6); }
            });
            if (data) { handle(event, JSON.parse(data)); }
          });
          return pump();
        });
      };
      return pump();
    }).catch(function () {
      text.textContent = "The connection was lost; try again.";
      finish("");
    });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.matches && form.matches("form[data-stream-url]") && window.fetch &&
        window.ReadableStream && window.TextDecoder) {
      event.preventDefault();
      streamAnswer(form);
    }
  });

  function onReady(root) {
    // A question box marked data-enter-sends sends its form on Enter, as the widget does;
    // Shift+Enter begins a new line, and Enter that picks an input method's word only picks it.
    root.querySelectorAll("[data-enter-hint]").forEach(function (hint) { hint.hidden = false; });
    root.querySelectorAll("textarea[data-enter-sends]").forEach(function (field) {
      field.addEventListener("keydown", function (event) {
        if (event.key === "Enter" && !event.shiftKey && !event.isComposing &&
            event.keyCode !== 229 && field.form) {
          event.preventDefault();
          var button = field.form.querySelector("button[type='submit']");
          if (!button || !button.disabled) { field.form.requestSubmit(button || undefined); }
        }
      });
    });

    // The workspace switcher submits itself when a workspace is picked with the pointer. Arrow
    // keys on the closed list change its value at each press: a keyboard user passing a
    // workspace on the way to another was taken there. With the keyboard, Enter or the Switch
    // button (shown at the first key) submits.
    root.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      var button = select.form.querySelector("button");
      var keyed = false;
      select.addEventListener("pointerdown", function () { keyed = false; });
      select.addEventListener("keydown", function (event) {
        keyed = true;
        if (button) { button.hidden = false; }
        if (event.key === "Enter") {
          event.preventDefault();
          select.form.requestSubmit(button || undefined);
        }
      });
      select.addEventListener("change", function () {
        if (!keyed) { select.form.requestSubmit(button || undefined); }
      });
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
