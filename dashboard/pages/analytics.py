"""Analytics: what the bot did over the last 7, 30 or 90 days, read from the same service as
``GET /workspaces/{id}/analytics`` (the daily rollup): conversations per day, the share each
stage answered, the answer rate, feedback, the unanswered trend and the top questions. Charts are
inline SVG (dashboard/charts.py), each with its figures as a table too."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response

from api.deps import SessionDep
from api.schedule import ANALYTICS_EVERY
from core.models import utcnow
from dashboard import charts
from dashboard.page_route import PageRoute
from dashboard.pages.common import PageDep
from dashboard.web import render
from rag.chat import analytics

router = APIRouter(route_class=PageRoute)

RANGES = (7, 30, 90)
Days = Literal["7", "30", "90"]
STAGE_LABELS = {
    "faq": "FAQ",
    "cache": "Cache (an earlier answer reused)",
    "rag": "Retrieval (from your documents)",
    "fallback": "Fallback (no answer found, or small talk)",
    "handoff": "Handed to a human",
    "refused": "Refused (the output guard withheld the answer)",
}


def _day_name(day: date) -> str:
    return f"{day.day} {day:%b}"


def _charts(report: dict[str, Any], days: int) -> dict[str, Any]:
    """The two daily charts, drawn from the report's per-day figures."""
    per_day = report["days"]
    return {
        "conversations": charts.bar_chart(
            f"Conversations per day, last {days} days",
            [(_day_name(d["day"]), d["conversations"]) for d in per_day],
            chart_id="chart-conversations",
        ),
        "unanswered": charts.bar_chart(
            f"Unanswered questions per day, last {days} days",
            [(_day_name(d["day"]), d["unanswered"]) for d in per_day],
            chart_id="chart-unanswered",
            hatched=True,
        ),
    }


@router.get("/w/{workspace_id}/analytics")
async def analytics_page(
    request: Request,
    page: PageDep,
    session: SessionDep,
    range_days: Annotated[
        Days, Query(alias="days", description="The last 7, 30 or 90 days")
    ] = "30",
) -> Response:
    days = int(range_days)
    today = utcnow().date()
    span = analytics.date_range(today - timedelta(days=days - 1), today, today=today)
    report = await analytics.report(session, page.access, span=span)
    return render(
        request,
        "analytics.html",
        {
            "page": page,
            "days": days,
            "ranges": RANGES,
            "report": report,
            "stage_labels": STAGE_LABELS,
            "charts": _charts(report, days),
            "refresh_minutes": int(ANALYTICS_EVERY.total_seconds() // 60),
        },
    )
