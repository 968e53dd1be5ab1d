  /* ---------- UI ---------- */
  const mount = () => {
    const host = D.createElement("trulybot-widget");
    const shadow = host.attachShadow({ mode: "open" });
    // A constructed stylesheet: a host page's Content-Security-Policy without 'unsafe-inline'
    // in style-src refuses a <style> element (in a shadow root too), not this.
    let sheet = null;
    try {
      sheet = new W.CSSStyleSheet();
      sheet.replaceSync(STYLE);
      shadow.adoptedStyleSheets = [sheet];
    } catch (e) {
      sheet = null;
    }
    if (!sheet) shadow.appendChild(h("style", { text: STYLE }));

    const pos = attr("position") || cfg.position;
    const color = validColor(attr("color")) ? attr("color") : validColor(cfg.primary_color) ? cfg.primary_color : DEFAULTS.primary_color;
    const botName = str(cfg.bot_name) || DEFAULTS.bot_name;

    const root = h("div", { class: "root" + (pos === "bottom-left" ? " left" : "") });
    root.style.setProperty("--p", color);
    root.style.setProperty("--pc", contrastText(color));

    const launcher = h("button", {
      type: "button", class: "launcher", "data-testid": "launcher",
      "aria-label": openLabel(botName), "aria-expanded": "false", "aria-controls": "tb-panel",
      onclick: () => toggle(),
    }, [icon("chat", 26)]);

    const avatarUrl = safeUrl(cfg.avatar_url);
    const avatar = avatarUrl && h("img", { src: avatarUrl, alt: "", referrerpolicy: "no-referrer" });
    if (avatar) avatar.addEventListener("error", () => avatar.remove());
    const closeBtn = h("button", {
      type: "button", class: "ib", "data-testid": "close", "aria-label": T("close_label", "Close chat"), onclick: () => close(),
    }, [icon("x", 20)]);
    const resetBtn = h("button", {
      type: "button", class: "ib", "data-testid": "reset", "aria-label": T("new_conversation", "Start a new conversation"),
      title: T("new_conversation", "New conversation"), onclick: () => reset(),
    }, [icon("reset", 18)]);
    const head = h("div", { class: "head" }, [avatar, h("h2", { class: "title", id: "tb-title", dir: "auto", text: botName }), resetBtn, closeBtn]);

    const named = { bot_name: botName };
    const log = h("div", { class: "log", role: "log", "aria-live": "polite", "aria-label": T("conversation_label", "Conversation") });
    // A live region announces the text that appears in it, not its aria-label: the words are its text.
    const typing = h("div", { class: "typing", "data-testid": "typing", role: "status", hidden: true }, [
      h("span", { class: "sr", text: F("typing_label", "{bot_name} is typing", named) }), h("i"), h("i"), h("i"),
    ]);
    const chips = h("div", { class: "chips", role: "group", "aria-label": T("suggestions_label", "Suggested questions") });
    const leadSlot = h("div");
    const scroll = h("div", { class: "scroll" }, [log, typing, chips, leadSlot]);

    const errText = h("span", { dir: "auto" });
    const retryBtn = h("button", { type: "button", "data-testid": "retry", text: T("retry_button", "Retry") });
    const err = h("div", { class: "err", role: "alert", "data-testid": "error", hidden: true }, [errText, retryBtn]);

    const input = h("textarea", {
      "data-testid": "input", rows: 1, maxlength: Math.max(1, parseInt(cfg.max_message_chars, 10) || 2000), placeholder: T("placeholder", "Type your message\u2026"),
      "aria-label": F("message_label", "Message {bot_name}", named), enterkeyhint: "send", dir: "auto", "aria-describedby": "tb-count",
    });
    const send = h("button", { type: "submit", class: "send", "data-testid": "send", "aria-label": T("send_label", "Send message") }, [icon("send", 18)]);
    const compose = h("form", { class: "compose", novalidate: true }, [input, send]);
    // The visible count follows every key; a screen reader hears it only at 90% and at the limit
    // (a status rewritten at every key talked over the echo of what the visitor typed).
    const count = h("div", { class: "count", id: "tb-count", "data-testid": "count", hidden: true });
    const countSay = h("div", { class: "sr", role: "status", "data-testid": "count-status" });

    const panel = h("div", {
      id: "tb-panel", class: "panel", role: "dialog", "aria-modal": "false", "aria-label": F("panel_label", "Chat with {bot_name}", named),
      "data-testid": "panel", hidden: true,
    }, [head, scroll, err, compose, count, countSay]);
    // As tall as the screen, where the chat's position:fixed places it; else the page holds it.
    const probe = h("div", { class: "probe", "aria-hidden": "true" });
    root.append(panel, launcher, probe);
    shadow.appendChild(root);
    // On <html>, after <body>: a body with a transform, filter or contain (page-transition
    // libraries, some themes) would hold the widget's position:fixed to the body, not the screen.
    // An <html> with a transform, will-change: transform, contain: paint or a perspective holds
    // it all the same (the launcher went to the end of the page, out of sight): the widget then
    // goes to the browser's top layer (a manual popover: no light dismiss, no Escape), above the
    // page and placed on the screen. Only then: elsewhere the chat stays below what a site put at
    // the highest z-index (a cookie-consent banner the launcher would cover). Not above a modal
    // dialog of the page open at that moment either: it goes up when that closes.
    // The page's modal dialog the widget waits for, watched while it waits: a page may take it
    // out of the document (a framework unmounting it) without closing it, and no "close" comes.
    let blocker = null;
    const gone = W.MutationObserver && new MutationObserver(() => {
      if (!blocker || blocker.isConnected) return;
      gone.disconnect();
      blocker = null;
      lift();
    });
    const lift = () => {
      if (!host.showPopover || !host.isConnected || host.matches(":popover-open")) return;
      // Not laid out (a page hiding its <html> until it is ready): nothing measured, nothing to
      // tell; asked again at load, resize and scroll.
      if (!probe.getClientRects().length) return;
      const r = probe.getBoundingClientRect();
      // the screen's height: with its scroll bar, or without (a pinch-zoomed phone's innerHeight is less)
      const screen = [W.innerHeight, (D.scrollingElement || D.documentElement).clientHeight];
      if (Math.abs(r.top) < 1 && screen.some((x) => Math.abs(r.height - x) < 40)) return;
      if (gone) gone.disconnect();
      blocker = null;
      try {
        blocker = D.querySelector(":modal");
      } catch (e) {
        /* no :modal: no modal dialogs to wait for either */
      }
      if (blocker) {
        blocker.addEventListener("close", lift, { once: true });
        D.addEventListener("fullscreenchange", lift, { once: true });
        if (gone) gone.observe(D, { childList: true, subtree: true });
        return;
      }
      host.setAttribute("popover", "manual");
      try {
        host.showPopover();
      } catch (e) {
        /* not shown: the widget stays where the page puts it */
      }
    };
    const attach = () => {
      D.documentElement.appendChild(host);
      lift();
    };
    attach();
    // A site that swaps its whole <body> on navigation (Turbo Drive, htmx boost, pjax) takes the
    // widget with it: put it back, with the conversation it had.
    if (W.MutationObserver)
      new MutationObserver(() => {
        if (!host.isConnected && ui && ui.host === host) attach();
      }).observe(D.documentElement, { childList: true });
    // A page may hold fixed elements only once its own scripts ran, or at another width; and
    // an <html> as tall as the screen (html, body { height: 100% }) holds them in the screen's
    // place only until the page scrolls.
    for (const t of ["load", "resize", "scroll"]) W.addEventListener(t, lift, { passive: true });

    ui = { host, shadow, root, launcher, panel, log, typing, chips, leadSlot, scroll, err, errText, retryBtn, input, send, compose, count, countSay, botName };

    compose.addEventListener("submit", (e) => {
      e.preventDefault();
      submit();
    });
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
        e.preventDefault();
        submit();
      }
    });
    // maxlength cuts a paste silently: tell the visitor when it did.
    input.addEventListener("beforeinput", (e) => {
      const add = (e.data || (e.dataTransfer && e.dataTransfer.getData("text/plain")) || "").length;
      const room = input.maxLength - input.value.length + (input.selectionEnd - input.selectionStart);
      cut = add > room && room > 0; // a full box takes nothing (no input event): its counter says so
    });
    input.addEventListener("input", autosize);
    root.addEventListener("keydown", onKeydown);
    // A site's keyboard shortcuts (Sphinx's "/" to its search box, a page's arrows or letters)
    // listen on its document and skip keys typed in a text field; a key typed in the chat's
    // fields reaches them from the widget's host element, no text field, and "/" left the
    // visitor's message for the site's search. Keys typed here stay here (after the chat's own
    // Escape and Tab, above).
    for (const t of ["keydown", "keypress", "keyup"])
      shadow.addEventListener(t, (e) => {
        if (e.target && e.target.matches && e.target.matches("input,textarea")) e.stopPropagation();
      });
    // Where the chat covers the screen (a phone), Escape closes it also when focus was lost to the
    // page. Beside the page (a desktop), Escape on the page is the page's: its own dialog closing.
    D.addEventListener("keydown", (e) => {
      const a = D.activeElement;
      if (isOpen && fullScreen() && (e.key === "Escape" || e.key === "Esc") && (!a || a === D.body || a === D.documentElement)) close(true);
    });
    // The panel covers the screen on a phone: modal there (as Tab is), a window beside the page on a desktop.
    const mq = W.matchMedia && W.matchMedia(SMALL);
    if (mq && mq.addEventListener)
      mq.addEventListener("change", () => {
        modal();
        fit();
      });
    // A phone's on-screen keyboard shortens the visible part of the page (the visual viewport),
    // not the page: the full-screen chat follows it, or it goes on under the keyboard and the
    // browser scrolls its header off screen.
    const vv = W.visualViewport;
    if (vv) for (const t of ["resize", "scroll"]) vv.addEventListener(t, fit);
    // A page that zooms itself (html { zoom: 1.5 }) zoomed the chat with it: taller than the
    // screen, its header above it. The chat undoes the page's zoom (it may change with the width).
    const unzoom = () => {
      const z = parseFloat(W.getComputedStyle(D.documentElement).zoom) || 1;
      root.style.zoom = z === 1 ? "" : String(1 / z);
    };
    unzoom();
    W.addEventListener("resize", unzoom);

    renderHistory();
    if (pendingOpen) open(pendingOpen);
  };

  const autosize = () => {
    const el = ui.input;
    el.dir = textDir(el.value);
    el.style.height = "40px";
    el.style.height = Math.min(el.scrollHeight + 2, 120) + "px";
    const n = el.value.length;
    const max = el.maxLength;
    ui.count.hidden = !cut && n < max * 0.9;
    ui.count.textContent = cut
      ? F("shortened_label", "Shortened to {max} characters: the rest did not fit.", { max })
      : F("count_label", "{count}/{max} characters", { count: n, max });
    const level = n >= max ? 2 : n >= max * 0.9 ? 1 : 0;
    if (cut || level > countLevel) ui.countSay.textContent = ui.count.textContent;
    else if (level < countLevel) ui.countSay.textContent = ""; // crossing again is said again
    countLevel = level;
    cut = false;
  };
  const nearBottom = () => {
    const s = ui.scroll;
    return s.scrollHeight - s.scrollTop - s.clientHeight < 80;
  };
  const toBottom = (force) => {
    if (force || nearBottom()) ui.scroll.scrollTop = ui.scroll.scrollHeight;
  };

  const focusables = () =>
    Array.from(
      ui.panel.querySelectorAll('a[href],button:not([disabled]),input:not([disabled]),textarea:not([disabled]),[tabindex]:not([tabindex="-1"])')
    ).filter((el) => el.getClientRects().length > 0);

  const fullScreen = () => !!(W.matchMedia && W.matchMedia(SMALL).matches);
  const modal = () => ui.panel.setAttribute("aria-modal", String(fullScreen()));
  const fit = () => {
    const vv = W.visualViewport;
    const s = ui.panel.style;
    // Its width and left edge too: zoomed in (pinch zoom), the visible part is narrower than
    // the page, and the page's width put the close and send buttons out of view.
    if (vv && isOpen && fullScreen()) {
      s.top = vv.offsetTop + "px";
      s.left = vv.offsetLeft + "px";
      s.height = vv.height + "px";
      s.width = vv.width + "px";
      s.bottom = s.right = "auto";
    } else s.top = s.left = s.height = s.width = s.bottom = s.right = "";
  };
  const onKeydown = (e) => {
    if (!isOpen) return;
    // Escape while an input method composes a word cancels that word, as Enter there picks it.
    if ((e.key === "Escape" || e.key === "Esc") && !e.isComposing) {
      e.preventDefault();
      e.stopPropagation();
      close(true);
      return;
    }
    // Tab stays in the panel only where it covers the screen (a phone): on a wider screen the
    // panel is a non-modal window beside the page, and Tab goes on to the launcher and the page.
    if (e.key !== "Tab" || !fullScreen()) return;
    const f = focusables();
    if (!f.length) return;
    const a = ui.shadow.activeElement;
    const inside = a && ui.panel.contains(a);
    if (e.shiftKey && (!inside || a === f[0])) {
      e.preventDefault();
      f[f.length - 1].focus();
    } else if (!e.shiftKey && (!inside || a === f[f.length - 1])) {
      e.preventDefault();
      f[0].focus();
    }
  };

  const focusInside = () => {
    const target = (leadVisible && ui.leadSlot.querySelector("input")) || (ui.compose.hidden ? null : ui.input) || ui.panel.querySelector("button");
    if (target) target.focus({ preventScroll: true });
  };
  // The control with focus is about to be hidden: focus the message box, or focus falls to the
  // host page's <body> (a screen reader loses its place, Escape no longer reaches the panel).
  const keepFocus = (el) => {
    if (el.contains(ui.shadow.activeElement)) (ui.compose.hidden ? focusInside() : ui.input.focus({ preventScroll: true }));
  };

  const open = (opts) => {
    if (!ui) {
      pendingOpen = opts || { focus: true };
      return;
    }
    if (isOpen) return;
    const a = D.activeElement;
    opener = a && a !== ui.host && a !== D.body ? a : null;
    isOpen = true;
    modal();
    fit();
    ui.panel.hidden = false;
    ui.root.classList.add("open");
    ui.launcher.setAttribute("aria-expanded", "true");
    ui.launcher.setAttribute("aria-label", T("close_label", "Close chat"));
    ui.launcher.replaceChildren(icon("x", 24));
    if (cfg.lead_capture === "before_chat" && !store.get("lead")) showLead("before");
    toBottom(true);
    if (!opts || opts.focus !== false) focusInside();
    if (unconfigured) reconfigure();
  };
  const close = (returnFocus) => {
    if (!ui) {
      pendingOpen = null;
      return;
    }
    if (!isOpen) return;
    const hadFocus = ui.panel.contains(ui.shadow.activeElement);
    isOpen = false;
    fit();
    ui.panel.hidden = true;
    ui.root.classList.remove("open");
    ui.launcher.setAttribute("aria-expanded", "false");
    ui.launcher.setAttribute("aria-label", openLabel(ui.botName));
    ui.launcher.replaceChildren(icon("chat", 26));
    if (returnFocus === true || hadFocus) {
      // Back to the page's own button when that opened the chat (not when the launcher closes it).
      if (opener && opener.isConnected && ui.shadow.activeElement !== ui.launcher) opener.focus();
      if (D.activeElement !== opener) ui.launcher.focus();
    }
    opener = null;
  };
  const toggle = () => (isOpen ? close(true) : open());

