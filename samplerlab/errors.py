"""Errors raised by audits.

Example:
    >>> err = SamplerError("sampler 'dps' returned 3 non-finite values in 2000×80 samples")
    >>> str(err), err.partial_report is None
    ("sampler 'dps' returned 3 non-finite values in 2000×80 samples", True)
"""

from __future__ import annotations

__all__ = ["SamplerError"]


class SamplerError(Exception):
    """A sampler raised or returned unusable output; ``partial_report`` keeps what was computed."""

    def __init__(self, message: str, partial_report=None):
        super().__init__(message)
        self.partial_report = partial_report
