"""Pydantic's validation errors in the words a form shows beside its field.

Pydantic words its errors for a developer ("String should have at least 10 characters",
"value is not a valid email address: An email address must have an @-sign."); an owner filling
in a form gets a sentence that says what to do. A validator's own message (``Value error,
...``, the service's text) is kept as it is written.
"""

from __future__ import annotations

from typing import Any

_BY_TYPE = {
    "missing": "Fill this in.",
    "string_type": "Fill this in.",
    "url_parsing": "Enter a web address like https://example.com.",
    "url_scheme": "Enter a web address that starts with https:// or http://.",
    "int_parsing": "Enter a whole number.",
    "int_type": "Enter a whole number.",
    "int_from_float": "Enter a whole number.",
    "float_parsing": "Enter a number.",
    "bool_parsing": "Choose yes or no.",
    "enum": "Choose one of the options.",
    "literal_error": "Choose one of the options.",
}

# A number's bound by error type: the bound's key in the error's context, and its words.
_BOUNDS = {
    "greater_than_equal": ("ge", "at least {}"),
    "less_than_equal": ("le", "at most {}"),
    "greater_than": ("gt", "above {}"),
    "less_than": ("lt", "below {}"),
}


def plain_message(err: Any) -> str:
    """One of ``ValidationError.errors()`` as a sentence for the form."""
    kind = str(err.get("type", ""))
    ctx = err.get("ctx") or {}
    message = str(err.get("msg", ""))
    if kind == "string_too_short":
        least = ctx.get("min_length", 1)
        return "Fill this in." if least == 1 else f"Use at least {least} characters."
    if kind == "string_too_long":
        return f"Use at most {ctx.get('max_length')} characters."
    # A list is a textarea of one item per line on these forms (other phrasings, suggested
    # questions): "List should have at most 20 items after validation, not 21" before.
    if kind == "too_long":
        return f"Use at most {ctx.get('max_length')} lines ({ctx.get('actual_length')} given)."
    if kind == "too_short":
        return f"Use at least {ctx.get('min_length')} lines."
    if kind in _BOUNDS:  # "Input should be greater than or equal to 1" before
        key, words = _BOUNDS[kind]
        return f"Enter a number {words.format(ctx.get(key))}."
    if message.startswith("value is not a valid email address"):
        return "Enter an email address like name@example.com."
    if kind in _BY_TYPE:
        return _BY_TYPE[kind]
    return message.removeprefix("Value error, ")
