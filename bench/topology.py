"""The production topology on 127.0.0.1, started by our code with the real engines:

    python -m bench.topology up        # start everything, print the endpoints, leave it running
    python -m bench.topology down      # stop everything `up` started (its pid files)
    python -m bench.topology soak --seconds 120 [--write]    # bench/topology_soak.py
    python -m bench.topology throughput --seconds 5 [--write]

* a PostgreSQL primary: an embedded cluster (pgserver's binaries) with a data directory of its own
  under ``--dir`` (default .trulybot/topology), migrated, the app role created;
* one streaming replica of it made with ``pg_basebackup -R`` (tests/topology.py);
* Debian's PgBouncer in transaction mode in front of both (databases ``trulybot`` -> primary,
  ``trulybot_replica`` -> replica), run as the cluster's OS user (it refuses root);
* our own ``redis-server`` (append-only file, fsync at every write: a SIGKILL loses no queued job);
* two ``trulybot serve`` processes behind Debian's HAProxy, health-checked on ``/readyz`` every
  second (down after 2 failures, up after 2 successes);
* two ``trulybot worker`` processes;
* the fake OpenAI and Razorpay (tests/fakes) in a process of their own, or in the soak's process.

The app is configured as an operator would: ``DATABASE_URL`` through PgBouncer with
``DATABASE_POOLER=pgbouncer``, ``MIGRATION_DATABASE_URL`` straight to the primary,
``DATABASE_REPLICA_URL`` through PgBouncer to the replica, ``REDIS_URL``. Every process's pid and
command line go to ``<dir>/state.json``; logs to ``<dir>/logs``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.chat_servers import APP_ROLE, CONVERSATION_CAP_ENV, RATE_LIMIT_ENV, fake_reply
from bench.common import ROOT, add_write_options

DATABASE = "trulybot"
REPLICA_DATABASE = "trulybot_replica"
WEBHOOK_SECRET = "whsec_topology_0001"
JOB_TIMEOUT = 60
"""The workers' job timeout: a job of a killed worker runs again after it (and the workspace's
lease after it plus 60 s), so the soak's grace must outlast both. (15 s was too short on this
shared 2-core machine: a parse child's start alone took that long under load.)"""


def free_port() -> int:
    from tests.topology import free_port as pick

    return pick()


# --- the fakes -----------------------------------------------------------------------------------


@dataclass
class Fakes:
    openai_url: str
    razorpay_url: str
    key_id: str
    key_secret: str
    razorpay: Any = None  # the FakeRazorpay object when it runs in this process
    stoppers: list[Any] = field(default_factory=list)

    def stop(self) -> None:
        for fake in self.stoppers:
            fake.stop()


def start_fakes() -> Fakes:
    from tests.fakes.openai_server import FakeOpenAI
    from tests.fakes.razorpay_server import FakeRazorpay

    openai = FakeOpenAI(chat_reply=fake_reply).start()
    razorpay = FakeRazorpay().start()
    return Fakes(
        openai.base_url,
        razorpay.base_url,
        razorpay.key_id,
        razorpay.key_secret,
        razorpay,
        [openai, razorpay],
    )


def serve_fakes(ports_file: Path) -> None:
    """`up`'s fakes process: start them, say where they are, run until stopped."""
    fakes = start_fakes()
    ports_file.write_text(
        json.dumps({k: v for k, v in vars(fakes).items() if k not in ("razorpay", "stoppers")})
    )
    with contextlib.suppress(KeyboardInterrupt):
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    fakes.stop()


# --- processes -----------------------------------------------------------------------------------


@dataclass
class Topology:
    dir: Path
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def state_file(self) -> Path:
        return self.dir / "state.json"

    @property
    def logs(self) -> Path:
        return self.dir / "logs"

    def save(self) -> None:
        self.state_file.write_text(json.dumps(self.state, indent=2))

    @classmethod
    def load(cls, directory: Path) -> Topology:
        top = cls(directory)
        if top.state_file.exists():
            top.state = json.loads(top.state_file.read_text())
        return top

    # a process of ours: command, environment, pid
    def spawn(self, name: str, command: list[str], env: dict[str, str] | None = None) -> int:
        self.logs.mkdir(parents=True, exist_ok=True)
        log = (self.logs / f"{name}.log").open("ab")
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.state.setdefault("procs", {})[name] = {
            "pid": process.pid,
            "command": command,
            "env": env,
        }
        self.save()
        return process.pid

    def pid(self, name: str) -> int | None:
        entry = self.state.get("procs", {}).get(name)
        if name in ("primary", "replica"):
            pidfile = Path(self.state[name]["pgdata"]) / "postmaster.pid"
            with contextlib.suppress(OSError, ValueError):
                return int(pidfile.read_text().split()[0])
            return None
        return int(entry["pid"]) if entry else None

    def alive(self, name: str) -> bool:
        pid = self.pid(name)
        if pid is None:
            return False
        try:
            return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    def kill(self, name: str) -> None:
        """SIGKILL, the crash: the process and its children (a postmaster's backends too)."""
        pid = self.pid(name)
        if pid is None:
            return
        with contextlib.suppress(psutil.NoSuchProcess):
            process = psutil.Process(pid)
            family = [process, *process.children(recursive=True)]
            for p in family:
                with contextlib.suppress(psutil.NoSuchProcess):
                    p.kill()
            psutil.wait_procs(family, timeout=10)

    def restart(self, name: str) -> None:
        if name == "replica":
            self.replica().start()
            return
        entry = self.state["procs"][name]
        self.spawn(name, entry["command"], entry["env"])

    def stop(self, name: str, sig: int = signal.SIGTERM) -> None:
        pid = self.pid(name)
        if pid is None or not self.alive(name):
            return
        with contextlib.suppress(psutil.NoSuchProcess):
            process = psutil.Process(pid)
            process.send_signal(sig)
            try:
                process.wait(timeout=20)
            except psutil.TimeoutExpired:
                self.kill(name)

    def replica(self) -> Any:
        from tests.topology import Replica

        r = self.state["replica"]
        return Replica(Path(r["pgdata"]), int(r["port"]), Path(r["log"]), running=False)

    # --- up ------------------------------------------------------------------------------------

    async def up(self, fakes: Fakes | None = None) -> Fakes | None:
        """Start everything; with ``fakes`` (started by the caller) the app uses them, otherwise
        a fakes process of ours is started. Returns ``fakes``."""
        from core import migrate
        from core.embedded import ensure_database, start_embedded
        from tests.topology import socket_target, start_pgbouncer, start_replica, tcp_target

        if self.state_file.exists():
            raise SystemExit(f"{self.state_file} exists: `python -m bench.topology down` first")
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        self.state = {"started": time.time()}
        # The primary: pgserver's cluster, left running when this process exits.
        pgdata = self.dir / "primary"
        _handle, socket_dir = start_embedded(pgdata, keep_running=True)
        owner = f"postgresql+asyncpg://postgres@/{DATABASE}?host={socket_dir}"
        self.state["primary"] = {
            "pgdata": str(pgdata),
            "socket_dir": socket_dir,
            "owner_url": owner,
        }
        self.save()
        await ensure_database(socket_dir, DATABASE)
        await migrate.ensure_app_role(owner, APP_ROLE)
        await migrate.upgrade(owner, app_role=APP_ROLE)
        replica = start_replica(socket_dir, self.dir / "replica" / "pgdata")
        self.state["replica"] = {
            "pgdata": str(replica.pgdata),
            "port": replica.port,
            "log": str(replica.log),
        }
        self.save()
        bouncer = start_pgbouncer(
            self.dir / "pgbouncer",
            {
                DATABASE: socket_target(socket_dir, DATABASE),
                REPLICA_DATABASE: tcp_target(replica.port, DATABASE),
            },
            pool_size=20,
        )
        self.state["procs"] = {
            "pgbouncer": {"pid": bouncer.process.pid, "command": [], "env": None}
        }
        self.state["pgbouncer_port"] = bouncer.port
        self.save()
        redis_port = free_port()
        redis_dir = self.dir / "redis"
        redis_dir.mkdir()
        self.spawn(
            "redis",
            [
                shutil.which("redis-server") or "redis-server",
                "--port", str(redis_port), "--bind", "127.0.0.1", "--dir", str(redis_dir),
                "--appendonly", "yes", "--appendfsync", "always", "--save", "",
                "--protected-mode", "no",
            ],
        )  # fmt: skip
        self.state["redis_url"] = f"redis://127.0.0.1:{redis_port}/0"
        if fakes is None:
            ports = self.dir / "fakes.json"
            self.spawn("fakes", [sys.executable, "-m", "bench.topology", "fakes", str(ports)])
            await _wait(lambda: ports.exists(), "the fakes process", self.logs / "fakes.log")
            fakes = Fakes(**json.loads(ports.read_text()))
        env = self.app_env(
            bouncer.url(APP_ROLE, DATABASE), owner, bouncer.url(APP_ROLE, REPLICA_DATABASE)
        )
        env.update(
            {
                "OPENAI_BASE_URL": fakes.openai_url,
                "RAZORPAY_KEY_ID": fakes.key_id,
                "RAZORPAY_KEY_SECRET": fakes.key_secret,
                "RAZORPAY_BASE_URL": fakes.razorpay_url,
            }
        )
        ports = [free_port(), free_port()]
        for i, port in enumerate(ports):
            self.spawn(
                f"api{i}", [sys.executable, "-m", "api.cli", "serve", "--port", str(port)], env
            )
        for i in range(2):
            worker = [sys.executable, "-m", "api.cli", "worker", "--job-timeout", str(JOB_TIMEOUT)]
            self.spawn(f"worker{i}", worker, env)
        self.state["api_ports"] = ports
        async with httpx.AsyncClient(timeout=2) as client:
            for i, port in enumerate(ports):
                await _wait_ready(client, f"http://127.0.0.1:{port}", self.logs / f"api{i}.log")
        lb_port, stats_port = free_port(), free_port()
        config = self.dir / "haproxy.cfg"
        config.write_text(haproxy_config(lb_port, ports, stats_port))
        self.state["stats"] = f"http://127.0.0.1:{stats_port}/stats;csv"
        self.spawn("haproxy", [shutil.which("haproxy") or "haproxy", "-f", str(config), "-db"])
        self.state["balancer"] = f"http://127.0.0.1:{lb_port}"
        self.save()
        async with httpx.AsyncClient(timeout=2) as client:
            await _wait_ready(client, self.state["balancer"], self.logs / "haproxy.log")
        return fakes

    def app_env(self, app_url: str, owner_url: str, replica_url: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_"))}
        env.update(
            {
                "DATA_DIR": str(self.dir / "app"),
                "ENVIRONMENT": "development",
                "SEED_DEMO": "false",
                "DEFAULT_PLAN": "unlimited",
                "EMBEDDING_PROVIDER": "hash",
                "OPENAI_API_KEY": "topology-key",
                "DATABASE_URL": app_url,
                "DATABASE_POOLER": "pgbouncer",
                "MIGRATION_DATABASE_URL": owner_url,
                "DATABASE_REPLICA_URL": replica_url,
                "APP_DB_ROLE": APP_ROLE,
                "REDIS_URL": self.state["redis_url"],
                "RAZORPAY_WEBHOOK_SECRET": WEBHOOK_SECRET,
                "HF_HUB_OFFLINE": "1",
                "TOKENIZERS_PARALLELISM": "false",
                "LOG_LEVEL": "WARNING",
                "DB_POOL_SIZE": "10",
                "DB_MAX_OVERFLOW": "10",
                **RATE_LIMIT_ENV,
                **CONVERSATION_CAP_ENV,
            }
        )
        return env

    # --- down ----------------------------------------------------------------------------------

    def down(self) -> None:
        """Stop what `up` started, the front first, the databases last."""
        if not self.state:
            print(f"nothing to stop ({self.state_file} not found)")
            return
        for name in ("haproxy", "api0", "api1", "worker0", "worker1", "fakes", "redis"):
            self.stop(name, signal.SIGINT if name.startswith(("api", "fakes")) else signal.SIGTERM)
        self.stop("pgbouncer", signal.SIGINT)
        if "replica" in self.state:
            replica = self.replica()
            replica.running = True  # pg_ctl stop, whatever state it is in
            replica.stop()
        if "primary" in self.state:
            from tests.clusters import stop_clusters

            stop_clusters(Path(self.state["primary"]["pgdata"]))
        self.state_file.unlink(missing_ok=True)
        print(f"stopped; data and logs left in {self.dir}")


def haproxy_config(port: int, api_ports: list[int], stats_port: int) -> str:
    # Fail open: when every API process fails its readiness check at once (a database blip; a
    # Redis outage did too before /readyz reported it as degraded), the unchecked backups still
    # serve.
    servers = "".join(
        f"  server api{i} 127.0.0.1:{p} check\n  server api{i}-open 127.0.0.1:{p} backup\n"
        for i, p in enumerate(api_ports)
    )
    return (
        "global\n  maxconn 4000\n\n"
        "defaults\n  mode http\n  timeout connect 2s\n  timeout client 60s\n"
        "  timeout server 60s\n  retries 2\n  option redispatch\n\n"
        f"frontend api\n  bind 127.0.0.1:{port}\n  default_backend trulybot\n\n"
        "backend trulybot\n  balance roundrobin\n  option httpchk GET /readyz\n"
        "  option allbackups\n"
        "  http-check expect status 200\n  default-server inter 1s fall 2 rise 2\n"
        + servers
        + f"\nlisten stats\n  bind 127.0.0.1:{stats_port}\n  stats enable\n  stats uri /stats\n"
    )


async def _wait(ready: Any, what: str, log: Path, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not ready():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not ready after {seconds:.0f} s; see {log}")
        await asyncio.sleep(0.3)


async def _wait_ready(
    client: httpx.AsyncClient, base: str, log: Path, seconds: float = 120
) -> None:
    deadline = time.monotonic() + seconds
    while True:
        with contextlib.suppress(httpx.HTTPError):
            if (await client.get(base + "/readyz")).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{base} not ready after {seconds:.0f} s; see {log}")
        await asyncio.sleep(0.3)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["up", "down", "soak", "throughput", "fakes"])
    parser.add_argument("ports_file", nargs="?", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, default=ROOT / ".trulybot" / "topology")
    parser.add_argument("--seconds", type=float, default=60.0)
    add_write_options(parser, default=False)
    parser.add_argument("--keep", action="store_true", help="leave the topology up afterwards")
    parser.add_argument("--no-faults", action="store_true", help="soak: kill nothing")
    args = parser.parse_args(argv)
    if args.command == "fakes":
        serve_fakes(args.ports_file)
        return
    top = Topology.load(args.dir)
    if args.command == "down":
        top.down()
        return
    if args.command == "up":
        asyncio.run(top.up())
        print(json.dumps({k: top.state[k] for k in ("balancer", "redis_url", "api_ports")}))
        print(f"running; `python -m bench.topology down --dir {args.dir}` stops it")
        return
    from bench import topology_soak

    topology_soak.main(top, args)


if __name__ == "__main__":
    main()
