"""The password policy of accounts (signup, password change and reset, invitations):
moved verbatim from workspaces/service.py."""

from __future__ import annotations

from core.errors import ValidationFailed

COMMON_PASSWORD_WORDS = frozenset(
    {
        "password", "passw0rd", "qwerty", "letmein", "welcome", "admin", "administrator",
        "iloveyou", "trustno1", "monkey", "dragon", "football", "baseball", "sunshine",
        "princess", "superman", "master", "shadow", "login", "changeme", "secret", "trulybot",
    }
)  # fmt: skip
"""What the most guessed passwords are made of: one of these, alone or with digits and signs
around it ("password12", "Welcome2026!"), is among the first guesses of any attacker."""
_RUNS = ("0123456789", "abcdefghijklmnopqrstuvwxyz", "qwertyuiop", "asdfghjkl", "zxcvbnm")


def check_password_policy(password: str, email: str) -> None:
    problems = []
    if len(password) < 10:
        problems.append("must be at least 10 characters")
    if password.strip().casefold() in {email.casefold(), email.split("@")[0].casefold()}:
        problems.append("must not be your email address")
    if len(set(password)) < 4:
        problems.append("must not repeat one or two characters")
    folded = password.casefold()
    letters = "".join(ch for ch in folded if ch.isalpha())
    if password.isdigit():
        problems.append("must not be only digits")
    elif letters in COMMON_PASSWORD_WORDS or any(
        folded.strip() in run + run[::-1] for run in _RUNS
    ):
        problems.append("must not be a common password or a run of keys")
    if problems:
        raise ValidationFailed(
            "Password does not meet the policy",
            code="weak_password",
            details=[{"field": "password", "message": p} for p in problems],
        )
