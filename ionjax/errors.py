"""Errors a user can fix."""

from __future__ import annotations

__all__ = ["ConfigError"]


class ConfigError(ValueError):
    """A link/network configuration problem: names the key, the value and the allowed range.

    A ``ValueError``, so ``except ValueError`` catches it too; the CLI prints it
    without a traceback and exits with status 2.
    """
