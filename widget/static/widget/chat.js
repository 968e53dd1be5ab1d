  /* ---------- chat ---------- */
  const setBusy = (b) => {
    busy = b;
    // aria-disabled, not disabled: a disabled button with focus drops it to the page (submit() waits).
    ui.send.setAttribute("aria-disabled", String(b));
    ui.log.setAttribute("aria-busy", String(b));
    ui.chips.querySelectorAll("button").forEach((x) => (x.disabled = b));
    if (!b && missed) reloadShared();
  };

  const submit = () => {
    const text = ui.input.value.trim();
    if (!text || busy) return;
    if (unconfigured) {
      // the text stays in the box until it is sent, also when a read is under way already
      sendWanted = true;
      return reconfigure();
    }
    ui.input.value = "";
    autosize();
    sendMessage(text);
  };

  const sendMessage = (text) => {
    if (busy || !text) return;
    // The contact form comes first (lead capture "before the chat"; it may come only now, with
    // the settings read late): the message waits in the box to be sent after it, not dropped.
    if (leadBlocking) {
      ui.input.value = text;
      autosize();
      return;
    }
    keepFocus(ui.chips);
    ui.chips.hidden = true;
    hideError();
    lastUserText = text;
    const mine = userMessage(text);
    // One id per message the visitor sends, the same on every try of it (automatic or Retry):
    // the server records and meters the message once and answers a repeat from what it
    // recorded (the answer, or 409 message_in_progress while it is being written).
    const clientMessageId = uuid();
    const entry = { role: "user", t: text, k: clientMessageId };
    mine.tbKey = entryKey(entry);
    changeHistory((x) => {
      x.h.push(entry);
      x.n++;
    });
    trimLog();
    ask(text, clientMessageId);
  };

  const MAX_WAITS = 30; // 409 message_in_progress: asked again after Retry-After, at most this often

  const ask = async (text, clientMessageId) => {
    setBusy(true);
    const m = botMessage(null, textDir(text));
    ui.typing.hidden = false;
    toBottom(true);
    let attempt = 0;
    let waits = 0;
    let freshTried = false;
    try {
      for (;;) {
        try {
          await stream(text, m, clientMessageId);
          break;
        } catch (e) {
          const err = netError(e);
          const started = !!m.text;
          if (!started && err.code === "message_in_progress" && waits < MAX_WAITS) {
            // An earlier try of this message reached the server and is still being answered.
            waits++;
            await sleep(Math.min(Math.max(err.retryAfter || 2, 1), 10) * 1000);
            continue;
          }
          // Sent again with the same id, so safe even when the server had taken it (a stream
          // lost after its "meta" event, a 502/503 after the message was recorded).
          if (!started && (err.network || err.status >= 502) && attempt < 3 && !(err.network && offline())) {
            attempt++;
            await sleep(500 * Math.pow(2, attempt) + Math.random() * 300);
            continue;
          }
          if (!started && err.code === "not_found" && conversationId && !freshTried) {
            freshTried = true;
            conversationId = null;
            store.set("conversation", null);
            continue;
          }
          ui.typing.hidden = true;
          if (!started && (err.status === 422 || err.status === 413)) {
            // Refused as written (too long, not text): back in the box to be changed, not kept
            // in the conversation unanswered, and no Retry that would be refused again.
            const mine = ui.log.querySelectorAll('[data-role="user"]');
            if (mine.length) mine[mine.length - 1].remove();
            changeHistory((x) => {
              const i = x.h.findIndex((e) => e && e.k === clientMessageId);
              if (i < 0) return;
              x.h.splice(i, 1);
              x.n--;
            });
            ui.input.value = text;
            autosize();
            showError(err, null);
            m.el.remove();
            break;
          }
          if (started) {
            m.render();
            m.el.appendChild(h("div", { class: "incomplete", text: T("answer_interrupted", "This answer was interrupted.") }));
          }
          // The assistant is out of answers for now: the team can still be reached.
          if (!started && err.code === "quota_exceeded" && !store.get("lead") && !leadDismissed) showLead("unavailable");
          showError(err, () => {
            m.el.remove();
            ask(text, clientMessageId);
          });
          if (!started) m.el.remove();
          break;
        }
      }
    } finally {
      ui.typing.hidden = true;
      setBusy(false);
    }
  };

  const applyMeta = (d) => {
    if (d.conversation_id) {
      conversationId = str(d.conversation_id);
      store.set("conversation", conversationId);
    }
    // A person asked for: the form, when the server offers it (not under lead capture "Never").
    if (d.intent === "human" && d.lead_capture === true) handoff = true;
    if (d.lead_capture === true) leadWanted = true;
    if (d.lead_saved === true) {
      // The visitor typed their email address in the chat: it was taken, stop asking for it.
      store.set("lead", "1");
      leadWanted = handoff = false;
      hideLead();
    }
  };

  const firstContent = (m) => {
    if (!m.el.isConnected) {
      ui.typing.hidden = true;
      ui.log.appendChild(m.el);
    }
  };

  const finish = (m, d) => {
    if (typeof d.answer === "string" && d.answer) {
      m.text = d.answer;
      m.final = true;
    }
    if (d.message_id) m.id = str(d.message_id);
    if (Array.isArray(d.citations)) m.cites = d.citations;
    if (d.lead_capture === true) leadWanted = true;
    firstContent(m);
    m.render();
    addFeedback(m);
    const entry = { role: "bot", t: m.text, c: m.cites, id: m.id, p: m.final ? undefined : 1 };
    m.el.tbKey = entryKey(entry);
    m.el.tbMsg = m;
    changeHistory((x) => x.h.push(entry));
    trimLog();
    maybeLead();
  };

  const stream = async (text, m, clientMessageId) => {
    const ctrl = W.AbortController ? new AbortController() : null;
    let timer = 0;
    let timedOut = false;
    const arm = () => {
      clearTimeout(timer);
      if (ctrl)
        timer = setTimeout(() => {
          timedOut = true;
          ctrl.abort();
        }, 45000);
    };
    // No answer for 45 s: said once, with Retry; not sent again by itself (each try is a message
    // the server may be answering still, and three more made a visitor wait three minutes).
    const slow = () => {
      const e = new Error("timeout");
      e.code = "timeout";
      e.stream = true;
      return e;
    };
    // Closed before "done" after part of the answer: shown as interrupted (with Retry), not as
    // whole, and not sent again by itself (the visitor has read the part).
    const cutOff = () => {
      const e = new Error("cut off");
      e.code = "stream_interrupted";
      e.stream = true;
      return e;
    };
    arm();
    try {
      let res;
      try {
        const body = { message: text, session_id: sessionId, client_message_id: clientMessageId };
        if (conversationId) body.conversation_id = conversationId;
        res = await request("/api/v1/chat", { json: body, headers: { Accept: "text/event-stream" }, signal: ctrl && ctrl.signal });
      } catch (e) {
        throw timedOut ? slow() : netError(e);
      }
      if (!res.ok) throw await httpError(res);
      const type = res.headers.get("content-type") || "";
      if (!/text\/event-stream/i.test(type) || !res.body || !res.body.getReader) {
        let d;
        try {
          d = await res.json();
        } catch (e) {
          throw netError(e);
        }
        applyMeta(d || {});
        finish(m, d || {});
        return;
      }
      let finished = false;
      let streamErr = null;
      const parser = sseParser((event, data) => {
        let d;
        try {
          d = JSON.parse(data);
        } catch (e) {
          return;
        }
        if (!d || typeof d !== "object") return;
        if (event === "meta") {
          applyMeta(d);
          if (d.message_id) m.id = str(d.message_id);
        } else if (event === "delta") {
          if (typeof d.text === "string" && d.text) {
            m.text += d.text;
            firstContent(m);
            m.schedule();
          }
        } else if (event === "replace") {
          // the server withdrew what it streamed so far (its output guard tripped)
          if (typeof d.text === "string") {
            m.text = d.text;
            firstContent(m);
            m.schedule();
          }
        } else if (event === "citations") {
          if (Array.isArray(d.citations)) {
            m.cites = d.citations;
            if (m.el.isConnected) m.schedule();
          }
        } else if (event === "done") {
          finished = true;
          finish(m, d);
        } else if (event === "error") {
          const e = new Error(str(d.message) || "The assistant could not answer.");
          e.code = str(d.code) || "stream_error";
          e.stream = true;
          streamErr = e;
        }
      });
      const reader = res.body.getReader();
      const dec = new TextDecoder();
      try {
        for (;;) {
          const r = await reader.read();
          if (r.done) break;
          arm();
          parser.push(dec.decode(r.value, { stream: true }));
          if (finished || streamErr) {
            reader.cancel().catch(() => {});
            break;
          }
        }
        parser.push(dec.decode());
        parser.end();
      } catch (e) {
        // Lost after part of the answer, the browser online: the answer was cut off (it said
        // "can't be reached... in a few minutes" of a server answering a moment before).
        if (!finished) throw !m.text ? (timedOut ? slow() : netError(e)) : offline() ? netError(e) : cutOff();
      }
      if (finished) return;
      // a failure reported by the server inside the stream: shown with a Retry button, not retried
      if (streamErr) throw streamErr;
      if (m.text) throw cutOff();
      throw netError(new Error("stream ended early"));
    } finally {
      clearTimeout(timer);
    }
  };

