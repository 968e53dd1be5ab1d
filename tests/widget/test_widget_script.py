"""Static checks on the embeddable widget script (no browser needed)."""

from __future__ import annotations

import gzip
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from widget import script

STATIC = Path(__file__).resolve().parents[2] / "widget" / "static"
NODE = shutil.which("node")

REQUIRED_TESTIDS = [
    "launcher",
    "panel",
    "input",
    "send",
    "message",
    "citation",
    "lead-form",
    "lead-email",
    "lead-name",
    "lead-submit",
    "typing",
    "feedback-up",
    "feedback-down",
    "suggestion",
    "close",
    "error",
]


@pytest.fixture(scope="module")
def source() -> str:
    return script.source().decode("utf-8")  # widget.js as served: its parts joined


def test_gzipped_size_budget(source: str) -> None:
    size = len(gzip.compress(source.encode("utf-8"), compresslevel=9))
    assert size < 30 * 1024, f"widget.js is {size} bytes gzipped (budget 30 KB)"


@pytest.mark.parametrize(
    "pattern",
    [
        r"innerHTML",
        r"outerHTML\s*=",
        r"insertAdjacentHTML",
        r"document\.write",
        r"\beval\s*\(",
        r"new\s+Function\s*\(",
        r"createContextualFragment",
        r"\.srcdoc\b",
    ],
)
def test_no_html_string_sinks(source: str, pattern: str) -> None:
    assert not re.search(pattern, source), f"widget.js must not use {pattern!r}"


# Some ids are composed at runtime: "lead-" + field name, "feedback-" + rating.
COMPOSED = {
    "lead-email": ['"lead-" + name', 'field("email"'],
    "lead-name": ['"lead-" + name', 'field("name"'],
    "feedback-up": ['"feedback-" + rating', 'mk("up"'],
    "feedback-down": ['"feedback-" + rating', 'mk("down"'],
}


@pytest.mark.parametrize("testid", REQUIRED_TESTIDS)
def test_required_testids_present(source: str, testid: str) -> None:
    needles = COMPOSED.get(testid, [f'"data-testid": "{testid}"'])
    assert all(n in source for n in needles), f"data-testid {testid!r} not found"


def test_embed_contract(source: str) -> None:
    assert "D.currentScript ||" in source  # D = document; async scripts may lose currentScript
    assert 'script[data-key][src*="widget.js"]' in source
    for needle in [
        "/api/v1/widget/config",
        "/api/v1/chat",
        "/api/v1/widget/leads",
        "/api/v1/widget/feedback",
        "X-Widget-Key",
        "text/event-stream",
        "attachShadow",
        ":host{all:initial",
        'role: "dialog"',
        '"aria-modal": "false"',
        'role: "log"',
        '"aria-live": "polite"',
        'rel: "noopener noreferrer"',
        "W.TrulyBot = api",
    ]:
        assert needle in source, needle


def test_pages_embed_the_widget() -> None:
    demo = (STATIC / "demo.html").read_text(encoding="utf-8")
    assert "<title>TrulyBot demo</title>" in demo
    snippet = '<script src="/widget.js" data-key="{{PUBLIC_KEY}}" async></script>'
    assert snippet in demo
    hostile = (STATIC / "hostile.html").read_text(encoding="utf-8")
    assert snippet in hostile
    assert "all: unset !important" in hostile


def _node(args: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    assert NODE is not None
    return subprocess.run(
        [NODE, *args], input=stdin, capture_output=True, text=True, timeout=30, check=False
    )


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_node_syntax_check(tmp_path: Path) -> None:
    served = tmp_path / "widget.js"
    served.write_bytes(script.source())
    result = _node(["--check", str(served)])
    assert result.returncode == 0, result.stderr


def _extract_sse_parser(source: str) -> str:
    start = source.index("const sseParser = ")
    end = source.index("/* ---------- HTTP", start)
    return source[start:end]


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_sse_parser_handles_awkward_chunking(source: str) -> None:
    """Feed one SSE stream split at every possible single boundary and in 1-byte pieces."""
    stream = (
        ": keep-alive comment\r\n"
        'event: meta\r\ndata: {"conversation_id": "c1"}\r\n\r\n'
        'event: delta\ndata: {"text": "h\\u00e9llo"}\n\n'
        'event: delta\rdata: {"text": " w"}\r\r'
        'event: done\ndata: {"answer":\ndata: "ok"}\n\n'
        "data: no event name\n\n"
        'event: delta\ndata: {"text": "tail"}'
    )
    program = (
        _extract_sse_parser(source)
        + """
const stream = require("fs").readFileSync(0, "utf8");
const run = (chunks) => {
  const out = [];
  const p = sseParser((e, d) => out.push([e, d]));
  for (const c of chunks) p.push(c);
  p.end();
  return JSON.stringify(out);
};
const whole = run([stream]);
const results = [whole, run(Array.from(stream))];
for (let i = 1; i < stream.length; i++) results.push(run([stream.slice(0, i), stream.slice(i)]));
console.log(JSON.stringify({whole: JSON.parse(whole), same: results.every((r) => r === whole)}));
"""
    )
    result = _node(["-e", program], stdin=stream)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["same"], "chunk boundaries changed the parsed events"
    assert data["whole"] == [
        ["meta", '{"conversation_id": "c1"}'],
        ["delta", '{"text": "h\\u00e9llo"}'],
        ["delta", '{"text": " w"}'],
        ["done", '{"answer":\n"ok"}'],
        ["message", "no event name"],
        ["delta", '{"text": "tail"}'],
    ]


DOM_STUB = """
class Node {
  constructor(tag, text) {
    this.tagName = tag; this.text = text; this.children = []; this.attrs = {};
  }
  appendChild(c) { this.children.push(c); return c; }
  setAttribute(k, v) { this.attrs[k] = String(v); }
  addEventListener() {}
  set textContent(v) { this.children = [new Node("#text", String(v))]; }
  set className(v) { this.attrs.class = v; }
}
const D = {
  createElement: (t) => new Node(t.toUpperCase()),
  createElementNS: (ns, t) => new Node(t),
  createTextNode: (t) => new Node("#text", t),
  createDocumentFragment: () => new Node("#fragment"),
};
const W = globalThis;
const links = (n, out = []) => {
  if (n.tagName === "A") out.push(n.attrs.href);
  for (const c of n.children) links(c, out);
  return out;
};
const texts = (n) => n.tagName === "#text" ? n.text : n.children.map(texts).join("");
"""


def _extract_markdown(source: str) -> str:
    start = source.index("const h = (tag, attrs, kids)")
    end = source.index("/* ---------- server-sent events parser")
    return source[start:end]


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_links_in_an_answer_still_streaming_are_plain_text(source: str) -> None:
    """While an answer streams in it has not been through the server's link filter: its
    markdown links are text. The finished answer (filtered by the server) gets its links;
    citation markers link to the cited source either way."""
    program = (
        DOM_STUB
        + _extract_markdown(source)
        + """
const text = "See [the prize](https://evil.example/win) and **[bold](https://evil.example/b)** [1]";
const cites = [{ n: 1, url: "https://docs.example.com/guide", title: "Guide" }];
const streaming = markdown(text, cites, false);
const final = markdown(text, cites, true);
console.log(JSON.stringify({
  streaming: links(streaming), streamingText: texts(streaming),
  final: links(final),
}));
"""
    )
    result = _node(["-e", program])
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["streaming"] == ["https://docs.example.com/guide"]
    assert "the prize" in data["streamingText"]
    assert data["final"] == ["https://evil.example/win", "https://docs.example.com/guide"]


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_a_marker_naming_several_sources_links_each(source: str) -> None:
    """The server writes "[1, 3]" for several sources (and for a range or full-width brackets a
    model used): each number links to its source, as "[1][3]" would."""
    program = (
        DOM_STUB
        + _extract_markdown(source)
        + """
const cites = [
  { n: 1, url: "https://docs.example.com/one", title: "One" },
  { n: 3, url: "https://docs.example.com/three", title: "Three" },
];
const out = markdown("Both say so [1, 3]; code `a[2]` is not one.", cites, true);
console.log(JSON.stringify({ links: links(out), text: texts(out) }));
"""
    )
    result = _node(["-e", program])
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["links"] == ["https://docs.example.com/one", "https://docs.example.com/three"]
    assert "Both say so [1][3];" in data["text"]


def test_the_widget_handles_the_guards_replace_event(source: str) -> None:
    assert 'event === "replace"' in source


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_fenced_code_is_shown_as_written_and_tables_as_tables(source: str) -> None:
    """What a fence holds is code: no bold, no heading, no bullet and no citation link inside it
    (the server does not count "[1]" there either); a fence still open while the answer streams
    runs to the end. A markdown table becomes a table whose cells keep their citations."""
    program = (
        DOM_STUB
        + _extract_markdown(source)
        + r"""
const cites = [{ n: 1, url: "https://docs.example.com/a", title: "A" }];
const tags = (n, out = []) => {
  if (n.tagName !== "#text") out.push(n.tagName);
  for (const c of n.children) tags(c, out);
  return out;
};
const find = (n, tag) => n.tagName === tag ? n : n.children.map((c) => find(c, tag)).find(Boolean);
const code = markdown(
  "Run this:\n```bash\n# install the agent\n- not a bullet\nx = arr[1] ** 2 ** 3\n" +
  "    indented()\n```\nDone [1].",
  cites, true);
const open = markdown("Start:\n```py\nprint(a[1])\n**still code**", cites, false);
const grid = markdown(
  "Plans:\n\n| Plan | Price |\n|---|---:|\n| Free | $0 [1] |\n| Pro | **$9** |\n\nAfter.",
  cites, true);
console.log(JSON.stringify({
  codeTags: tags(code), pre: texts(find(code, "PRE")), codeLinks: links(code),
  openTags: tags(open), openPre: texts(find(open, "PRE")),
  gridTags: tags(grid), head: find(grid, "THEAD") && texts(find(grid, "THEAD")),
  body: texts(find(grid, "TBODY")), gridLinks: links(grid), gridText: texts(grid),
}));
"""
    )
    result = _node(["-e", program])
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    code = "# install the agent\n- not a bullet\nx = arr[1] ** 2 ** 3\n    indented()"
    assert data["pre"] == code
    assert "STRONG" not in data["codeTags"]
    assert "UL" not in data["codeTags"]
    assert data["codeLinks"] == ["https://docs.example.com/a"]  # the "[1]" after the fence only
    assert data["openPre"] == "print(a[1])\n**still code**"
    assert "STRONG" not in data["openTags"]
    assert "A" not in data["openTags"]
    assert data["gridTags"].count("TR") == 3
    assert data["gridTags"].count("TD") == 4
    assert data["head"] == "PlanPrice"
    assert data["body"] == "Free$0 [1]Pro$9"
    assert data["gridLinks"] == ["https://docs.example.com/a"]
    assert "|" not in data["gridText"]
    assert "After." in data["gridText"]


def _extract_http(source: str) -> str:
    start = source.index("/* ---------- HTTP ---------- */")
    end = source.index("/* ---------- state ---------- */")
    return source[start:end]


HTTP_STUB = """
const W = globalThis;
const KEY = "pk_test";
const BASE = "https://api.example";
const location = { origin: "https://shop.example" };
const str = (v) => (typeof v === "string" ? v : v == null ? "" : String(v));
const response = (status, body, headers) => ({
  status, ok: status < 300,
  headers: { get: (k) => (headers || {})[k] ?? null },
  json: async () => body,
});
const error = (code, message, details) => ({ error: { code, message, details: details ?? null } });
let cfg = { texts: {} };
"""

# What the API answers the widget (status, body, Retry-After), as the server words it.
SERVER_ERRORS: dict[str, tuple[int, dict[str, Any], str | None]] = {
    "rotated key": (401, {"code": "invalid_widget_key", "message": "Unknown widget key"}, None),
    "no key": (
        401,
        {"code": "invalid_widget_key", "message": "Send the widget key in X-Widget-Key"},
        None,
    ),
    "other site": (
        403,
        {"code": "origin_not_allowed", "message": "This site may not embed this widget"},
        None,
    ),
    "too many messages": (429, {"code": "rate_limited", "message": "Too many requests"}, "20"),
    "too many conversations": (
        429,
        {
            "code": "conversation_rate_limited",
            "message": "Too many new conversations; try again later",
        },
        "1500",
    ),
    "quota": (429, {"code": "quota_exceeded", "message": "This assistant cannot answer"}, "9999"),
    "conversation gone": (404, {"code": "not_found", "message": "Conversation not found"}, None),
    "too long": (
        422,
        {
            "code": "message_too_long",
            "message": "The message is longer than 2000 characters",
            "details": [{"field": "message", "max_length": 2000}],
        },
        None,
    ),
    "not text": (
        422,
        {"code": "invalid_text", "message": "Text must be valid UTF-8 without NUL characters"},
        None,
    ),
    "bad session": (
        422,
        {
            "code": "validation_error",
            "message": "Invalid input",
            "details": [{"field": "session_id", "message": "String should match pattern '^[A-Z]'"}],
        },
        None,
    ),
    "provider down": (
        502,
        {
            "code": "embedding_failed",
            "message": "Embedding request failed: Error code: 401 - Incorrect API key sk-p**yz",
        },
        None,
    ),
    "database": (
        503,
        {"code": "database_unavailable", "message": "The database is unavailable"},
        "5",
    ),
    "bug": (500, {"code": "internal_error", "message": "Something went wrong on our side"}, None),
    "unknown": (418, {"code": "teapot", "message": "Server internals: /srv/app.py line 9"}, None),
}

VISITOR_TEXTS = {
    "rotated key": "This chat is not available right now.",
    "no key": "This chat is not available right now.",
    "other site": "This chat is not enabled on this website.",
    "too many messages": "Too many messages. Please try again in about 20 seconds.",
    "too many conversations": (
        "Too many new conversations from here. Please try again in about 25 minutes."
    ),
    "quota": "The assistant is unavailable right now. Please try again later.",
    "conversation gone": "This conversation has ended. Please start a new one.",
    "too long": "Your message is longer than 2000 characters. Please shorten it.",
    "not text": (
        "Your message has characters that can't be sent. Please remove them and try again."
    ),
    "bad session": "This message can't be sent as written. Please change it and try again.",
    "provider down": "Something went wrong. Please try again.",
    "database": "Something went wrong. Please try again.",
    "bug": "Something went wrong. Please try again.",
    "unknown": "Something went wrong. Please try again.",
}


def _owner_texts(source: str) -> str:
    """widget.js's ``T``: the owner's text for a key, else the English default."""
    found = re.search(r"\n  const T = \(k, d\) => \{.*?\n  \};\n", source, re.S)
    assert found, "T not found in widget.js"
    return found.group(0)


def _run_http(source: str, body: str) -> Any:
    program = (
        HTTP_STUB
        + _owner_texts(source)
        + _extract_http(source)
        + "(async () => {\n"
        + body
        + "\n})();"
    )
    result = _node(["-e", program])
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_every_error_of_the_chat_reads_as_a_sentence_for_visitors(source: str) -> None:
    """Each code the chat API can answer has its own visitor text; the server's message (a
    provider's error, "Unknown widget key", a pattern) is never shown, and waits are in
    minutes, not seconds."""
    cases = json.dumps(SERVER_ERRORS)
    texts = _run_http(
        source,
        f"""
const out = {{}};
for (const [name, [status, body, wait]] of Object.entries({cases})) {{
  const err = await httpError(response(status, {{ error: body }}, {{ "Retry-After": wait }}));
  out[name] = errorText(err);
}}
const streamed = new Error("The answer was interrupted");
streamed.code = "internal_error";
streamed.stream = true;
out["stream error event"] = errorText(streamed);
console.log(JSON.stringify(out));
""",
    )
    streamed = texts.pop("stream error event")
    assert texts == VISITOR_TEXTS
    assert streamed == "The answer could not be finished. Please try again."
    for name, (_, body, _) in SERVER_ERRORS.items():
        if name != "too long":  # its message is the visitor's sentence, nearly
            assert body["message"] not in texts[name], name


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_the_lead_form_and_the_retry_button_read_the_server_right(source: str) -> None:
    """The lead form's own refusals (the 10-an-hour limit, a phone the server refused) read as
    sentences with a wait in minutes; no Retry where trying again cannot help (a rotated key);
    the phone is checked in the browser by the server's rule; the owner gets a console hint."""
    out = _run_http(
        source,
        """
const lead429 = await httpError(
  response(429, error("rate_limited", "Too many requests"), { "Retry-After": "2843" }));
const phone = await httpError(response(422, error("validation_error", "Invalid input", [
  { field: "phone", message: "String should match pattern '^[0-9+()\\\\-. ]{3,40}$'" }])));
const email = await httpError(response(422, error("validation_error", "Invalid input", [
  { field: "email", message: "value is not a valid email address: The part after the @" }])));
const key = await httpError(response(401, error("invalid_widget_key", "Unknown widget key")));
const down = await httpError(response(503, error("database_unavailable", "down")));
console.log(JSON.stringify({
  lead429: leadErrorText(lead429), phone: leadErrorText(phone), email: leadErrorText(email),
  keyFinal: isFinal(key), downFinal: isFinal(down), hint: ownerHint(key.code),
  originHint: ownerHint("origin_not_allowed"),
  waits: [0, 1, 59, 60, 2843, 5340, 5400, 7200].map(waitText),
  phones: ["+91 (98765) 43-210.", "call me maybe", "12", "1".repeat(41)].map((p) => PHONE.test(p)),
}));
""",
    )
    assert out["lead429"] == "Too many requests from here. Please try again in about 48 minutes."
    assert out["phone"].startswith("Please enter a valid phone number")
    assert "pattern" not in out["phone"]
    assert out["email"] == "Please enter a valid email address."
    assert (out["keyFinal"], out["downFinal"]) == (True, False)
    assert "snippet" in out["hint"]
    assert "https://shop.example" in out["originHint"]
    assert out["waits"] == [
        "a moment",
        "about 1 second",
        "about 59 seconds",
        "about 1 minute",
        "about 48 minutes",
        "about 89 minutes",
        "about 2 hours",
        "about 2 hours",
    ]
    assert out["phones"] == [True, False, False, False]


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_the_owners_error_texts_replace_the_english_ones(source: str) -> None:
    """A German shop's widget said "Connection problem. ..." and "Something went wrong. ..."
    in English: the owner's texts (``error_connection``, ``error_generic``) are shown instead,
    and blank ones leave the English."""
    out = _run_http(
        source,
        """
const offline = netError(new TypeError("Failed to fetch"));
const bug = await httpError(response(500, error("internal_error", "Something broke")));
const before = [errorText(offline), errorText(bug)];
cfg = { texts: { error_connection: "Keine Verbindung.", error_generic: "Etwas ging schief." } };
const owners = [errorText(offline), errorText(bug)];
cfg = { texts: { error_connection: "  ", error_generic: null } };
console.log(JSON.stringify({ before, owners, blank: [errorText(offline), errorText(bug)] }));
""",
    )
    english = [
        "The chat can't be reached right now. Please try again in a few minutes.",
        "Something went wrong. Please try again.",
    ]
    assert out == {
        "before": english,
        "owners": ["Keine Verbindung.", "Etwas ging schief."],
        "blank": english,
    }


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_a_request_that_reached_no_server_says_whose_connection_failed(source: str) -> None:
    """Every request that reached no server said "Connection problem. Check your internet",
    also to a visitor who was online while our server was down (a browser walk's finding).
    Online, the chat says it cannot be reached and when to try again; offline (the browser's
    ``navigator.onLine`` false), to check their connection. The owner's ``error_connection``
    says both unless they wrote ``error_offline`` too."""
    out = _run_http(
        source,
        """
const lost = netError(new TypeError("Failed to fetch"));
const said = (online) => { W.navigator = { onLine: online }; return errorText(lost); };
const english = [said(true), said(false)];
cfg = { texts: { error_connection: "Keine Verbindung." } };
const own = [said(true), said(false)];
cfg = { texts: { error_connection: "Keine Verbindung.", error_offline: "Sie sind offline." } };
const both = [said(true), said(false)];
console.log(JSON.stringify({ english, own, both }));
""",
    )
    assert out == {
        "english": [
            "The chat can't be reached right now. Please try again in a few minutes.",
            "You seem to be offline. Check your internet connection and try again.",
        ],
        "own": ["Keine Verbindung.", "Keine Verbindung."],
        "both": ["Keine Verbindung.", "Sie sind offline."],
    }


GERMAN_ERRORS = {
    "error_unavailable": "Dieser Chat ist gerade nicht verfügbar.",
    "error_not_enabled": "Dieser Chat ist auf dieser Website nicht aktiviert.",
    "error_rate_limited": "Zu viele Nachrichten. Bitte in {minutes} Min. erneut versuchen.",
    "error_conversation_limit": "Zu viele neue Gespräche. Bitte in {minutes} Min. erneut.",
    "error_over_quota": "Der Assistent ist gerade nicht erreichbar.",
    "error_ended": "Dieses Gespräch ist beendet.",
    "error_too_long": "Ihre Nachricht ist länger als {max} Zeichen.",
    "error_invalid_text": "Ihre Nachricht enthält Zeichen, die nicht gesendet werden können.",
    "error_refused": "Diese Nachricht kann so nicht gesendet werden.",
    "error_generic": "Etwas ging schief.",
    "error_stream": "Die Antwort konnte nicht fertig werden.",
    "error_timeout": "Der Assistent braucht zu lange.",
    "lead_rate_limited": "Zu viele Anfragen. Bitte in {minutes} Min. erneut.",
    "lead_invalid_email": "Bitte eine gültige E-Mail-Adresse eingeben.",
    "lead_invalid_phone": "Bitte eine gültige Telefonnummer eingeben.",
    "lead_check_details": "Bitte prüfen Sie Ihre Angaben.",
}


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_every_refusal_reads_in_the_owners_words_with_its_numbers(source: str) -> None:
    """A German shop's visitors read "Too many messages. ...", "This chat is not available
    right now." and the contact form's own checks in English: the owner's texts are shown,
    the wait in whole minutes ({minutes}) and the length limit ({max}) filled in."""
    cases = json.dumps(SERVER_ERRORS)
    out = _run_http(
        source,
        f"""
cfg = {{ texts: {json.dumps(GERMAN_ERRORS)} }};
const chat = {{}};
for (const [name, [status, body, wait]] of Object.entries({cases})) {{
  const err = await httpError(response(status, {{ error: body }}, {{ "Retry-After": wait }}));
  chat[name] = errorText(err);
}}
const streamed = new Error("x");
streamed.code = "internal_error";
streamed.stream = true;
const slow = new Error("x");
slow.code = "timeout";
const lead429 = await httpError(
  response(429, error("rate_limited", "Too many requests"), {{ "Retry-After": "2843" }}));
const field = async (name) => leadErrorText(await httpError(response(422,
  error("validation_error", "Invalid input", [{{ field: name, message: "pattern" }}]))));
console.log(JSON.stringify({{
  chat, stream: errorText(streamed), slow: errorText(slow), lead429: leadErrorText(lead429),
  email: await field("email"), phone: await field("phone"), other: await field("message"),
}}));
""",
    )
    g = GERMAN_ERRORS
    assert out["chat"] == {
        "rotated key": g["error_unavailable"],
        "no key": g["error_unavailable"],
        "other site": g["error_not_enabled"],
        "too many messages": "Zu viele Nachrichten. Bitte in 1 Min. erneut versuchen.",
        "too many conversations": "Zu viele neue Gespräche. Bitte in 25 Min. erneut.",
        "quota": g["error_over_quota"],
        "conversation gone": g["error_ended"],
        "too long": "Ihre Nachricht ist länger als 2000 Zeichen.",
        "not text": g["error_invalid_text"],
        "bad session": g["error_refused"],
        "provider down": g["error_generic"],
        "database": g["error_generic"],
        "bug": g["error_generic"],
        "unknown": g["error_generic"],
    }
    assert (out["stream"], out["slow"]) == (g["error_stream"], g["error_timeout"])
    assert out["lead429"] == "Zu viele Anfragen. Bitte in 48 Min. erneut."
    assert (out["email"], out["phone"]) == (g["lead_invalid_email"], g["lead_invalid_phone"])
    assert out["other"] == g["lead_check_details"]


def test_the_widget_reads_only_texts_the_server_serves(source: str) -> None:
    """Each T("name") / F("name") in widget.js names a text of TEXT_FIELDS (a misspelt name is
    never the owner's), and each text the bot does not use itself is read by the widget."""
    from workspaces.widget_texts import TEXT_FIELDS

    read = set(re.findall(r'\b[TF]\("([a-z_]+)"', source))
    read |= set(re.findall(r'later\("([a-z_]+)"', source))
    read |= set(re.findall(r'(?:before|handoff|unavailable): "(lead_prompt_[a-z]+)"', source))
    assert read <= set(TEXT_FIELDS), read - set(TEXT_FIELDS)
    bot_only = {
        "dont_know",
        "unavailable",
        "handoff",
        "thanks_reply",
        "goodbye_reply",
        "bot_identity_reply",
        "unclear_reply",
        "documentation_prefix",
        "no_contact_hint",
    }
    assert set(TEXT_FIELDS) - bot_only <= read, set(TEXT_FIELDS) - bot_only - read


def _cites_program(source: str) -> str:
    """widget.js's ``renderCites`` with what it needs, on the DOM stub; ``cfg`` without texts."""
    fill = re.search(r"\n  const fill = .*?\n  const F = [^\n]*\n", source, re.S)
    cites = re.search(r"\n  const renderCites = .*?(?=\n  const addFeedback)", source, re.S)
    assert fill, "fill/F not found in widget.js"
    assert cites, "renderCites not found in widget.js"
    return (
        DOM_STUB
        + "let cfg = { texts: {} };\n"
        + _extract_markdown(source)
        + _owner_texts(source)
        + fill.group(0)
        + cites.group(0)
    )


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_a_sources_label_and_page_read_in_the_owners_words(source: str) -> None:
    """An answer's list of sources said "Source" for an untitled, unlinked one and "(p. 4)" for
    its page in English whatever the owner wrote: both are texts now (``source_label``,
    ``page_label`` with ``{page}``), the English default when unset."""
    program = _cites_program(source) + (
        """
const shown = () => {
  const m = { cites: [{ n: 1, page: 4 }, { n: 2, title: "Guide", page: "12" }], body: {} };
  m.body.after = (list) => { m.out = list; };
  renderCites(m);
  return m.out.children.map(texts);
};
const english = shown();
cfg = { texts: { source_label: "Quelle", page_label: "S. {page}" } };
console.log(JSON.stringify({ english, german: shown() }));
"""
    )
    result = _node(["-e", program])
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["english"] == ["[1] Source (p. 4)", "[2] Guide (p. 12)"]
    assert data["german"] == ["[1] Quelle (S. 4)", "[2] Guide (S. 12)"]


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_each_source_is_named_by_what_it_shows(source: str) -> None:
    """A screen reader named each item of an answer's sources by its passage (the snippet in
    its tooltip) where the visitor reads "[1] Acme Cloud Backup pricing" (a browser walk's
    finding): the item is named by what it shows, the snippet stays its tooltip."""
    program = _cites_program(source) + (
        """
const m = { body: {}, cites: [
  { n: 1, title: "Acme Cloud Backup pricing", url: "https://acme.example/pricing",
    snippet: "Backup plans start at 299 a month for ten devices." },
  { n: 2, title: "Price list", page: 4, snippet: "Family plan: 599 a month." },
] };
m.body.after = (list) => { m.out = list; };
renderCites(m);
console.log(JSON.stringify(m.out.children.map((li) => ({
  name: li.attrs["aria-label"], shown: texts(li), tooltip: li.attrs.title,
}))));
"""
    )
    result = _node(["-e", program])
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        {
            "name": "[1] Acme Cloud Backup pricing",
            "shown": "[1] Acme Cloud Backup pricing",
            "tooltip": "Backup plans start at 299 a month for ten devices.",
        },
        {
            "name": "[2] Price list (p. 4)",
            "shown": "[2] Price list (p. 4)",
            "tooltip": "Family plan: 599 a month.",
        },
    ]
