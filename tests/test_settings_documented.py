"""Every setting is documented in .env.example, and default secrets are refused in production."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import pytest
from pydantic import ValidationError

from core.config import Settings
from tests.conftest import PRODUCTION_SERVICES

ROOT = Path(__file__).resolve().parent.parent


def test_every_setting_is_in_env_example() -> None:
    text = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, flags=re.MULTILINE))
    expected = {name.upper() for name in Settings.model_fields}
    assert sorted(expected - documented) == []


def test_production_refuses_the_default_jwt_secret() -> None:
    with pytest.raises(ValidationError, match="JWT_SECRET"):
        Settings(_env_file=None, environment="production")  # type: ignore[call-arg]
    ok = Settings(  # type: ignore[call-arg]
        _env_file=None,
        environment="production",
        jwt_secret=secrets.token_urlsafe(32),
        public_base_url="https://bot.example.com",
        **PRODUCTION_SERVICES,
    )
    assert not ok.is_development


def test_default_plan_is_a_known_plan_and_blank_means_free() -> None:
    """An unknown DEFAULT_PLAN is refused at start: workspaces made on it answered 500."""
    from typing import get_args

    from workspaces.plans import PLANS

    assert set(get_args(Settings.model_fields["default_plan"].annotation)) == set(PLANS)
    with pytest.raises(ValidationError, match="default_plan"):
        Settings(_env_file=None, default_plan="bogus")  # type: ignore[call-arg]
    assert Settings(_env_file=None, default_plan=" ").default_plan == "free"  # type: ignore[call-arg]
    assert Settings(_env_file=None, default_plan="pro").default_plan == "pro"  # type: ignore[call-arg]
