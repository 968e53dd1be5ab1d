"""Tests of the DB-independent ingestion building blocks."""
