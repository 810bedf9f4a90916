"""Up-front memory checks: refuse a scenario that cannot fit, before allocating it.

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
"""

from __future__ import annotations

import os
from typing import Callable

__all__ = ["available_bytes", "require", "human", "audit_bytes"]

BYTES = 8  # float64


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
    from samplerlab.sizes import reference_size

    return float((2 * reference_size(n) + n) * dim * BYTES)


def require(n_bytes: float, what: str, fail: Callable[[str, object], None]) -> None:
    """Call ``fail(expected, got)`` (which raises) when ``n_bytes`` exceed the available memory."""
    free = available_bytes()
    if n_bytes > free:
        fail(f"a size that fits in memory ({human(free)} available)", f"{what}: at least {human(n_bytes)}")
