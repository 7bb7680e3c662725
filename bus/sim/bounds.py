"""Range checks shared by the scenario parameter Structs.

Each raises ``ValueError`` naming the field, which msgspec turns into a
validation error carrying the field's path, as for a rules file.
"""

from __future__ import annotations


def check_at_least(params: object, minimum: int, *fields: str) -> None:
    """Every named field of ``params`` is at least ``minimum``."""
    for name in fields:
        if getattr(params, name) < minimum:
            raise ValueError(f"{name} must be at least {minimum}")


def check_fractions(params: object, *fields: str) -> None:
    """Every named field of ``params`` is a probability, between 0 and 1."""
    for name in fields:
        if not 0.0 <= getattr(params, name) <= 1.0:
            raise ValueError(f"{name} must be between 0 and 1")
