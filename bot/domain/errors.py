"""Errors a service raises when a request cannot be honoured; handlers turn them into replies."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every refusal a person should hear about in their own language."""


class NotAllowed(DomainError):
    """The person lacks the role this action needs."""


class NotFound(DomainError):
    """The thing named does not exist (or is not visible to this person)."""


class InvalidInput(DomainError):
    """The arguments do not make sense; nothing was changed."""
