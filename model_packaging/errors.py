"""The one error packaging raises: a message for the user, no traceback."""

from __future__ import annotations


class PackagingError(Exception):
    """A packaging or upload step failed; ``str()`` says what, where, and what to do."""
