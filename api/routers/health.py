from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import RuntimeDep
from core.db_reach import sqlstate

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
