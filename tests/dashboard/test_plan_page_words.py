"""The plan page speaks to the workspace's owner: no operator settings on a server without
billing, and the free plan's price reads "Free" (a reviewer's findings: "set RAZORPAY_KEY_ID",
"₹0 / monthly, ₹0 / yearly")."""

from __future__ import annotations

import re

from dashboard.web import month_name
from tests.dashboard.conftest import WebOwner


def _row(html: str, plan: str) -> str:
    rows = re.findall(r"<tr\b.*?</tr>", html, re.DOTALL)
    found = [r for r in rows if f'data-label="Plan">{plan}' in r]
    assert found, f"no {plan} row"
    return found[0]


async def test_an_owner_on_a_server_without_billing_reads_no_operator_settings(
    web: WebOwner,
) -> None:
    page = await web.client.get(web.url("plan"))
    assert page.status_code == 200
    assert "RAZORPAY" not in page.text
    assert "Upgrading is not available on this server yet" in page.text


async def test_the_free_plan_reads_free(web: WebOwner) -> None:
    page = await web.client.get(web.url("plan"))
    free = _row(page.text, "Free")
    assert '<td data-label="Price">Free</td>' in free
    assert "₹0" not in free
    # A paid plan keeps its prices, in words ("₹999 / monthly, ₹9,990 / yearly" before).
    assert "₹999 a month, ₹9,990 a year" in _row(page.text, "Starter")


async def test_the_usage_month_reads_as_a_person_says_it(web: WebOwner) -> None:
    """The usage heading said "Usage in 2026-12" (the counters' key): it names the month."""
    page = await web.client.get(web.url("plan"))
    assert page.status_code == 200
    heading = re.search(r'<h2 id="usage-h">(.*?)</h2>', page.text)
    assert heading, "no usage heading"
    months = "January|February|March|April|May|June|July|August|September|October|November|December"
    assert re.fullmatch(rf"Usage in ({months}) \d{{4}} on the \w+ plan", heading.group(1))


def test_a_month_key_is_named() -> None:
    assert month_name("2026-12") == "December 2026"
    assert month_name("2027-01") == "January 2027"
    assert month_name("2027-13") == "2027-13"  # not a month: as it came
    assert month_name("soon") == "soon"
