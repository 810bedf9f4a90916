"""samplerlab's errors: one hierarchy, caught once at each surface (CLI, pytest fixture, sweep).

* :class:`SamplerlabError` — the root.
* :class:`InputError` — bad input from the user (a scenario file, a sampler reference, a sweep
  spec, an option): the CLI prints its one-line message and exits 2. Subclasses name the layer:
  :class:`ScenarioError`, :class:`SamplerRefError`, :class:`SweepSpecError`. They are also
  ``ValueError``\\ s, so ``except ValueError`` keeps working.
* :class:`SamplerError` — the audited sampler raised or returned unusable output (also exit 2),
  with the partial report of what was computed before.

Example:
    >>> err = SamplerError("sampler 'dps' returned 3 non-finite values in 2000×80 samples")
    >>> str(err), err.partial_report is None, isinstance(ScenarioError("x"), InputError)
    ("sampler 'dps' returned 3 non-finite values in 2000×80 samples", True, True)
"""

from __future__ import annotations

__all__ = ["SamplerlabError", "InputError", "ScenarioError", "SamplerRefError", "SweepSpecError", "SamplerError"]


class SamplerlabError(Exception):
    """Root of samplerlab's errors."""


class InputError(SamplerlabError, ValueError):
    """Bad user input; the message is one line naming the input, the field and what was expected."""


class ScenarioError(InputError):
    """A scenario file is invalid; the message is one line naming the file, the field and what was expected."""


class SamplerRefError(InputError):
    """A sampler reference cannot be resolved (unknown name, missing attribute, bad parameters)."""


class SweepSpecError(InputError):
    """A sweep spec is invalid (file, key, expected vs got)."""


class SamplerError(SamplerlabError):
    """A sampler raised or returned unusable output; ``partial_report`` keeps what was computed."""

    def __init__(self, message: str, partial_report=None):
        super().__init__(message)
        self.partial_report = partial_report
