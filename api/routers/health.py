from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import RuntimeDep
from api.runtime import Runtime
from core.db_reach import sqlstate
from core.worker_presence import SEEN_SECONDS, workers_seen

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def _database_problem(exc: BaseException) -> str:
    code = sqlstate(exc)
    if code == "42501":
        return "the app role has no privileges on the tables: run `trulybot migrate` (APP_DB_ROLE)"
    if code == "42P01":
        return "not migrated: run `trulybot migrate`"
    return f"unavailable: {type(exc).__name__}"


NO_WORKER = (
    f"none seen in {SEEN_SECONDS} s: uploads stay queued, no mail is sent and no periodic job"
    " runs until a `trulybot worker` takes the queue"
)


NO_WORKER_COUNT = (
    "unknown: Redis did not say in time how many workers take the queue ({reason});"
    " uploads, mail and periodic jobs may be waiting"
)


async def _worker_check(runtime: Runtime) -> str | None:
    """The ``worker`` line: ``ok``, none seen, or unknown when Redis (which answered its ping)
    did not answer the count within 0.5 s (the line was left out, as if jobs ran in this
    process); None when they do (no queue to take)."""
    try:
        seen = await asyncio.wait_for(workers_seen(runtime.redis, runtime.jobs), timeout=0.5)
    except Exception as exc:
        return NO_WORKER_COUNT.format(reason=type(exc).__name__)
    if seen is None:
        return None
    return "ok" if seen else NO_WORKER


@router.get("/readyz")
async def readyz(runtime: RuntimeDep) -> JSONResponse:
    checks: dict[str, str] = {}
    ok = True
    try:
        await asyncio.wait_for(runtime.db.ping(), timeout=3)
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = _database_problem(exc)
        ok = False
    degraded = False
    if runtime.redis is not None:
        # Reported, never a reason to leave the balancer: every API process loses Redis at
        # once, and each serves on its in-process fallbacks (limits, cache); uploads whose
        # job cannot be queued end failed with queue_unavailable. Failing here took every
        # process out of the balancer for the whole outage.
        try:
            # Well inside a probe's usual 1 s timeout: a blackholed Redis must not make the
            # check itself time out, which a balancer reads as not ready.
            await asyncio.wait_for(runtime.redis.ping(), timeout=0.5)
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"unavailable: {type(exc).__name__} (in-process fallbacks)"
            degraded = True
        else:
            if (worker := await _worker_check(runtime)) is not None:
                # Reported, not a reason to leave the balancer: the API serves; the jobs
                # (ingestion, mail, periodic work) wait in Redis for a worker.
                checks["worker"] = worker
                degraded = worker != "ok"
    else:
        checks["redis"] = "not configured (in-process fallbacks)"
    replica: dict[str, Any] | None = None
    if runtime.reads.enabled:
        # Reported, never a reason to leave the balancer: without the replica (down or
        # lagging) its reads go to the primary.
        replica = (await runtime.reads.status()).as_dict()
        checks["replica"] = replica["state"]
    if ok:
        body: dict[str, Any] = {"status": "degraded" if degraded else "ready", "checks": checks}
        if replica is not None:
            body["replica"] = replica
        return JSONResponse(body)
    return JSONResponse(
        {
            "error": {
                "code": "not_ready",
                "message": "A dependency is unavailable",
                "details": checks,
            }
        },
        status_code=503,
        headers={"Retry-After": "5"},
    )
