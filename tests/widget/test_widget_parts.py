"""widget.js is kept in parts (widget/static/widget/*.js) and served joined: every part is
served, in the order of ``widget.script.PARTS``, from a checkout and from an installed wheel."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from widget.script import PARTS, PARTS_DIR, source

ROOT = Path(__file__).resolve().parents[2]
NODE = shutil.which("node")

# The script's sections, in order (each part holds one or a few of them).
SECTIONS = [
    "storage",
    "helpers",
    "tiny, safe markdown",
    "server-sent events parser",
    "HTTP",
    "state",
    "styles",
    "UI",
    "messages",
    "errors",
    "chat",
    "lead capture",
    "boot",
]

# What the joined script needs of a page to run its top level and ask for its settings: the
# answer is a refusal (403), so it stops there, as on a site the workspace does not allow.
PAGE_STUB = """
const said = [];
const fetched = [];
const script = { src: "https://bot.example/widget.js",
  getAttribute: (n) => (n === "data-key" ? "pk_test" : null) };
globalThis.window = globalThis;
globalThis.location = new URL("https://shop.example/");
globalThis.document = { currentScript: script, readyState: "complete",
  querySelector: () => script };
globalThis.console = { warn: (...a) => said.push(a.join(" ")) };
globalThis.addEventListener = () => {};
globalThis.fetch = async (url) => {
  fetched.push(url);
  return { ok: false, status: 403, headers: { get: () => null },
    json: async () => ({ error: { code: "origin_not_allowed", message: "no" } }) };
};
process.on("exit", () => process.stdout.write(JSON.stringify({
  version: window.TrulyBot && window.TrulyBot.version, fetched, said })));
"""


def test_the_parts_directory_holds_exactly_the_listed_parts() -> None:
    """A part not listed would not be served; a listed one missing fails the build."""
    assert sorted(p.name for p in PARTS_DIR.iterdir()) == sorted(PARTS)
    assert len(set(PARTS)) == len(PARTS)


@pytest.mark.parametrize("name", PARTS)
def test_each_part_stays_under_500_lines(name: str) -> None:
    lines = (PARTS_DIR / name).read_text(encoding="utf-8").count("\n")
    assert lines < 500, f"{name} has {lines} lines"


def test_the_script_opens_and_closes_its_scope_once() -> None:
    """One strict arrow-function scope around all the parts: no global but window.TrulyBot."""
    text = source().decode("utf-8")
    assert text.split("*/\n", 1)[1].startswith('(() => {\n  "use strict";\n')
    assert text.endswith("\n})();\n")
    assert text.count("\n})();") == 1


def test_the_sections_come_in_the_order_of_the_script() -> None:
    """Every section of the script is served once, in its order: a part deleted (file and
    entry) or moved fails here, whether or not the browser tests reach its code."""
    text = source().decode("utf-8")
    at = [text.find(f"  /* ---------- {name}") for name in SECTIONS]
    assert -1 not in at, [name for name, i in zip(SECTIONS, at, strict=True) if i == -1]
    assert at == sorted(at)
    assert all(text.count(f"  /* ---------- {name}") == 1 for name in SECTIONS)


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_the_joined_parts_run_and_ask_for_the_settings(tmp_path: Path) -> None:
    """The whole script's top level runs in node (a syntax error where two parts meet, or a
    statement run before what it uses is defined, fails here), sets window.TrulyBot and asks
    for the settings; a refusal stops it there. The browser tests run the rest."""
    assert NODE is not None
    program = tmp_path / "page.js"
    program.write_bytes(PAGE_STUB.encode() + source())
    result = subprocess.run(
        [NODE, str(program)], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
    ran = json.loads(result.stdout)
    assert ran["version"] == "1"
    assert ran["fetched"] == ["https://bot.example/api/v1/widget/config"]
    assert len(ran["said"]) == 1
    assert "widget disabled: origin_not_allowed" in ran["said"][0]


def test_an_installed_wheel_serves_the_same_script(tmp_path: Path) -> None:
    """pyproject's package-data ships every part: the widget package of a built wheel (no
    checkout on the path) joins the same bytes. With ``static/*`` alone the parts' directory
    was left out of the wheel."""
    tree = tmp_path / "tree"
    tree.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tree / name)
    shutil.copytree(ROOT / "widget", tree / "widget", ignore=shutil.ignore_patterns("__pycache__"))
    built = subprocess.run(
        [sys.executable, "-c", "import sys; from setuptools import build_meta as b;"
         " print(b.build_wheel(sys.argv[1]))", str(tmp_path)],
        cwd=tree, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-4000:]
    wheel = tmp_path / built.stdout.strip().splitlines()[-1]
    installed = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(installed)
    served = subprocess.run(
        [sys.executable, "-I", "-c", "import sys; sys.path.insert(0, sys.argv[1]);"
         " from widget import script; assert script.__file__.startswith(sys.argv[1]);"
         " sys.stdout.buffer.write(script.source())", str(installed)],
        capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert served.returncode == 0, served.stderr.decode()[-4000:]
    assert served.stdout == source()
