  /* ---------- messages ---------- */
  const userMessage = (text, stay) => {
    const el = h("div", { class: "msg user", "data-testid": "message", "data-role": "user" }, [
      h("span", { class: "sr", text: T("you_label", "You:") + " " }),
      h("div", { class: "bubble", dir: textDir(text), text }),
    ]);
    ui.log.appendChild(el);
    if (!stay) toBottom(true);
    return el;
  };

  // lean: the direction of the question a streaming answer answers (textDir)
  const botMessage = (init, lean) => {
    const i = init || {};
    const body = h("div", { class: "bubble", dir: "auto" });
    const el = h("div", { class: "msg bot", "data-testid": "message", "data-role": "bot" }, [h("span", { class: "sr", text: ui.botName + ": " }), body]);
    // final: the server's finished answer (links allowed); false while it streams in
    const m = { el, body, text: str(i.t), cites: Array.isArray(i.c) ? i.c : [], id: i.id || null, rating: i.r || null, list: null, fb: null, raf: 0, final: !!init && !i.p };
    m.render = () => {
      m.raf = 0;
      const stick = nearBottom();
      body.replaceChildren(markdown(m.text, m.cites, m.final));
      body.dir = textDir(m.text, !m.final && lean);
      renderCites(m);
      if (stick) toBottom(true);
    };
    m.schedule = () => {
      if (!m.raf) m.raf = W.requestAnimationFrame ? requestAnimationFrame(m.render) : setTimeout(m.render, 16);
    };
    return m;
  };

  const renderCites = (m) => {
    if (m.list) m.list.remove();
    m.list = null;
    if (!m.cites.length) return;
    const list = h("ol", { class: "cites", "aria-label": T("sources_label", "Sources") });
    for (const c of m.cites) {
      if (!c || typeof c !== "object") continue;
      const url = safeUrl(c.url);
      const label = str(c.title) || url || T("source_label", "Source");
      const page = c.page != null && c.page !== "" ? " (" + F("page_label", "p. {page}", { page: str(c.page) }) + ")" : "";
      // Named by what it shows ("[1] Pricing (p. 4)"): the snippet, its tooltip, was its name.
      const li = h("li", {
        "data-testid": "citation", dir: "auto", "aria-label": "[" + str(c.n) + "] " + label + page,
        title: c.snippet ? str(c.snippet).slice(0, 300) : null,
      }, [
        "[" + str(c.n) + "] ",
        url ? h("a", { href: url, target: "_blank", rel: "noopener noreferrer", text: label }) : label,
        page,
      ]);
      list.appendChild(li);
    }
    m.list = list;
    m.body.after(list);
  };

  const addFeedback = (m) => {
    if (!m.id || m.fb) return;
    const status = h("span", { role: "status" });
    const mk = (rating, label) =>
      h("button", {
        type: "button", "data-testid": "feedback-" + rating, "aria-label": label, title: label,
        "aria-pressed": m.rating === rating ? "true" : "false", onclick: () => feedback(m, rating),
      }, [icon(rating, 16)]);
    m.fb = { up: mk("up", T("helpful_label", "Helpful")), down: mk("down", T("not_helpful_label", "Not helpful")), status };
    m.el.appendChild(h("div", { class: "fb" }, [m.fb.up, m.fb.down, status]));
  };

  const mark = (m, r) => {
    m.rating = r;
    if (!m.fb) return;
    m.fb.up.setAttribute("aria-pressed", String(r === "up"));
    m.fb.down.setAttribute("aria-pressed", String(r === "down"));
  };
  const feedback = async (m, rating) => {
    if (m.rating === rating) return;
    const prev = m.rating;
    mark(m, rating);
    m.sending = true;
    try {
      const res = await request("/api/v1/widget/feedback", { json: { message_id: m.id, rating, session_id: sessionId } });
      if (!res.ok) throw await httpError(res);
      m.fb.status.textContent = T("feedback_thanks", "Thanks for your feedback");
      changeHistory((x) => {
        const entry = x.h.find((e) => e && e.id === m.id);
        if (entry) entry.r = rating;
      });
    } catch (e) {
      mark(m, prev);
      m.fb.status.textContent = T("feedback_failed", "Could not send feedback");
    } finally {
      m.sending = false;
    }
  };

  // Another tab of this site wrote the conversation: show it here too (when this tab is not in
  // the middle of an answer), so the visitor's tabs continue one conversation.
  let missed = false; // a change seen while answering: shown when the answer is in
  const reloadShared = () => {
    missed = false;
    conversationId = store.get("conversation");
    ({ h: history, n: visitorCount } = shared());
    if (ui && !appendNew()) renderHistory(true);
  };
  const keyed = () => Array.from(ui.log.children).filter((el) => el.tbKey);
  // The oldest messages shown past what the history keeps are removed, as the history dropped
  // them: a tab open for long, while the visitor chats there or in another tab, shows what a
  // new tab would, not a conversation growing without end.
  const trimLog = () => {
    const shown = keyed();
    for (const el of shown.slice(0, Math.max(0, shown.length - KEEP))) el.remove();
  };
  // What another tab added is put where the history has it, and a rating given there marked on
  // its message, the rest left as it is: a screen reader does not read the conversation out
  // again, and the visitor's scroll and focus stay. Most often it goes after what this tab
  // shows; an answer this tab waited for came in after the other tab's messages, so those go
  // before it.
  const appendNew = () => {
    const shown = keyed();
    const keys = history.map(entryKey);
    // k: the oldest messages shown that the history no longer keeps (only its length limit drops them)
    for (let k = 0; k <= shown.length; k++) {
      const rest = shown.slice(k);
      if ((k > 0 && keys.length < KEEP) || (!rest.length && shown.length)) return false;
      // where each message still shown is in the history, in the same order
      const at = [];
      let j = 0;
      for (const el of rest) {
        while (j < keys.length && keys[j] !== el.tbKey) j++;
        if (j === keys.length) break;
        at.push(j++);
      }
      if (at.length < rest.length) continue;
      const stick = nearBottom();
      let n = 0;
      let added = [];
      const flush = () => {
        showEntries(added, rest[n] || null);
        added = [];
      };
      history.forEach((e, i) => {
        if (at[n] !== i) return added.push(e);
        flush();
        const m = rest[n].tbMsg;
        const r = e.r || null;
        if (m && !m.sending && m.rating !== r) mark(m, r); // not one this tab is still sending
        n++;
      });
      flush();
      trimLog();
      renderChips();
      if (stick) toBottom(true);
      return true;
    }
    return false;
  };
  W.addEventListener("storage", (e) => {
    if (!e.key || e.key.indexOf(PREFIX) !== 0) return;
    const k = e.key.slice(PREFIX.length);
    if (k !== "history" && k !== "conversation") return;
    if (busy) missed = true;
    else reloadShared();
  });

  const afterPaint = (f) => (W.requestAnimationFrame ? requestAnimationFrame(() => requestAnimationFrame(f)) : setTimeout(f, 50));
  // before: the message they go before (null: at the end)
  const showEntries = (entries, before) => {
    for (const e of entries) {
      if (!e || typeof e !== "object") continue;
      if (e.role === "user") {
        const el = userMessage(str(e.t), true);
        el.tbKey = entryKey(e);
        if (before) ui.log.insertBefore(el, before);
      } else {
        const m = botMessage(e);
        m.el.tbKey = entryKey(e);
        m.el.tbMsg = m;
        ui.log.insertBefore(m.el, before || null);
        m.render();
        addFeedback(m);
      }
    }
  };

  // quiet: drawn again for a change made in another tab, neither read out again by a screen
  // reader (the log is not live meanwhile) nor moved from where the visitor had scrolled.
  const renderHistory = (quiet) => {
    const top = ui.scroll.scrollTop;
    const stick = !quiet || nearBottom();
    if (quiet) ui.log.setAttribute("aria-live", "off");
    ui.log.replaceChildren();
    const greeting = unconfigured ? "" : str(cfg.greeting);
    if (greeting) {
      const g = botMessage({ t: greeting });
      ui.log.appendChild(g.el);
      g.render();
    }
    showEntries(history);
    renderChips();
    ui.scroll.scrollTop = stick ? ui.scroll.scrollHeight : top;
    if (quiet) afterPaint(() => ui.log.setAttribute("aria-live", "polite"));
  };

  const renderChips = () => {
    ui.chips.replaceChildren();
    const qs = Array.isArray(cfg.suggested_questions) ? cfg.suggested_questions : [];
    ui.chips.hidden = history.length > 0 || !qs.length;
    for (const q of qs.slice(0, 6)) {
      const text = str(q).trim();
      if (text)
        ui.chips.appendChild(h("button", { type: "button", class: "chip", "data-testid": "suggestion", dir: "auto", text, onclick: () => sendMessage(text) }));
    }
  };

  const reset = () => {
    if (busy) return;
    conversationId = null;
    store.set("conversation", null);
    changeHistory((x) => {
      x.h = [];
      x.n = 0;
    });
    leadWanted = handoff = leadDismissed = false;
    hideError();
    hideLead();
    renderHistory();
    if (cfg.lead_capture === "before_chat" && !store.get("lead")) showLead("before");
    focusInside();
  };

  /* ---------- errors ---------- */
  let retryTimer = 0;
  const showError = (err, retry) => {
    ui.errText.textContent = errorText(err);
    ui.err.hidden = false;
    const hint = ownerHint(err.code);
    if (hint) warn("chat refused:", err.code + ".", hint);
    clearTimeout(retryTimer);
    const btn = ui.retryBtn;
    btn.hidden = !retry || isFinal(err);
    btn.onclick = () => {
      hideError();
      retry();
    };
    if (err.retryAfter) {
      btn.disabled = true;
      retryTimer = setTimeout(() => (btn.disabled = false), Math.min(err.retryAfter, 120) * 1000);
    } else btn.disabled = false;
  };
  const hideError = () => {
    if (!ui) return;
    keepFocus(ui.err);
    ui.err.hidden = true;
  };

