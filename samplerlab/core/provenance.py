"""Content hashes that say what an audit audited: the sampler's source, the scenario, the code.

A report records them (:func:`samplerlab.auditing.pipeline.run` puts them in ``meta["provenance"]``) and a
sweep keys its cells by them (:func:`samplerlab.studies.sweep_spec.cell_key`), so an edited sampler file,
an edited scenario file or an edited samplerlab means a recomputed cell, never a reused one.

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "s.py"
    >>> _ = path.write_text("x = 1\\n")
    >>> a = file_hash(path); _ = path.write_text("x = 2\\n")
    >>> a == file_hash(path), len(a)
    (False, 20)
    >>> json_safe({"zeta": 0.5, "shape": (2, 3), "f": len})
    {'zeta': 0.5, 'shape': [2, 3], 'f': 'builtins.len'}
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import hashlib
import inspect
import json
import math
import sys
from pathlib import Path

__all__ = ["file_hash", "text_hash", "code_hash", "object_source_hash", "json_safe", "command_line", "command"]

_COMMAND: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("samplerlab_command", default=None)


def command_line() -> list[str]:
    """The command that started this audit: the one :func:`command` declares (the command line
    run in-process), else the process's ``sys.argv``."""
    return list(_COMMAND.get() or sys.argv)


@contextlib.contextmanager
def command(argv: list[str]):
    """Record ``argv`` as the command line of the audits run inside the block."""
    token = _COMMAND.set(list(argv))
    try:
        yield
    finally:
        _COMMAND.reset(token)


def text_hash(data: bytes | str) -> str:
    """A short content hash (blake2b, 10 bytes, hex)."""
    return hashlib.blake2b(data.encode() if isinstance(data, str) else data, digest_size=10).hexdigest()


def file_hash(path) -> str:
    """The content hash of one file."""
    return text_hash(Path(path).read_bytes())


@functools.lru_cache(maxsize=1)
def code_hash() -> str:
    """The hash of samplerlab's own source: every ``.py`` file and shipped scenario of the package,
    with its version. Any edit to the audit's code changes it."""
    import samplerlab

    root = Path(samplerlab.__file__).parent
    h = hashlib.blake2b(samplerlab.__version__.encode(), digest_size=10)
    for path in sorted(p for p in root.rglob("*") if p.suffix in (".py", ".toml") and p.is_file()):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def object_source_hash(obj) -> tuple[str | None, str | None]:
    """``(hash, path)`` of the file that defines ``obj`` (its class for an instance; a module's own
    file), or of its
    source text when it has no file; ``(None, None)`` when neither can be read (a built-in, a
    lambda typed at a prompt)."""
    plain = inspect.isclass(obj) or inspect.isfunction(obj) or inspect.ismethod(obj) or inspect.ismodule(obj)
    target = obj if plain else type(obj)
    try:
        path = inspect.getsourcefile(target)
        if path and Path(path).is_file():
            return file_hash(path), str(path)
    except TypeError:
        pass
    try:
        return text_hash(inspect.getsource(target)), None
    except (OSError, TypeError):
        return None, None


def json_safe(value):
    """``value`` with everything JSON cannot hold turned into its ``repr`` (tuples into lists,
    non-finite floats into strings, functions and classes into their qualified names), so a record
    of parameters serialises the same way in every process."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if callable(value) and hasattr(value, "__qualname__"):  # a name, not a repr with a memory address
        return f"{getattr(value, '__module__', None) or '?'}.{value.__qualname__}"
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return repr(value)
