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
NONE = "\N{EN DASH}"
"""What docs/deploy.md's table shows for a setting with no default."""


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


def test_every_value_in_env_example_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """.env.example says "unset values use the defaults shown": each value it shows is the one a
    process without it uses."""
    text = (ROOT / ".env.example").read_text()
    for name in re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, flags=re.MULTILINE):
        monkeypatch.delenv(name, raising=False)
    shown = Settings(_env_file=str(ROOT / ".env.example"))  # type: ignore[call-arg]
    unset = Settings(_env_file=None)  # type: ignore[call-arg]
    differ = [
        name for name in Settings.model_fields if getattr(shown, name) != getattr(unset, name)
    ]
    assert differ == []


def deploy_table() -> list[tuple[list[str], str]]:
    """(names, default) of each row of docs/deploy.md's table of every variable."""
    text = (ROOT / "docs" / "deploy.md").read_text()
    table = text[text.index("| variable | default |") :]
    rows = []
    for row in table[: table.index("\n\n")].splitlines()[2:]:
        cells = [cell.strip() for cell in row.strip("|").split(" | ")]
        rows.append((re.findall(r"`([A-Z][A-Z0-9_]+)`", cells[0]), cells[1]))
    return rows


def _shows(shown: str, value: object) -> bool:
    """Whether the table's ``shown`` default ("1 MiB", a dash, "0 (one per core)") is ``value``."""
    shown = re.sub(r"\s*\(.*\)$", "", shown)
    if shown == NONE:
        return value in (None, "", [], ())
    if unit := re.fullmatch(r"(\d+) (KiB|MiB)", shown):
        return int(unit.group(1)) * {"KiB": 1024, "MiB": 1024 * 1024}[unit.group(2)] == value
    if isinstance(value, bool):
        return shown == str(value).lower()
    if isinstance(value, int | float):
        return shown.replace(".", "", 1).isdigit() and float(shown) == value
    return shown == str(getattr(value, "value", value))


def test_deploy_md_names_every_setting_with_its_default() -> None:
    """docs/deploy.md's table ("every variable") shows each setting once, with the default a
    process without it uses."""
    named: list[str] = []
    wrong = []
    for names, shown in deploy_table():
        named += names
        values = shown.split(", ") if shown != NONE else [NONE] * len(names)
        if len(values) == 1 and len(names) > 1:
            values *= len(names)
        if rate := re.fullmatch(r"(.*) (/\w+)", shown):  # "20, 60, 600 /minute"
            values = [f"{v}{rate.group(2)}" for v in rate.group(1).split(", ")]
        assert len(values) == len(names), (names, shown)
        for name, value in zip(names, values, strict=True):
            default = Settings.model_fields[name.lower()].get_default(call_default_factory=True)
            if not (name == "JWT_SECRET" and value == "generated") and not _shows(value, default):
                wrong.append(f"{name}: {value!r} shown, {default!r} used")
    assert wrong == []
    assert sorted(named) == sorted(name.upper() for name in Settings.model_fields)


def test_the_documented_bounds_are_the_settings_bounds() -> None:
    """The ranges .env.example and docs/deploy.md give ("1 to 3650", "0-23", "at most 30"):
    the ends are taken, one past them stops the start."""
    bounds = {
        "refresh_token_ttl_days": (1, 3650),
        "web_session_ttl_days": (1, 3650),
        "session_max_days": (1, 3650),
        "email_verification_ttl_hours": (1, 720),
        "invitation_ttl_days": (1, 90),
        "notification_digest_hour": (0, 23),
        "max_page_size": (1, 1000),
        "max_message_chars": (1, 100_000),
        "history_turns": (0, 100),
        "retrieval_k": (1, 50),
        "llm_max_tokens": (1, 100_000),
        "cache_ttl_seconds": (1, 31_536_000),
        "request_timeout_seconds": (0, 3600),
        "db_pool_timeout_seconds": (None, 300),
        "razorpay_timeout_seconds": (None, 30),
        "worker_redis_patience_seconds": (0.5, 600),
    }
    for name, (low, high) in bounds.items():
        for value in (low, high):
            if value is not None:
                Settings(_env_file=None, **{name: value})  # type: ignore[call-arg]
        for value in (low - 1 if low is not None else None, high + 1 if high else None):
            if value is not None:
                with pytest.raises(ValidationError, match=name):
                    Settings(_env_file=None, **{name: value})  # type: ignore[call-arg]
