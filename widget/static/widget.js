/*! TrulyBot chat widget | Apache-2.0
 * Embed: <script src="https://HOST/widget.js" data-key="pk_..." async></script>
 * Optional: data-api (API base URL; default: where this file was loaded from, minus /widget.js), data-position (bottom-right|bottom-left), data-color, data-open="true".
 * Host API: window.TrulyBot.open() / .close() / .toggle().
 * Safety: model output and document text are only ever inserted with textContent / createElement;
 * links are created only for http(s) URLs. No dependencies, no build step: this file is what is served.
 */
(() => {
  "use strict";
  const W = window;
  const D = document;
  if (W.TrulyBot && W.TrulyBot.version) {
    const other = D.currentScript && D.currentScript.getAttribute("data-key");
    if (W.console && other && other !== W.TrulyBot.key)
      console.warn("[TrulyBot] one widget per page: the snippet with key " + other + " is ignored");
    return;
  }

  const script =
    D.currentScript || D.querySelector('script[data-key][src*="widget.js"]');
  if (!script) return;
  const attr = (n) => (script.getAttribute("data-" + n) || "").trim();
  const KEY = attr("key");
  const warn = (...a) => W.console && console.warn("[TrulyBot]", ...a);
  if (!KEY) {
    warn("missing data-key on the widget script tag");
    return;
  }
  // The API is where widget.js came from, path included: PUBLIC_BASE_URL may have one, and
  // https://bot.example.com/trulybot/widget.js is answered by .../trulybot/api/v1/..., not by
  // https://bot.example.com/api/v1/... (the origin alone, which another app may serve).
  const apiBase = (src) => {
    try {
      const u = new URL(src, location.href);
      const dir = /^(.*)\/widget\.js$/.exec(u.pathname);
      return u.origin + (dir ? dir[1] : "");
    } catch (e) {
      return location.origin;
    }
  };
  const BASE = (attr("api") || apiBase(script.src)).replace(/\/+$/, "");

  /* ---------- storage (localStorage, falling back to memory) ---------- */
  const PREFIX = "trulybot:" + KEY + ":";
  // Memory only stands in for a key localStorage refused to write (disabled, full): read through
  // otherwise, so a tab sees what the visitor's other tabs wrote, removals too (a copy here hid
  // them: a "New conversation" in one tab was undone by the other's old conversation id).
  const mem = {};
  const store = {
    get(k) {
      if (k in mem) return mem[k];
      try {
        return W.localStorage.getItem(PREFIX + k);
      } catch (e) {
        return null; /* storage disabled: nothing written yet */
      }
    },
    set(k, v) {
      try {
        if (v == null) W.localStorage.removeItem(PREFIX + k);
        else W.localStorage.setItem(PREFIX + k, v);
        delete mem[k];
      } catch (e) {
        mem[k] = v; /* storage disabled or full: memory only */
      }
    },
  };
  const uuid = () => {
    const c = W.crypto;
    if (c && c.randomUUID) return c.randomUUID();
    const b = new Uint8Array(16);
    if (c && c.getRandomValues) c.getRandomValues(b);
    else for (let i = 0; i < 16; i++) b[i] = (Math.random() * 256) | 0;
    return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  };
  let sessionId = store.get("session");
  if (!sessionId) store.set("session", (sessionId = uuid()));
  let conversationId = store.get("conversation");
  // The visitor's messages, shared by their tabs of this site: { h: entries, n: messages sent }.
  const shared = () => {
    let h;
    try {
      h = JSON.parse(store.get("history") || "[]");
    } catch (e) {
      h = null;
    }
    return { h: Array.isArray(h) ? h : [], n: parseInt(store.get("count") || "0", 10) || 0 };
  };
  let { h: history, n: visitorCount } = shared();
  const KEEP = 40; // messages kept in the history
  // Kept on the message that shows a history entry: what another tab wrote is compared with it.
  // A rating (r) is left out: rated in another tab, the message is the same one, its buttons change.
  const entryKey = (e) => JSON.stringify(e && typeof e === "object" ? Object.assign({}, e, { r: undefined }) : e);
  // Each change is made to the history as stored now, not to this tab's copy: another tab may
  // have written since this one read it (while this one waited for an answer), and writing the
  // copy back dropped that tab's messages.
  const changeHistory = (change) => {
    const now = shared();
    change(now);
    history = now.h.slice(-KEEP);
    visitorCount = Math.max(0, now.n);
    store.set("history", JSON.stringify(history));
    store.set("count", String(visitorCount));
  };

  /* ---------- helpers ---------- */
  const h = (tag, attrs, kids) => {
    const el = D.createElement(tag);
    if (attrs)
      for (const k of Object.keys(attrs)) {
        const v = attrs[k];
        if (v == null || v === false) continue;
        if (k === "text") el.textContent = v;
        else if (k === "class") el.className = v;
        else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
        else el.setAttribute(k, v === true ? "" : String(v));
      }
    if (kids)
      for (const c of kids)
        if (c != null && c !== false)
          el.appendChild(typeof c === "string" ? D.createTextNode(c) : c);
    return el;
  };
  const NS = "http://www.w3.org/2000/svg";
  const ICONS = {
    chat: "M21 11.5a8.4 8.4 0 0 1-.9 3.8 8.5 8.5 0 0 1-7.6 4.7 8.4 8.4 0 0 1-3.8-.9L3 21l1.9-5.7a8.4 8.4 0 0 1-.9-3.8 8.5 8.5 0 0 1 4.7-7.6 8.4 8.4 0 0 1 3.8-.9h.5a8.5 8.5 0 0 1 8 8z",
    x: "M18 6 6 18M6 6l12 12",
    send: "M22 2 11 13M22 2l-7 20-4-9-9-4z",
    up: "M14 9V5a3 3 0 0 0-3-3l-4 9v11h11.3a2 2 0 0 0 2-1.7l1.4-9a2 2 0 0 0-2-2.3zM7 22H4a2 2 0 0 1-2-2v-7a2 2 0 0 1 2-2h3",
    down: "M10 15v4a3 3 0 0 0 3 3l4-9V2H5.7a2 2 0 0 0-2 1.7l-1.4 9a2 2 0 0 0 2 2.3zm7-13h2.7A2.3 2.3 0 0 1 22 4v7a2.3 2.3 0 0 1-2.3 2H17",
    reset: "M1 4v6h6M3.5 15a9 9 0 1 0 2.1-9.4L1 10",
  };
  const icon = (name, size) => {
    const s = D.createElementNS(NS, "svg");
    const a = {
      viewBox: "0 0 24 24", width: size, height: size, fill: "none", stroke: "currentColor",
      "stroke-width": 2, "stroke-linecap": "round", "stroke-linejoin": "round",
      "aria-hidden": "true", focusable: "false",
    };
    for (const k of Object.keys(a)) s.setAttribute(k, a[k]);
    const p = D.createElementNS(NS, "path");
    p.setAttribute("d", ICONS[name]);
    s.appendChild(p);
    return s;
  };
  const safeUrl = (u) => {
    if (typeof u !== "string" || !u) return null;
    try {
      const x = new URL(u.trim());
      return x.protocol === "http:" || x.protocol === "https:" ? x.href : null;
    } catch (e) {
      return null;
    }
  };
  // A text's direction from most of its letters, not its first one (dir="auto"): an Arabic answer
  // or question opening with a Latin name ("iPhone 15 ...") reads right to left; code, links' and
  // bare addresses' letters do not count. "auto" for a text with no letters.
  // lean: the direction of a text still arriving (an answer streaming in: its question's) until
  // it has letters enough of its own; its first ones (an Arabic answer opening with "TrulyBot")
  // flipped it one way and then back, the text moving under the visitor's eyes.
  const RTL = /[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc]/g;
  const textDir = (text, lean) => {
    const t = str(text).replace(/```[\s\S]*?(```|$)|`[^`\n]*`|\]\([^)\s]*\)|https?:\/\/\S+/g, " ");
    const rtl = (t.match(RTL) || []).length;
    const all = (t.match(/\p{L}/gu) || []).length;
    if (lean && lean !== "auto" && all < 20) return lean;
    return !all ? "auto" : rtl * 2 > all ? "rtl" : "ltr";
  };
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const str = (v) => (typeof v === "string" ? v : v == null ? "" : String(v));

  /* ---------- tiny, safe markdown: **bold**, `code`, ```fences```, lists, tables, [text](url), [n]
   * Links: the server keeps only those to cited sources and the site's own domains in a final
   * answer; text still streaming in has not been through that, so its links show as text. */
  const inline = (parent, text, cites, links) => {
    const re = /\*\*([^*\n]+?)\*\*|`([^`\n]+)`|\[([^\]\n]+)\]\(([^()\s]+)\)|\[(\d{1,3}(?:, ?\d{1,3})*)\]/g;
    let last = 0;
    let m;
    while ((m = re.exec(text))) {
      if (m.index > last) parent.appendChild(D.createTextNode(text.slice(last, m.index)));
      if (m[1] != null) parent.appendChild(h("strong", { text: m[1] }));
      else if (m[2] != null) parent.appendChild(h("code", { text: m[2] }));
      else if (m[3] != null) {
        const url = links && safeUrl(m[4]);
        parent.appendChild(
          url
            ? h("a", { href: url, target: "_blank", rel: "noopener noreferrer", text: m[3] })
            : D.createTextNode(m[3])
        );
      } else {
        // "[2]", or "[1, 3]" (the server's form for several sources): one link each
        for (const n of m[5].split(/, ?/)) {
          const c = cites.find((x) => String(x.n) === n);
          const url = c && safeUrl(c.url);
          parent.appendChild(
            h(url ? "a" : "span", {
              class: "ref",
              href: url,
              target: url && "_blank",
              rel: url && "noopener noreferrer",
              title: c ? str(c.title) : null,
              text: "[" + n + "]",
            })
          );
        }
      }
      last = re.lastIndex;
    }
    if (last < text.length) parent.appendChild(D.createTextNode(text.slice(last)));
  };
  // A fence opens only at a line's start, as on the server (prompts._CODE): what it holds is
  // code, shown as written, with no bold, links or citations in it; an unclosed fence (an answer
  // still streaming) runs to the end.
  const FENCE = /^[ \t]*```/;
  const TABLE_RULE = /^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$/;
  const cells = (line) =>
    line.trim().replace(/^\|/, "").replace(/\|$/, "").split("|").map((c) => c.trim());
  const table = (rows, cites, links) => {
    const row = (cellTag, line) =>
      h("tr", null, cells(line).map((c) => {
        const cell = h(cellTag);
        inline(cell, c, cites, links);
        return cell;
      }));
    return h("div", { class: "tw" }, [
      h("table", null, [
        h("thead", null, [row("th", rows[0])]),
        h("tbody", null, rows.slice(2).map((line) => row("td", line))),
      ]),
    ]);
  };
  const markdown = (text, cites, links) => {
    const frag = D.createDocumentFragment();
    let para = null;
    let list = null;
    let li = null;
    const lines = str(text).replace(/\r\n?/g, "\n").split("\n");
    for (let i = 0; i < lines.length; i++) {
      const raw = lines[i];
      const line = raw.replace(/\s+$/, "");
      if (FENCE.test(line)) {
        let end = i + 1;
        while (end < lines.length && !FENCE.test(lines[end])) end++;
        frag.appendChild(h("pre", null, [h("code", { text: lines.slice(i + 1, end).join("\n") })]));
        i = end;
        para = list = li = null;
        continue;
      }
      if (line.trim().startsWith("|") && i + 1 < lines.length && TABLE_RULE.test(lines[i + 1])) {
        let end = i + 2;
        while (end < lines.length && lines[end].trim().startsWith("|")) end++;
        frag.appendChild(table(lines.slice(i, end), cites, links));
        i = end - 1;
        para = list = li = null;
        continue;
      }
      if (!line.trim()) {
        para = list = li = null;
        continue;
      }
      const bullet = /^\s*[-*\u2022]\s+(.*)$/.exec(line);
      const num = !bullet && /^\s*(\d{1,3})[.)]\s+(.*)$/.exec(line);
      if (bullet || num) {
        const type = bullet ? "ul" : "ol";
        if (!list || list.tagName.toLowerCase() !== type) {
          list = h(type, num && num[1] !== "1" ? { start: num[1] } : null);
          frag.appendChild(list);
        }
        li = h("li");
        inline(li, bullet ? bullet[1] : num[2], cites, links);
        list.appendChild(li);
        para = null;
        continue;
      }
      if (li && /^\s{2,}/.test(raw)) {
        li.appendChild(D.createTextNode(" "));
        inline(li, line.trim(), cites, links);
        continue;
      }
      list = li = null;
      const heading = /^#{1,6}\s+(.*)$/.exec(line);
      if (heading) {
        const p = h("p");
        const s = h("strong");
        inline(s, heading[1], cites, links);
        p.appendChild(s);
        frag.appendChild(p);
        para = null;
        continue;
      }
      if (para) para.appendChild(h("br"));
      else frag.appendChild((para = h("p")));
      inline(para, line, cites, links);
    }
    return frag;
  };

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

  /* ---------- styles ---------- */
  // Where the open chat covers the page: a phone, upright or sideways (a touch screen under
  // 480px tall). A desktop window that short (a screen split top and bottom, developer tools
  // docked below) keeps the chat beside the page, down to 320px, where that leaves no room.
  const SMALL = "(max-width:480px),(max-height:480px) and (pointer:coarse),(max-height:320px)";
  const STYLE = `
:host{all:initial!important}
:host::backdrop{display:none!important}
.probe{position:fixed;top:0;bottom:0;left:0;width:0;visibility:hidden;pointer-events:none}
*,*::before,*::after{box-sizing:border-box;margin:0;padding:0;border:0;font:inherit;color:inherit;background:none;text-align:start;text-transform:none;letter-spacing:normal;word-spacing:normal;text-indent:0;text-shadow:none;float:none;min-width:0}
[hidden]{display:none!important}
.root{position:fixed;z-index:2147483000;bottom:20px;right:20px;font:400 14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#111827;direction:ltr;-webkit-text-size-adjust:100%;text-size-adjust:100%;-webkit-font-smoothing:antialiased}
.root.left{right:auto;left:20px}
button{cursor:pointer;line-height:1.2;font-size:14px;-webkit-appearance:none;appearance:none}
button:disabled,button[aria-disabled=true]{cursor:default;opacity:.5}
:focus{outline:none}
:focus-visible{outline:2px solid #2563eb;outline-offset:2px}
.launcher{display:flex;align-items:center;justify-content:center;width:56px;height:56px;border-radius:28px;background:var(--p);color:var(--pc);box-shadow:0 6px 20px rgba(0,0,0,.22);transition:transform .15s}
.launcher:hover{transform:scale(1.06)}
.panel{position:absolute;bottom:72px;right:0;display:flex;flex-direction:column;width:370px;height:600px;max-height:calc(100vh - 110px);background:#fff;border:1px solid rgba(0,0,0,.08);border-radius:16px;box-shadow:0 12px 40px rgba(0,0,0,.22);overflow:hidden}
.left .panel{right:auto;left:0}
.head{display:flex;align-items:center;gap:8px;flex:none;padding:12px 10px 12px 14px;background:var(--p);color:var(--pc)}
.head img{width:32px;height:32px;border-radius:16px;object-fit:cover;background:#fff;flex:none}
.title{flex:1;font-size:16px;font-weight:600;line-height:1.3;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.ib{display:flex;align-items:center;justify-content:center;flex:none;width:32px;height:32px;border-radius:8px}
.ib:hover{background:rgba(127,127,127,.22)}
.head :focus-visible{outline-color:currentColor}
.scroll{flex:1;overflow-y:auto;padding:14px;background:#f9fafb;overscroll-behavior:contain}
.log{display:flex;flex-direction:column;gap:10px}
.msg{display:flex;flex-direction:column;max-width:86%}
.msg.user{align-self:flex-end;align-items:flex-end}
.msg.bot{align-self:flex-start}
.bubble{padding:9px 12px;border-radius:14px;overflow-wrap:anywhere;word-break:break-word}
.user .bubble{background:var(--p);color:var(--pc);border-bottom-right-radius:4px;white-space:pre-wrap}
.bot .bubble{background:#fff;border:1px solid #e5e7eb;border-bottom-left-radius:4px}
.bubble>*+*{margin-top:6px}
.bubble p,.bubble li{display:block}
.bubble ul,.bubble ol{display:block;padding-inline-start:20px}
.bubble ul{list-style:disc outside}
.bubble ol{list-style:decimal outside}
.bubble li{display:list-item}
.bubble li+li{margin-top:2px}
.bubble pre{display:block;white-space:pre;overflow-x:auto;background:#f3f4f6;border-radius:6px;padding:6px 8px}
.bubble pre code{padding:0;background:none}
.tw{display:block;overflow-x:auto}
.tw table{border-collapse:collapse;font-size:13px}
.tw th,.tw td{border:1px solid #e5e7eb;padding:3px 6px;text-align:start;vertical-align:top}
.tw th{font-weight:700;background:#f9fafb}
strong{font-weight:700}
code,pre{direction:ltr;unicode-bidi:isolate}
pre,pre code{text-align:left}
code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px;background:#f3f4f6;border-radius:4px;padding:0 4px}
a{color:#1d4ed8;text-decoration:underline;cursor:pointer}
.ref{font-size:11px;vertical-align:super;line-height:0;text-decoration:none;margin-inline-start:1px}
.cites{display:flex;flex-direction:column;gap:3px;margin-top:6px;padding:0 4px;font-size:12px;line-height:1.35;color:#4b5563;list-style:none}
.cites li{display:block;overflow-wrap:anywhere;word-break:break-word}
.incomplete{font-size:12px;color:#9a3412;margin-top:4px}
.fb{display:flex;align-items:center;gap:2px;margin-top:4px;color:#6b7280;font-size:12px}
.fb button{display:flex;align-items:center;justify-content:center;width:28px;height:28px;border-radius:6px;color:#6b7280}
.fb button:hover{background:#eef0f3}
.fb button[aria-pressed=true]{color:#111827;background:#e5e7eb}
.fb span{margin-left:4px}
.typing{display:flex;gap:4px;width:max-content;margin-top:10px;padding:12px 14px;background:#fff;border:1px solid #e5e7eb;border-radius:14px}
.typing i{display:block;width:6px;height:6px;border-radius:3px;background:#9ca3af;animation:tb 1s infinite}
.typing i:nth-child(2){animation-delay:.15s}.typing i:nth-child(3){animation-delay:.3s}
@keyframes tb{0%,80%,100%{opacity:.3;transform:none}40%{opacity:1;transform:translateY(-3px)}}
.chips{display:flex;flex-wrap:wrap;gap:6px;margin-top:12px}
.chip{overflow-wrap:anywhere;padding:6px 12px;border:1px solid var(--p);border-radius:16px;background:#fff;color:#1f2937;font-size:13px;line-height:1.3;text-align:start}
.chip:hover{background:#f3f4f6}
.lead{display:flex;flex-direction:column;gap:8px;margin-top:12px;padding:12px;background:#fff;border:1px solid #e5e7eb;border-radius:12px}
.lead p,.err span,.incomplete{overflow-wrap:anywhere}
.lead p{font-size:13px;color:#374151}
.lead label{display:flex;flex-direction:column;gap:3px;font-size:12px;font-weight:600;color:#374151}
.lead .row{display:flex;gap:8px;justify-content:flex-end;align-items:center}
.lead .msgerr{color:#b91c1c;font-size:12px}
input,textarea{display:block;width:100%;padding:8px 10px;border:1px solid #d1d5db;border-radius:8px;background:#fff;color:#111827;font-size:14px;line-height:1.4;font-weight:400}
input:focus,textarea:focus{border-color:var(--p);outline:2px solid var(--p);outline-offset:-1px}
::placeholder{color:#9ca3af;opacity:1}
.btn{padding:8px 14px;border-radius:8px;background:var(--p);color:var(--pc);font-weight:600}
.btn2{padding:8px 10px;border-radius:8px;color:#4b5563;font-size:13px}
.err{display:flex;align-items:center;gap:8px;flex:none;padding:8px 14px;background:#fef2f2;border-top:1px solid #fecaca;color:#991b1b;font-size:13px}
.err span{flex:1}
.err button{font-weight:600;text-decoration:underline;font-size:13px;padding:2px 4px}
.compose{display:flex;align-items:flex-end;gap:8px;flex:none;padding:10px;border-top:1px solid #e5e7eb;background:#fff}
.compose textarea{resize:none;height:40px;min-height:40px;max-height:120px;overflow-y:auto;font-size:15px}
.send{display:flex;align-items:center;justify-content:center;flex:none;width:40px;height:40px;border-radius:10px;background:var(--p);color:var(--pc)}
.count{flex:none;padding:0 12px 6px;background:#fff;color:#4b5563;font-size:12px}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);clip-path:inset(50%);white-space:nowrap}
@media ${SMALL}{.root{bottom:calc(16px + env(safe-area-inset-bottom,0px));right:calc(16px + env(safe-area-inset-right,0px))}.root.left{left:calc(16px + env(safe-area-inset-left,0px))}
.panel{position:fixed;top:0;left:0;right:0;bottom:0;width:100%;height:100%;height:100dvh;max-height:none;border:0;border-radius:0;padding-bottom:env(safe-area-inset-bottom,0px)}
.head{padding:calc(12px + env(safe-area-inset-top,0px)) calc(10px + env(safe-area-inset-right,0px)) 12px calc(14px + env(safe-area-inset-left,0px))}
.scroll,.err{padding-left:calc(14px + env(safe-area-inset-left,0px));padding-right:calc(14px + env(safe-area-inset-right,0px))}
.compose{padding-left:calc(10px + env(safe-area-inset-left,0px));padding-right:calc(10px + env(safe-area-inset-right,0px))}
.count{padding-left:calc(12px + env(safe-area-inset-left,0px));padding-right:calc(12px + env(safe-area-inset-right,0px))}
.open .launcher{display:none}.compose textarea,input{font-size:16px}}
@media (prefers-reduced-motion:reduce){*{animation:none!important;transition:none!important}}
@media print{.root{display:none}}
`;

  const contrastText = (c) => {
    const m = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(c);
    if (!m) return "#fff";
    let x = m[1];
    if (x.length === 3) x = x.replace(/./g, "$&$&");
    const [r, g, b] = [0, 2, 4].map((i) => {
      const v = parseInt(x.substr(i, 2), 16) / 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.179 ? "#111827" : "#fff";
  };
  const validColor = (c) => !!c && !!(W.CSS && W.CSS.supports && W.CSS.supports("color", c));

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

  /* ---------- lead capture ---------- */
  const maybeLead = () => {
    if (store.get("lead") || leadVisible || leadDismissed) return;
    const mode = cfg.lead_capture;
    if (handoff) return showLead("handoff");
    if (leadWanted && mode !== "off") return showLead("intent");
    if (mode === "after_messages" && visitorCount >= 3) showLead("after");
  };

  const hideLead = () => {
    leadVisible = leadBlocking = false;
    if (!ui) return;
    ui.leadSlot.replaceChildren();
    ui.compose.hidden = false;
  };

  const showLead = (reason) => {
    // "Never" (off): no form for any reason (a handoff, the quota, the before-chat gate).
    if (leadVisible || cfg.lead_capture === "off") return;
    leadVisible = true;
    const blocking = (leadBlocking = reason === "before");
    const fields = Array.isArray(cfg.lead_fields) ? cfg.lead_fields : DEFAULTS.lead_fields;
    // The owner's prompt for this situation, else their prompt for every one, else the English.
    const situation = { before: "lead_prompt_before", handoff: "lead_prompt_handoff", unavailable: "lead_prompt_unavailable" }[reason];
    const intro = (situation && T(situation, null)) || T("lead_prompt", null) || (
      reason === "before"
        ? "Before we start, please tell us how to reach you."
        : reason === "handoff"
          ? "Want a person from our team to follow up? Leave your details and we'll get back to you."
          : reason === "unavailable"
            ? "The assistant can't answer right now. Leave your details and our team will get back to you."
            : "Leave your details and we'll get back to you.");
    const field = (name, label, type, autocomplete, required) => {
      const inp = h("input", {
        type, name, autocomplete, required, "aria-required": required ? "true" : null,
        "data-testid": "lead-" + name, maxlength: name === "phone" ? 40 : 200, dir: "auto",
      });
      return [h("label", null, [label + (required ? " *" : ""), inp]), inp];
    };
    // With a phone field, the visitor leaves an address or a number (either will do); without
    // one, the address is required.
    const either = fields.includes("phone");
    const [emailL, email] = field("email", T("email_label", "Email"), "email", "email", !either);
    const [nameL, name] = fields.includes("name") ? field("name", T("name_label", "Name"), "text", "name", false) : [null, null];
    const [phoneL, phone] = either ? field("phone", T("phone_label", "Phone"), "tel", "tel", false) : [null, null];
    const msg = h("div", { class: "msgerr", role: "alert" });
    const submitBtn = h("button", { type: "submit", class: "btn", "data-testid": "lead-submit", text: T("send_button", "Send") });
    const skip = !blocking && h("button", {
      type: "button", class: "btn2", "data-testid": "lead-skip", text: T("skip_button", "Not now"),
      onclick: () => {
        leadDismissed = true;
        hideLead();
        ui.input.focus();
      },
    });
    const form = h("form", { class: "lead", "data-testid": "lead-form", novalidate: true, "aria-label": T("lead_form_label", "Contact details") }, [
      h("p", { text: intro }), emailL, nameL, phoneL, msg, h("div", { class: "row" }, [skip, submitBtn]),
    ]);
    // aria-disabled while it is sent, not disabled: a disabled button with focus drops it to the
    // page's <body> (a keyboard user who pressed Send, refused, had lost their place and Escape).
    let sending = false;
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      if (sending) return;
      const value = email.value.trim();
      const tel = phone ? phone.value.trim() : "";
      const refuse = (input, text) => {
        msg.textContent = text;
        input.setAttribute("aria-invalid", "true");
        input.focus();
      };
      if (either && !value && !tel) return refuse(email, CONTACT_MISSING());
      if ((value || !either) && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(value)) return refuse(email, fieldText("email"));
      email.removeAttribute("aria-invalid");
      // A number alone is all that reaches the visitor: 7 to 15 digits (as the server checks).
      const digits = tel.replace(/[^0-9]/g, "").length;
      if (tel && (!PHONE.test(tel) || (!value && (digits < 7 || digits > 15)))) return refuse(phone, fieldText("phone"));
      if (phone) phone.removeAttribute("aria-invalid");
      msg.textContent = "";
      sending = true;
      submitBtn.setAttribute("aria-disabled", "true");
      const body = {};
      if (value) body.email = value;
      if (name && name.value.trim()) body.name = name.value.trim();
      if (tel) body.phone = tel;
      if (lastUserText) body.message = lastUserText;
      if (conversationId) {
        body.conversation_id = conversationId;
        body.session_id = sessionId;
      }
      try {
        const res = await request("/api/v1/widget/leads", { json: body });
        if (!res.ok) throw await httpError(res);
        // The server's thanks: the owner's words, else the default in the visitor's language (an
        // older server answers none: the owner's words or the English default, as before).
        const sent = await res.json().catch(() => ({}));
        store.set("lead", "1");
        hideLead();
        const thanks = sent && typeof sent.thanks === "string" && sent.thanks.trim() ? sent.thanks : null;
        const m = botMessage({ t: thanks || F("lead_thanks", "Thanks! We'll be in touch at {email}.", { email: value || tel }) });
        ui.log.appendChild(m.el);
        m.render();
        toBottom(true);
        if (isOpen) ui.input.focus();
      } catch (err) {
        const e2 = netError(err);
        msg.textContent = leadErrorText(e2);
      } finally {
        sending = false;
        submitBtn.setAttribute("aria-disabled", "false");
      }
    });
    ui.leadSlot.replaceChildren(form);
    if (blocking) {
      ui.compose.hidden = true;
      ui.chips.hidden = true;
    }
    toBottom(true);
    // Focus moves to the form only when it replaces the message box; otherwise the visitor keeps
    // typing their next question where they were (it went into the email field).
    if (blocking && isOpen && ui.panel.contains(ui.shadow.activeElement)) email.focus({ preventScroll: true });
  };

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
