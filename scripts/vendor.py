"""Vendor the dashboard's browser libraries from the npm registry, checked against a lock file.

    python scripts/vendor.py            # fetch each pinned package with `npm pack`, extract the one
                                        # file, check its sha256 against the lock, write it
    python scripts/vendor.py --update   # the same, recording the sha256 of what was fetched
                                        # (after changing a version in the lock on purpose)
    python scripts/vendor.py --check    # offline: the committed files match the lock

The lock (``dashboard/static/vendor/vendor.lock.json``) names, for each file: the npm package, its
exact version, the file inside the package, where it goes under the vendor directory and its
sha256. Nothing is fetched at run time: the files are committed and served by the app.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENDOR_DIR = ROOT / "dashboard" / "static" / "vendor"
LOCK = VENDOR_DIR / "vendor.lock.json"


@dataclass(frozen=True)
class Entry:
    package: str
    version: str
    source: str
    """The file's path inside the package tarball (under ``package/``)."""
    dest: str
    """The file's name under the vendor directory."""
    sha256: str

    @classmethod
    def of(cls, raw: dict[str, str]) -> Entry:
        return cls(
            package=raw["package"],
            version=raw["version"],
            source=raw["source"],
            dest=raw["dest"],
            sha256=raw["sha256"],
        )


def read_lock(path: Path = LOCK) -> list[Entry]:
    return [Entry.of(raw) for raw in json.loads(path.read_text())["files"]]


def write_lock(entries: list[Entry], path: Path = LOCK) -> None:
    files = [entry.__dict__ for entry in entries]
    path.write_text(json.dumps({"files": files}, indent=2) + "\n")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check(vendor_dir: Path = VENDOR_DIR, lock: Path = LOCK) -> list[str]:
    """The problems with the committed files (empty when each matches its lock entry)."""
    problems = []
    for entry in read_lock(lock):
        path = vendor_dir / entry.dest
        if not path.is_file():
            problems.append(f"{entry.dest}: missing (run scripts/vendor.py)")
        elif (digest := sha256(path.read_bytes())) != entry.sha256:
            problems.append(f"{entry.dest}: sha256 {digest} != locked {entry.sha256}")
    return problems


def fetch(entry: Entry, workdir: Path) -> bytes:
    """The file ``entry.source`` of ``package@version``, through `npm pack`."""
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("npm is needed to vendor packages (it is not needed to run the app)")
    spec = f"{entry.package}@{entry.version}"
    result = subprocess.run(  # noqa: S603 - a fixed program and a spec from our own lock
        [npm, "pack", spec, "--silent", "--pack-destination", str(workdir)],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"npm pack {spec} failed: {result.stderr.strip()}")
    tarball = workdir / result.stdout.strip().splitlines()[-1]
    with tarfile.open(tarball) as archive:
        member = archive.extractfile(f"package/{entry.source}")
        if member is None:
            raise SystemExit(f"{spec} has no file {entry.source}")
        return member.read()


def vendor(*, update: bool) -> int:
    entries = read_lock()
    VENDOR_DIR.mkdir(parents=True, exist_ok=True)
    updated = []
    with tempfile.TemporaryDirectory(prefix="vendor-") as tmp:
        for entry in entries:
            data = fetch(entry, Path(tmp))
            digest = sha256(data)
            if digest != entry.sha256 and not update:
                print(
                    f"{entry.package}@{entry.version} {entry.source}: sha256 {digest} does not "
                    f"match the lock ({entry.sha256}); nothing written",
                    file=sys.stderr,
                )
                return 1
            (VENDOR_DIR / entry.dest).write_bytes(data)
            updated.append(Entry(**{**entry.__dict__, "sha256": digest}))
            print(f"{entry.dest}: {entry.package}@{entry.version} ({len(data)} bytes, {digest})")
    if update:
        write_lock(updated)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="verify the committed files, offline")
    mode.add_argument("--update", action="store_true", help="record the fetched files' sha256")
    args = parser.parse_args(argv)
    if args.check:
        problems = check()
        for problem in problems:
            print(problem, file=sys.stderr)
        if not problems:
            print(f"{len(read_lock())} vendored file(s) match {LOCK.relative_to(ROOT)}")
        return 1 if problems else 0
    return vendor(update=args.update)


if __name__ == "__main__":
    raise SystemExit(main())
