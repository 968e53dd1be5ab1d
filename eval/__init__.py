"""Retrieval evaluation sets (JSON lines) and the stdlib-only helpers that describe them."""
