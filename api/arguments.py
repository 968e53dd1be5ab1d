"""Argument types shared by the `trulybot` subcommands."""

from __future__ import annotations

import argparse
from typing import Any


def bounded(kind: type[int] | type[float], low: float, high: float) -> Any:
    """An argparse type: a finite ``kind`` within [low, high], else a usage error (exit 2)."""

    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not low <= value <= high:  # also refuses nan
            raise argparse.ArgumentTypeError(f"{text} is not between {low:g} and {high:g}")
        return value

    return parse
