"""Every setting is documented in .env.example, and default secrets are refused in production."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import pytest
from pydantic import ValidationError

from core.config import Settings

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
    )
    assert not ok.is_development
