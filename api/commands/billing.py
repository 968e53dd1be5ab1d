"""`trulybot billing reconcile`: apply payments Razorpay captured but no webhook reported."""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import Any

from api.arguments import bounded
from api.stop_signal import run_command
from billing import reconcile_resume
from billing.reconcile import ReconcileReport, reconcile
from billing.signatures import BillingDisabled
from core.config import Settings, get_settings


async def run_reconcile(
    settings: Settings, *, older_than_minutes: float, limit: int, within_days: float = 7.0
) -> ReconcileReport:
    from api.runtime import build_runtime
    from api.start_checks import check_schema

    async with build_runtime(settings) as runtime:
        # An unmigrated database (or one behind this release) in one line, as the other tools
        # say it: it was a traceback ending in 'relation "billing_orders" does not exist'.
        await check_schema(runtime.db)
        if runtime.payments is None:
            raise BillingDisabled("Billing is not configured: set RAZORPAY_KEY_ID and _SECRET")
        # A run stopped by Razorpay (429, 401) is taken up after the last item (deferred
        # charge or order) it checked (kept in Redis; without it each run starts from the oldest).
        report = await reconcile(
            runtime.db,
            runtime.payments,
            older_than=timedelta(minutes=older_than_minutes),
            within=timedelta(days=within_days),
            limit=limit,
            resume_after=await reconcile_resume.load(runtime.redis),
        )
        await reconcile_resume.save(runtime.redis, report.resume_after)
        return report


STOPPED = (
    "trulybot billing reconcile: stopped by {signal}: the payment under way was rolled back,"
    " those applied before stay applied: run it again (it starts where the last run that ended"
    " left off; a payment already applied is known)"
)


def _reconcile(args: argparse.Namespace) -> int:
    if args.older_than_minutes >= args.within_days * 24 * 60:
        raise SystemExit(
            "trulybot billing reconcile: --older-than-minutes must be under --within-days"
            " (no order could be both)"
        )
    settings = get_settings()
    if not settings.billing_enabled:
        print("billing is disabled: set RAZORPAY_KEY_ID and RAZORPAY_KEY_SECRET")
        return 2
    report = run_command(
        run_reconcile(
            settings,
            older_than_minutes=args.older_than_minutes,
            limit=args.limit,
            within_days=args.within_days,
        ),
        STOPPED,
    )
    for line in report.details:
        print(f"  {line}")
    print(summary(report))
    return exit_code(report)


def summary(report: ReconcileReport) -> str:
    """The run's last line: its counts, and what a stopped run left for the next one."""
    line = (
        f"orders checked: {report.orders_checked}, payments seen: {report.payments_seen}, "
        f"deferred charges checked: {report.deferred_checked}, "
        f"deferred unsettled: {report.deferred_unsettled}, "
        f"applied: {report.applied}, ignored: {report.ignored}, rejected: {report.rejected}, "
        f"already known: {report.duplicates}, provider errors: {report.provider_errors}"
        f" (refused by Razorpay: {report.provider_refused})"
    )
    if report.stopped:
        line += (
            f", not checked (run stopped): {report.orders_left} orders,"
            f" {report.deferred_left} deferred charges"
        )
    return line


def exit_code(report: ReconcileReport) -> int:
    """1: an order or a deferred charge could not be checked (Razorpay unreachable,
    refusing, or rate limiting or refusing the keys, which stops the run: the lines say
    which); else 3: a deferred charge Razorpay answered for is left
    unsettled (no invoice names it), for the operator to look at; else 0. docs/billing.md."""
    if report.provider_errors:
        return 1
    return 3 if report.deferred_unsettled else 0


def register(subparsers: Any) -> None:
    billing = subparsers.add_parser("billing", help="billing operations (Razorpay)")
    sub = billing.add_subparsers(dest="billing_command", required=True)
    rec = sub.add_parser(
        "reconcile",
        help="fetch the payments of orders still pending and apply what webhooks missed",
        epilog="exit codes: 0 all checked; 1 an order or deferred charge could not be checked"
        " (Razorpay unreachable or refusing; its 429 or 401 stops the run); 3 a deferred"
        " charge no invoice names; 2 usage",
    )
    rec.add_argument(
        "--older-than-minutes",
        type=bounded(float, 0, 7 * 24 * 60),
        default=30.0,
        help="only orders created at least this long ago (default 30)",
    )
    rec.add_argument(
        "--within-days",
        type=bounded(float, 1 / 24, 366),
        default=7.0,
        help="only orders created at most this long ago (default 7: an abandoned order is not"
        " looked up forever)",
    )
    rec.add_argument(
        "--limit",
        type=bounded(int, 1, 100_000),
        default=500,
        help="orders (and deferred recurring charges) listed at a time (default 500); a run"
        " checks every pending order and deferred charge of the window, page by page",
    )
    rec.set_defaults(func=_reconcile)
