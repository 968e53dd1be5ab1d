  /* ---------- server-sent events parser (chunk boundaries, \r\n, multi-line data) ---------- */
  const sseParser = (onEvent) => {
    let buf = "";
    let name = "";
    let data = [];
    const dispatch = () => {
      if (data.length) onEvent(name || "message", data.join("\n"));
      name = "";
      data = [];
    };
    const line = (l) => {
      if (l === "") return dispatch();
      if (l[0] === ":") return;
      const i = l.indexOf(":");
      const field = i < 0 ? l : l.slice(0, i);
      let value = i < 0 ? "" : l.slice(i + 1);
      if (value[0] === " ") value = value.slice(1);
      if (field === "event") name = value;
      else if (field === "data") data.push(value);
    };
    return {
      push(chunk) {
        buf += chunk;
        const re = /\r\n|\r|\n/g;
        let start = 0;
        let m;
        while ((m = re.exec(buf))) {
          // a lone \r at the very end may be the first half of \r\n: wait for more
          if (m[0] === "\r" && m.index === buf.length - 1) break;
          line(buf.slice(start, m.index));
          start = re.lastIndex;
        }
        buf = buf.slice(start);
      },
      end() {
        if (buf.replace(/\r$/, "")) line(buf.replace(/\r$/, ""));
        buf = "";
        dispatch();
      },
    };
  };

  /* ---------- HTTP ---------- */
  const request = (path, opts) => {
    const o = opts || {};
    const headers = Object.assign({ "X-Widget-Key": KEY }, o.headers);
    if (o.json !== undefined) headers["Content-Type"] = "application/json";
    return fetch(BASE + path, {
      method: o.method || (o.json !== undefined ? "POST" : "GET"),
      headers,
      body: o.json !== undefined ? JSON.stringify(o.json) : undefined,
      credentials: "omit",
      mode: "cors",
      signal: o.signal,
    });
  };
  const httpError = async (res) => {
    let body = null;
    try {
      body = await res.json();
    } catch (e) {
      /* not JSON */
    }
    const e = (body && body.error) || {};
    const err = new Error(str(e.message) || "HTTP " + res.status);
    err.status = res.status;
    err.code = str(e.code) || "http_" + res.status;
    // the refused field ("details": [{"field", "message", "max_length"}]): the visitor reads our
    // sentence for it, never the server's (it may be a pattern)
    const first = Array.isArray(e.details) && e.details[0] && typeof e.details[0] === "object" ? e.details[0] : null;
    if (first) {
      err.field = str(first.field);
      err.limit = parseInt(first.max_length, 10) || 0;
    }
    const d = e.details || {};
    err.retryAfter =
      parseInt(res.headers.get("Retry-After") || "", 10) || parseInt(d.retry_after, 10) || 0;
    return err;
  };
  // The browser knows it has no network (navigator.onLine is false only then; true is no proof).
  const offline = () => !!(W.navigator && W.navigator.onLine === false);
  const netError = (e) => {
    if (e && (e.status || e.stream)) return e;
    const err = new Error("network");
    err.code = "network";
    err.network = true;
    return err;
  };
  // A wait in words read at a glance: "about 48 minutes", not "2843 s".
  const waitText = (s) => {
    if (!(s > 0)) return "a moment";
    if (s < 60) return "about " + s + (s === 1 ? " second" : " seconds");
    const min = Math.ceil(s / 60);
    if (min < 90) return "about " + min + (min === 1 ? " minute" : " minutes");
    return "about " + Math.round(s / 3600) + " hours";
  };
  // A text with its placeholders filled in: {bot_name}, {minutes}, {max}, {count}, {page} (the owner's
  // texts take those the server lets each take; anything else in braces stays as written).
  const fill = (text, vars) =>
    str(text).replace(/\{([a-z_]+)\}/g, (m, k) => (vars && vars[k] != null ? String(vars[k]) : m));
  // The owner's text for `k` (T), else the English `d`, filled in.
  const F = (k, d, vars) => fill(T(k, d), vars);
  // What the visitor reads for each refusal or failure of the API: a sentence with a way
  // forward, never the server's own words (a provider's error, a validation pattern).
  const UNAVAILABLE = () => T("error_unavailable", "This chat is not available right now.");
  const errorText = (err, where) => {
    // The owner's text names the wait in {minutes}; the English says it in words.
    const later = (k, text) => {
      const own = T(k, null);
      if (own) return fill(own, { minutes: Math.max(1, Math.ceil((err.retryAfter || 60) / 60)) });
      return text + " Please try again " + (err.retryAfter ? "in " + waitText(err.retryAfter) + "." : "later.");
    };
    const c = err.code;
    // No server answered: the visitor's device offline, or (online) our server out of reach.
    if (c === "network")
      return offline()
        ? T("error_offline", null) || T("error_connection", "You seem to be offline. Check your internet connection and try again.")
        : T("error_connection", "The chat can't be reached right now. Please try again in a few minutes.");
    if (c === "timeout") return T("error_timeout", "The assistant is taking too long to answer. Please try again.");
    if (c === "stream_interrupted") return T("error_cut_off", "The answer was cut off. Please try again.");
    if (c === "origin_not_allowed" || c === "origin_required") return T("error_not_enabled", "This chat is not enabled on this website.");
    if (c === "invalid_widget_key") return UNAVAILABLE();
    if (c === "quota_exceeded") return T("error_over_quota", "The assistant is unavailable right now. Please try again later.");
    if (c === "message_in_progress") return T("error_busy", "The assistant is still answering. Please try again in a moment.");
    if (c === "conversation_rate_limited") return later("error_conversation_limit", "Too many new conversations from here.");
    if (err.status === 429)
      return where === "lead" ? later("lead_rate_limited", "Too many requests from here.") : later("error_rate_limited", "Too many messages.");
    if (c === "message_empty") return T("error_empty", "Please type a message first.");
    // 413: ours (payload_too_large) or a proxy's in front, with its own page and a smaller limit
    if (c === "message_too_long" || c === "payload_too_large" || err.status === 413) {
      const own = T("error_too_long", null);
      if (own) return fill(own, { max: err.limit || parseInt(cfg.max_message_chars, 10) || 2000 });
      return "Your message is " + (err.limit ? "longer than " + err.limit + " characters" : "too long") + ". Please shorten it.";
    }
    if (c === "invalid_text") return T("error_invalid_text", "Your message has characters that can't be sent. Please remove them and try again.");
    if (c === "not_found") return T("error_ended", "This conversation has ended. Please start a new one.");
    if (err.stream) return T("error_stream", "The answer could not be finished. Please try again.");
    if (err.status === 422)
      return where === "lead"
        ? T("lead_check_details", "Please check your details.")
        : T("error_refused", "This message can't be sent as written. Please change it and try again.");
    if (err.status === 401 || err.status === 403) return UNAVAILABLE();
    return T("error_generic", "Something went wrong. Please try again.");
  };
  // Refusals that trying again cannot change: no Retry button.
  const isFinal = (err) => /^(origin_not_allowed|origin_required|quota_exceeded|invalid_widget_key)$/.test(err.code);
  // For the site's owner, in the browser console: what to change for the chat to work here.
  const ownerHint = (code) =>
    code === "invalid_widget_key"
      ? "The widget key in this page's snippet is not valid (a new key was made in the dashboard?): paste the current embed snippet."
      : code === "origin_not_allowed" || code === "origin_required"
        ? "Add " + location.origin + " to the widget's allowed websites in the dashboard."
        : "";
  // The lead form's sentence for a field the server refused; the same rule for the phone.
  const PHONE = /^[0-9+()\-. ]{3,40}$/;
  const fieldText = (field) =>
    field === "email"
      ? T("lead_invalid_email", "Please enter a valid email address.")
      : field === "phone"
        ? T("lead_invalid_phone", "Please enter a valid phone number: 3 to 40 digits, spaces or + ( ) - . characters.")
        : field === "name"
          ? T("lead_name_too_long", "Please shorten your name.")
          : "";
  // Neither an address nor a number someone could call (7 to 15 digits) when the form asks for either.
  const CONTACT_MISSING = () => T("lead_contact_missing", "Please enter your email address or your phone number.");
  const leadErrorText = (err) =>
    (err.code === "contact_required" && CONTACT_MISSING()) || (err.status === 422 && fieldText(err.field)) || errorText(err, "lead");

  /* ---------- state ---------- */
  const DEFAULTS = {
    bot_name: "Assistant",
    greeting: "Hi! How can I help you today?",
    primary_color: "#4f46e5",
    position: "bottom-right",
    avatar_url: null,
    lead_capture: "off",
    lead_fields: ["email", "name"],
    suggested_questions: [],
    max_message_chars: 2000,
  };
  let cfg = DEFAULTS;
  let unconfigured = false; // started on DEFAULTS: the settings could not be read (reconfigure)
  // The owner's text for `k` (the widget settings' `texts`), else the English default `d`.
  const T = (k, d) => {
    const t = cfg.texts && cfg.texts[k];
    return typeof t === "string" && t.trim() ? t : d;
  };
  const openLabel = (botName) => F("open_label", "Open chat with {bot_name}", { bot_name: botName });
  let ui = null;
  let isOpen = false;
  let pendingOpen = null;
  let busy = false;
  let leadVisible = false;
  let leadBlocking = false;
  let leadDismissed = false;
  let leadWanted = false;
  let handoff = false;
  let lastUserText = "";
  let opener = null; // what had focus on the host page when the chat opened (TrulyBot.open())
  let cut = false; // the last paste or typing did not fit in the message box
  let countLevel = 0; // what the counter last told a screen reader: 0 nothing, 1 at 90%, 2 the limit

