"""What can be bought: the public plans, their prices and the price of one order.

The plans themselves live in ``workspaces/plans.py`` (INR, paise); no database here.
"""

from __future__ import annotations

from billing.schemas import PlanOut
from core.errors import ValidationFailed
from workspaces.plans import PAID_PLANS, PLANS, Period

CURRENCY = "INR"


def purchasable(plan_code: str) -> bool:
    plan = PLANS.get(plan_code)
    if plan is None or not plan.public:
        return False
    return any(price > 0 for price in plan.prices.values())


def list_plans() -> list[PlanOut]:
    return [
        PlanOut(
            code=plan.code,
            name=plan.name,
            limits=dict(plan.limits),
            prices=dict(plan.prices),
            purchasable=purchasable(plan.code),
        )
        for plan in PLANS.values()
        if plan.public
    ]


def catalog_price(plan_code: str, period: Period) -> int:
    """The amount to charge, from the catalog; 422 for plans that cannot be bought."""
    plan = PLANS.get(plan_code)
    price = plan.price(period) if plan is not None and plan.public else None
    if price is None or price <= 0:
        raise ValidationFailed(
            f"The plan {plan_code!r} cannot be bought",
            code="plan_not_purchasable",
            details=[{"field": "plan", "message": "choose one of " + ", ".join(PAID_PLANS)}],
        )
    return price
