/*! TrulyBot chat widget | Apache-2.0
 * Embed: <script src="https://HOST/widget.js" data-key="pk_..." async></script>
 * Optional: data-api (API base URL; default: where this file was loaded from, minus /widget.js), data-position (bottom-right|bottom-left), data-color, data-open="true".
 * Host API: window.TrulyBot.open() / .close() / .toggle().
 * Safety: model output and document text are only ever inserted with textContent / createElement;
 * links are created only for http(s) URLs. No dependencies, no build step: served as the files of
 * widget/static/widget/ joined, in the order of widget/script.py.
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

