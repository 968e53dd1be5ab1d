"""A setting's name misspelt in the environment or in .env: pydantic-settings ignores names it
does not know, so `REDIS_ULR=...` ran the worker as if no Redis were configured ("REDIS_URL is
not set") and `LOGLEVEL=DEBUG` changed nothing, with no word about either. Every command now
says, at start, which names it ignored and which setting each looks like."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from api import cli
from core.config import get_settings
from core.setting_names import misspelt_settings


@pytest.fixture(autouse=True)
def _fresh_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)  # no .env of the checkout
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LOG_JSON", "true")
    monkeypatch.delenv("REDIS_URL", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _warnings(out: str) -> list[str]:
    records = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [r["event"] for r in records if r.get("logger") == "trulybot.settings"]


def test_a_misspelt_name_in_the_environment_is_named_with_the_setting_it_looks_like(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REDIS_ULR", "redis://:hunter2pw@127.0.0.1:6379/0")
    monkeypatch.setenv("TRULYBOT_SMTP_URL", "smtp://mail.example.com")
    with pytest.raises(SystemExit) as refused:
        cli.main(["worker"])
    assert "REDIS_URL is not set" in str(refused.value.code)
    said = _warnings(capsys.readouterr().out)
    assert said == [
        "REDIS_ULR (in the environment) is not a setting and is ignored: did you mean REDIS_URL?",
        "TRULYBOT_SMTP_URL (in the environment) is not a setting and is ignored: did you mean"
        " SMTP_URL?",
    ]
    assert "hunter2pw" not in "".join(said)  # the names only, never the values


def test_every_unknown_name_in_the_env_file_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / ".env").write_text(
        "LOGLEVEL=DEBUG\nRAZORPAY_SECRET=rzp-hunter2pw\nMY_OWN_THING=1\nLOG_JSON=true\n"
    )
    with pytest.raises(SystemExit):
        cli.main(["worker"])
    said = _warnings(capsys.readouterr().out)
    assert said == [
        "LOGLEVEL (in .env) is not a setting and is ignored: did you mean LOG_LEVEL?",
        "MY_OWN_THING (in .env) is not a setting and is ignored (every setting is in .env.example)",
        "RAZORPAY_SECRET (in .env) is not a setting and is ignored: did you mean"
        " RAZORPAY_KEY_SECRET?",
    ]


def test_names_of_other_programs_in_the_environment_are_left_alone() -> None:
    """The process environment holds every program's variables: only a near miss of a
    setting's name is said. A setting in any case is a setting (pydantic-settings reads
    names case-insensitively)."""
    environ = dict.fromkeys(
        (
            "PATH",
            "HOME",
            "HOSTNAME",
            "REDIS_HOST",
            "REDIS_PASSWORD",
            "SENTRY_RELEASE",
            "SENTRY_ENVIRONMENT",
            "HF_HUB_OFFLINE",
            "PROMETHEUS_MULTIPROC_DIR",
            "TRULYBOT_TEST_REDIS_URL",
            "WEB_CONCURRENCY",
            "redis_url",
            "DATABASE_URL",
        ),
        "x",
    )
    assert misspelt_settings(environ, {}) == []


def test_a_refusal_for_a_missing_setting_names_the_misspelt_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Production refuses to start without DATABASE_URL: set as DATABASE_URI, the refusal
    named only the setting missing, and no warning had been logged yet."""
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("DATABASE_URI", "postgresql://app:hunter2pw@db/trulybot")
    with pytest.raises(SystemExit) as refused:
        cli.main(["worker"])
    said = str(refused.value.code)
    assert said.startswith("trulybot worker: the settings are not valid"), said
    assert said.endswith(
        "\n  DATABASE_URI (in the environment) is not a setting and is ignored: did you mean"
        " DATABASE_URL?"
    ), said
    assert "hunter2pw" not in said


def test_kubernetes_service_links_are_no_misspelt_settings() -> None:
    """Kubernetes gives every pod ``<SERVICE>_PORT=tcp://<ip>:<port>`` for each service of its
    namespace: with the app's own service named ``trulybot``, every command warned
    "TRULYBOT_PORT ... did you mean PORT?" (and, for a service named ``database``,
    "DATABASE_PORT ... did you mean DATABASE_POOLER?"). A misspelt name is still named."""
    environ = {
        "TRULYBOT_PORT": "tcp://10.96.12.7:8000",
        "TRULYBOT_PORT_8000_TCP": "tcp://10.96.12.7:8000",
        "TRULYBOT_SERVICE_HOST": "10.96.12.7",
        "TRULYBOT_SERVICE_PORT": "8000",
        "DATABASE_PORT": "tcp://10.96.3.2:5432",
        "REDIS_PORT": "udp://[fd00::5]:6379",
        "REDIS_ULR": "redis://10.96.4.1:6379/0",
    }
    assert misspelt_settings(environ, {}) == [
        "REDIS_ULR (in the environment) is not a setting and is ignored: did you mean REDIS_URL?"
    ]
    # A name the operator wrote, with a value of their own, is still said.
    assert misspelt_settings({"TRULYBOT_PORT": "8080"}, {}) == [
        "TRULYBOT_PORT (in the environment) is not a setting and is ignored: did you mean PORT?"
    ]
