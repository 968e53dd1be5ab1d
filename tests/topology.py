"""Parts of the production topology, started from our code on 127.0.0.1 for the tests and the
bench scripts: Debian's PgBouncer in front of a PostgreSQL cluster, and a streaming read replica
of the embedded cluster made with ``pg_basebackup -R`` (pgserver's own binaries).

Each part runs as the embedded cluster's OS user (``pgserver``, when this process is root: the
data directories are that user's and PgBouncer refuses to run as root) and is stopped by its
``stop()``; ``stop_all_started()`` is the session-end safety net (tests/conftest.py calls it).

    bouncer = start_pgbouncer(workdir, {"trulybot": socket_target(pg.socket_dir, "trulybot")})
    bouncer.url("trulybot_app", "trulybot")        # postgresql+asyncpg://...@127.0.0.1:PORT/...
    replica = start_replica(pg.socket_dir, workdir / "replica")
    replica.url("trulybot_app", "trulybot")
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tests.ports import free_port

CLUSTER_USER = "pgserver"
"""The OS user pgserver runs PostgreSQL as when started by root."""

STARTED: list[PgBouncer | Replica] = []


def run_as() -> str | None:
    """The OS user to run the parts as: ``pgserver`` when we are root, else ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(CLUSTER_USER)
    except KeyError as exc:
        raise RuntimeError(f"no OS user {CLUSTER_USER!r}: start the embedded cluster") from exc
    return CLUSTER_USER


def give_to_cluster_user(path: Path, mode: int = 0o700) -> None:
    user = run_as()
    path.mkdir(parents=True, exist_ok=True)
    if user:
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)
    path.chmod(mode)


def postgres_bin_dir() -> Path:
    """pgserver's PostgreSQL binaries (postgres, pg_ctl, pg_basebackup, pg_dump...)."""
    from pgserver._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def pgbouncer_binary() -> str | None:
    return shutil.which("pgbouncer") or next(
        (p for p in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if Path(p).exists()), None
    )


def _wait_for_port(port: int, process: subprocess.Popen[bytes] | None, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"exited with {process.returncode}: {_tail(log)}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after 30 s: {_tail(log)}")


def _tail(log: Path) -> str:
    try:
        return log.read_text(errors="replace")[-2000:]
    except OSError:
        return "(no log)"


# --- PgBouncer -------------------------------------------------------------------------------


def socket_target(socket_dir: str, database: str, port: int = 5432) -> str:
    """A PgBouncer ``[databases]`` entry for a cluster on a Unix socket (the embedded one)."""
    return f"host={socket_dir} port={port} dbname={database}"


def tcp_target(port: int, database: str, host: str = "127.0.0.1") -> str:
    return f"host={host} port={port} dbname={database}"


@dataclass
class PgBouncer:
    process: subprocess.Popen[bytes]
    port: int
    workdir: Path
    log: Path

    def url(self, role: str, database: str) -> str:
        return f"postgresql+asyncpg://{role}@127.0.0.1:{self.port}/{database}"

    def log_text(self) -> str:
        return _tail(self.log)

    def stop(self) -> None:
        """SIGINT: PgBouncer's safe shutdown (waits for the transactions in flight)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self in STARTED:
            STARTED.remove(self)


def start_pgbouncer(
    workdir: Path,
    databases: Mapping[str, str],
    *,
    users: tuple[str, ...] = ("trulybot_app", "postgres"),
    pool_mode: str = "transaction",
    pool_size: int = 5,
    max_client_conn: int = 500,
    port: int | None = None,
    extra: Mapping[str, str] | None = None,
) -> PgBouncer:
    """Debian's PgBouncer on 127.0.0.1 (a free port unless given), in ``pool_mode``, for
    ``databases`` (name -> ``socket_target``/``tcp_target``). Clients authenticate by ``trust``
    (the embedded cluster trusts local connections too); ``users`` may log in and connect
    to the server as themselves. ``extra``: more ``[pgbouncer]`` settings."""
    give_to_cluster_user(workdir, 0o755)
    port = port or free_port()
    userlist = workdir / "userlist.txt"
    userlist.write_text("".join(f'"{user}" ""\n' for user in users))
    settings = {
        "listen_addr": "127.0.0.1",
        "listen_port": str(port),
        "unix_socket_dir": "",
        "auth_type": "trust",
        "auth_file": str(userlist),
        "pool_mode": pool_mode,
        "default_pool_size": str(pool_size),
        "max_client_conn": str(max_client_conn),
        "admin_users": "postgres",
        "stats_users": "postgres",
        "server_lifetime": "3600",
        "log_connections": "0",
        "log_disconnections": "0",
        **(extra or {}),
    }
    ini = (
        "[databases]\n"
        + "".join(f"{name} = {target}\n" for name, target in databases.items())
        + "\n[pgbouncer]\n"
        + "".join(f"{key} = {value}\n" for key, value in settings.items())
    )
    userlist.chmod(0o644)
    return launch_pgbouncer(workdir, ini, port)


def launch_pgbouncer(workdir: Path, ini_text: str, port: int) -> PgBouncer:
    """PgBouncer on ``ini_text`` (written to ``workdir/pgbouncer.ini``), as the cluster's OS user,
    once it listens on 127.0.0.1:``port`` (which the ini must name); its refusal to start raises
    with the log's end (a FATAL about the configuration, say)."""
    binary = pgbouncer_binary()
    if binary is None:
        raise FileNotFoundError("pgbouncer is not installed (apt-get install pgbouncer)")
    ini = workdir / "pgbouncer.ini"
    ini.write_text(ini_text)
    ini.chmod(0o644)
    log = workdir / "pgbouncer.log"
    user = run_as()
    command = [binary, *(["-u", user] if user else []), str(ini)]
    with log.open("ab") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    bouncer = PgBouncer(process=process, port=port, workdir=workdir, log=log)
    STARTED.append(bouncer)
    try:
        _wait_for_port(port, process, log)
    except Exception:
        bouncer.stop()
        raise
    return bouncer


# --- a streaming read replica ----------------------------------------------------------------


@dataclass
class Replica:
    pgdata: Path
    port: int
    log: Path
    running: bool = field(default=True)

    def url(self, role: str, database: str) -> str:
        return f"postgresql+asyncpg://{role}@127.0.0.1:{self.port}/{database}"

    def _pg_ctl(self, *args: str) -> None:
        _run([str(postgres_bin_dir() / "pg_ctl"), "-D", str(self.pgdata), *args])

    def start(self) -> None:
        """Start (or start again) the replica on 127.0.0.1:``port``, waiting until it accepts
        connections (a hot standby does once it reached a consistent state)."""
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.pgdata}"
            " -c hot_standby=on -c hot_standby_feedback=on"
        )
        self._pg_ctl("-w", "-t", "60", "-l", str(self.log), "-o", options, "start")
        self.running = True
        if self not in STARTED:
            STARTED.append(self)

    def stop(self) -> None:
        """A fast shutdown (what a crash of the replica's host looks like to the app: the port
        refuses connections)."""
        if self.running:
            with contextlib.suppress(subprocess.CalledProcessError):
                self._pg_ctl("-w", "-t", "60", "-m", "fast", "stop")
            self.running = False

    def destroy(self) -> None:
        self.stop()
        if self in STARTED:
            STARTED.remove(self)
        shutil.rmtree(self.pgdata, ignore_errors=True)
        self.log.unlink(missing_ok=True)


def _run(command: list[str]) -> None:
    subprocess.run(command, check=True, capture_output=True, user=run_as(), timeout=600)


def start_replica(
    primary_socket_dir: str,
    pgdata: Path,
    *,
    primary_port: int = 5432,
    port: int | None = None,
    superuser: str = "postgres",
) -> Replica:
    """A streaming replica of the cluster on ``primary_socket_dir``: ``pg_basebackup -R``
    (``standby.signal`` and ``primary_conninfo`` written for us; WAL streamed during the copy)
    into ``pgdata``, then started on a free port. The primary needs ``wal_level`` replica and
    ``max_wal_senders`` > 0 (PostgreSQL's defaults) and a ``replication`` line in pg_hba.conf
    (initdb's trust default, which pgserver uses)."""
    if pgdata.exists():
        shutil.rmtree(pgdata)
    give_to_cluster_user(pgdata.parent, 0o755)
    log = pgdata.parent / f"{pgdata.name}.log"
    log.touch()
    if user := run_as():
        entry = pwd.getpwnam(user)
        os.chown(log, entry.pw_uid, entry.pw_gid)
    try:
        _run(
            [
                str(postgres_bin_dir() / "pg_basebackup"),
                "-h",
                primary_socket_dir,
                "-p",
                str(primary_port),
                "-U",
                superuser,
                "-D",
                str(pgdata),
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
            ]
        )
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(f"pg_basebackup failed: {exc.stderr.decode(errors='replace')}") from exc
    replica = Replica(pgdata=pgdata, port=port or free_port(), log=log, running=False)
    try:
        replica.start()
    except subprocess.CalledProcessError as exc:
        replica.destroy()
        raise RuntimeError(f"the replica did not start: {_tail(log)}") from exc
    return replica


def stop_all_started() -> None:
    """Every PgBouncer and replica this process started and did not stop yet."""
    for part in list(reversed(STARTED)):
        with contextlib.suppress(Exception):
            part.stop()
    STARTED.clear()
