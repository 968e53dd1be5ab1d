"""Subcommands of `trulybot`: each module here defines ``register(subparsers)``."""
