"""Sizes and memory: how large an audit's exact reference sets are, and up-front memory checks
that refuse a scenario that cannot fit before allocating it.

A scenario file can ask for far more memory than the machine has — a random prior with full
covariances at d = 100,000 holds ``K d²`` numbers (80 GB), and a 2,000,000-dimensional problem
needs gigabytes per reference draw set once audited. Left alone, such a file fails deep inside
torch with a raw allocation error, or swaps the machine for hours. :func:`require` compares an
estimate with the memory the system reports available and raises one line naming the file, the
field and both sizes.

The estimates are lower bounds of what building and auditing allocate, so a refusal is always
justified; a scenario that passes may still be slow.

Example:
    >>> human(80e9)
    '80.0 GB'
    >>> require(1e3, "a tiny prior", lambda expected, got: None)  # fits: returns quietly
    >>> reference_size(100), reference_size(1000), reference_size(10**6)
    (5000, 10000, 20000)
"""

from __future__ import annotations

import os
from typing import Callable

__all__ = ["available_bytes", "require", "human", "audit_bytes", "N_REFERENCE", "REFERENCE_PER_SAMPLE",
           "REFERENCE_MIN", "reference_size"]

BYTES = 8  # float64
N_REFERENCE = 20_000  # at most this many exact draws per reference set (thresholds; reference counts)
REFERENCE_PER_SAMPLE = 10  # otherwise ten per audited sample ...
REFERENCE_MIN = 5_000  # ... and at least this many (five draws below the 0.1 % threshold)


def reference_size(n: int) -> int:
    """Exact draws per reference set for an audit of ``n`` samples: ``10 n`` within ``[5,000, 20,000]``.

    The reference sets are the truth's largest cost (each draw is evaluated against all K
    components), so their size follows ``n``: an audit's cost stays linear in ``n·K·d``. The tests
    that use them condition on the pooled counts (hypergeometric), so they are exact for any size;
    ten reference draws per sample keep ≥ 90 % of the information of an infinite reference.
    """
    return int(min(N_REFERENCE, max(REFERENCE_MIN, REFERENCE_PER_SAMPLE * int(n))))


def available_bytes() -> float:
    """Memory the system can give this process now (``MemAvailable``; all RAM where unknown)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return float(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return float("inf")


def human(n_bytes: float) -> str:
    """``n_bytes`` in GB (or MB below one GB), one decimal."""
    return f"{n_bytes / 1e9:.1f} GB" if n_bytes >= 1e9 else f"{n_bytes / 1e6:.1f} MB"


def audit_bytes(n: int, dim: int) -> float:
    """A lower bound on an audit's working memory at ``n`` samples in ``dim`` dimensions: the
    truth's two reference sets (at least 5,000 exact draws each) and the samples."""
    return float((2 * reference_size(n) + n) * dim * BYTES)


def require(n_bytes: float, what: str, fail: Callable[[str, object], None]) -> None:
    """Call ``fail(expected, got)`` (which raises) when ``n_bytes`` exceed the available memory."""
    free = available_bytes()
    if n_bytes > free:
        fail(f"a size that fits in memory ({human(free)} available)", f"{what}: at least {human(n_bytes)}")
