"""Benchmarks: each script prints a table and writes its section of docs/benchmarks.md."""
