"""Placeholder: the commands of this group are being written (replaced by its issue's work)."""

from __future__ import annotations


def register(app) -> None:
    return None
