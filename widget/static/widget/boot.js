  /* ---------- boot ---------- */
  // The workspace's settings: an object, null (this widget is refused here: not mounted), or
  // undefined (no server answered, or not well, after `tries`).
  const loadConfig = async (tries) => {
    for (let attempt = 0; attempt < tries; attempt++) {
      if (attempt) await sleep(800 * attempt);
      const ctrl = W.AbortController ? new AbortController() : null;
      const timer = ctrl && setTimeout(() => ctrl.abort(), 10000);
      try {
        const res = await request("/api/v1/widget/config", { signal: ctrl && ctrl.signal });
        if (res.ok) {
          const d = await res.json();
          return Object.assign({}, DEFAULTS, d && typeof d === "object" ? d : {});
        }
        const err = await httpError(res);
        if (res.status < 500 && res.status !== 429) {
          warn("widget disabled:", err.code, err.message, ownerHint(err.code));
          return null;
        }
      } catch (e) {
        /* network: retry */
      } finally {
        clearTimeout(timer);
      }
    }
    return undefined;
  };
  // Started without its settings (`unconfigured`: the server out of reach): opened, or sent a
  // message, the chat reads them again, then starts over with them (the owner's name, greeting
  // and texts), the message sent; still out of reach, it says so, with Retry. It never greets in
  // the defaults' words nor takes a message meanwhile: that read "Assistant: Hi! How can I help
  // you today?", then failed at the first message.
  // What is in the message box goes with the chat started over: sent when the visitor pressed
  // Send (`sendWanted`, also while a read was under way: that press was dropped, and the message
  // with it), else left in the new box (it was emptied under the visitor's fingers).
  let configuring = false;
  let sendWanted = false;
  const reconfigure = async () => {
    if (configuring || !ui) return;
    configuring = true;
    hideError();
    ui.typing.hidden = false;
    const c = await loadConfig(1);
    configuring = false;
    ui.typing.hidden = true;
    if (c === undefined) {
      const err = netError(null);
      return showError(err, () => reconfigure());
    }
    // refused now (loadConfig told the owner why, in the console): unavailable, no Retry
    if (c === null) return showError({ code: "config_refused", status: 403 }, null);
    cfg = c;
    unconfigured = false;
    const old = ui;
    const draft = old.input.value;
    pendingOpen = isOpen ? { focus: old.panel.contains(old.shadow.activeElement) } : null;
    ui = null;
    isOpen = false;
    old.host.remove();
    mount();
    const send = sendWanted;
    sendWanted = false;
    if (send && draft.trim()) sendMessage(draft.trim());
    else if (draft) {
      ui.input.value = draft;
      autosize();
    }
  };

  const api = {
    version: "1",
    key: KEY,
    open: () => open(),
    close: () => close(),
    toggle: () => (ui ? toggle() : open()),
  };
  W.TrulyBot = api;

  const boot = async () => {
    const c = await loadConfig(3);
    if (c === null) return;
    if (c === undefined) warn("could not load the widget configuration: the chat says so when opened, and tries again");
    unconfigured = !c;
    cfg = c || Object.assign({}, DEFAULTS);
    mount();
    if (attr("open") === "true") open({ focus: false });
  };
  if (D.readyState === "loading") D.addEventListener("DOMContentLoaded", boot, { once: true });
  else boot();
})();
