"""On-disk cache of Monte Carlo nulls that depend only on (posterior, n, seed).

Replicates of a statistic under exact posterior draws (the distribution check's, the stop-time
sweep's and the stop-time profile's) depend only on the exact posterior, ``n``, the audit seed and the
code that draws them, so :func:`cached` keeps them as one ``.npz`` per entry in :func:`cache_dir`
(``$SAMPLERLAB_CACHE``; ``off`` disables the cache), named by a hash that includes
:func:`posterior_fingerprint`. An entry that fails its key, checksum or shape checks is rebuilt;
a folder that cannot be written is skipped.

Derivation and details: docs/notes/diagnostics_cache.md.

Example:
    >>> import os, tempfile, numpy as np
    >>> from samplerlab import GaussianMixture, InverseProblem
    >>> from samplerlab.operators import Identity
    >>> old = os.environ.get("SAMPLERLAB_CACHE")
    >>> os.environ["SAMPLERLAB_CACHE"] = tempfile.mkdtemp()
    >>> problem = InverseProblem(GaussianMixture([1.0], [[0.0]], [1.0]), Identity(1), 1.0, [0.5])
    >>> calls = []
    >>> build = lambda: calls.append(1) or {"v": np.arange(3.0)}
    >>> a = cached(problem, "demo", {"n": 10}, build, shapes={"v": 3})
    >>> b = cached(problem, "demo", {"n": 10}, build, shapes={"v": 3})
    >>> len(calls), b["v"].tolist()
    (1, [0.0, 1.0, 2.0])
    >>> _ = os.environ.pop("SAMPLERLAB_CACHE") if old is None else os.environ.update(SAMPLERLAB_CACHE=old)
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

__all__ = ["cached", "cache_dir", "posterior_fingerprint"]

# Source files whose code determines the cached values: editing any of them invalidates the cache.
_SOURCES = ("diagnostics/distribution.py", "diagnostics/early_stopping.py", "diagnostics/stop_profile.py",
            "diagnostics/stop_nulls.py", "diagnostics/truth.py", "diagnostics/cache.py", "core/mixture.py",
            "core/covariance.py", "core/problem.py", "core/tweedie.py", "core/tweedie_logits.py",
            "core/schedules.py", "core/logspace.py", "core/precision.py", "core/memory.py")


def cache_dir() -> Path | None:
    """The cache folder, or ``None`` when ``SAMPLERLAB_CACHE=off``."""
    env = os.environ.get("SAMPLERLAB_CACHE")
    if env is not None:
        return None if env.strip().lower() in ("off", "0", "false", "") else Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "samplerlab"


@functools.lru_cache(maxsize=1)
def _code_tag() -> str:
    import samplerlab

    root = Path(samplerlab.__file__).parent
    h = hashlib.blake2b(samplerlab.__version__.encode(), digest_size=16)
    for rel in _SOURCES:
        h.update((root / rel).read_bytes())
    return h.hexdigest()


def posterior_fingerprint(problem) -> str:
    """Hash of the exact posterior's content, dtype and device type."""
    post = problem.posterior()
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{post.dtype}|{post.device.type}|{post.dim}|{post.n_components}".encode())
    cov = post.cov_factors
    for t in (post.log_weights, post.means, getattr(cov, "lam", None), getattr(cov, "basis", None)):
        if t is not None:
            h.update(t.detach().contiguous().cpu().numpy().tobytes())
    h.update(type(cov).__name__.encode())
    return h.hexdigest()


def _checksum(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.blake2b(digest_size=16)
    for name in sorted(arrays):
        h.update(name.encode())
        h.update(np.ascontiguousarray(arrays[name], dtype=np.float64).tobytes())
    return h.hexdigest()


def _valid(arrays: dict, shapes: dict[str, int]) -> bool:
    return all(name in arrays and arrays[name].shape == (size,) and np.isfinite(arrays[name]).all()
               for name, size in shapes.items())


def _load(path: Path, key: str, shapes: dict[str, int]) -> dict | None:
    try:
        with np.load(path, allow_pickle=False) as f:
            meta = json.loads(str(f["__meta__"]))
            arrays = {k: np.array(f[k], dtype=np.float64) for k in f.files if k != "__meta__"}
    except Exception:  # unreadable or corrupt: rebuilt
        return None
    if meta.get("key") != key or meta.get("checksum") != _checksum(arrays) or not _valid(arrays, shapes):
        return None
    return arrays


def _store(path: Path, key: str, arrays: dict[str, np.ndarray]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = json.dumps({"key": key, "checksum": _checksum(arrays)})
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, __meta__=np.array(meta), **arrays)
        os.replace(tmp, path)
    except OSError:  # a read-only or full cache folder: the values are still returned
        try:
            os.unlink(tmp)
        except (OSError, UnboundLocalError):
            pass


def cached(problem, purpose: str, params: dict, build: Callable[[], dict], shapes: dict[str, int]) -> dict:
    """``build()`` (a dict of 1-D float arrays), read from / written to the on-disk cache."""
    folder = cache_dir()
    if folder is None:
        return {k: np.asarray(v, dtype=np.float64) for k, v in build().items()}
    key = json.dumps({"code": _code_tag(), "posterior": posterior_fingerprint(problem), "purpose": purpose,
                      "params": params}, sort_keys=True)
    path = folder / f"{purpose}-{hashlib.blake2b(key.encode(), digest_size=16).hexdigest()}.npz"
    hit = _load(path, key, shapes) if path.is_file() else None
    if hit is not None:
        return hit
    arrays = {k: np.asarray(v, dtype=np.float64) for k, v in build().items()}
    if _valid(arrays, shapes):
        _store(path, key, arrays)
    return arrays
