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


def test_blank_values_of_env_example_mean_the_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """deploy.md calls .env.example "the reference with the defaults": copied to .env with only
    OPENAI_API_KEY filled in, OPENAI_BASE_URL= was taken as the address of every model call
    (each failed; visitors got the fallback answer, the start line said "(OpenAI)")."""
    from rag.chat.llm import OpenAIChatLLM

    text = (ROOT / ".env.example").read_text()
    blank = re.findall(r"^([A-Z][A-Z0-9_]+)=$", text, flags=re.MULTILINE)
    assert "OPENAI_BASE_URL" in blank
    for name in re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, flags=re.MULTILINE):
        monkeypatch.delenv(name, raising=False)  # the file alone decides
    env = tmp_path / ".env"
    env.write_text(text.replace("\nOPENAI_API_KEY=\n", "\nOPENAI_API_KEY=sk-test-key\n"))
    settings = Settings(_env_file=str(env))  # type: ignore[call-arg]
    for name in blank:
        if name == "OPENAI_API_KEY":
            continue
        field = Settings.model_fields[name.lower()]
        assert getattr(settings, name.lower()) == field.get_default(call_default_factory=True), name
    llm = OpenAIChatLLM.from_settings(settings)
    assert str(llm.client.base_url).startswith("https://api.openai.com"), llm.client.base_url


def test_openai_base_url_must_be_an_http_url() -> None:
    with pytest.raises(ValidationError, match="openai_base_url"):
        Settings(_env_file=None, openai_base_url="api.example.com/v1")  # type: ignore[call-arg]
    gateway = Settings(_env_file=None, openai_base_url=" http://gw:8000/v1 ")  # type: ignore[call-arg]
    assert gateway.openai_base_url == "http://gw:8000/v1"
