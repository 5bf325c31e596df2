"""Errors raised by the CGW benchmark; each message says what was wrong and how to fix it."""

from __future__ import annotations


class CGWError(Exception):
    """Base class for errors of the Chehrazi–Glynn–Weber benchmark."""


class CGWParameterError(CGWError, ValueError):
    """A model, grid or action-set parameter is out of its allowed range."""


class CGWConvergenceError(CGWError, RuntimeError):
    """The exact solver did not converge within its iteration budget."""
