"""How large an audit's exact reference sets are (the truth draws them; the memory check sizes them).

Example:
    >>> reference_size(100), reference_size(1000), reference_size(10**6)
    (5000, 10000, 20000)
"""

from __future__ import annotations

__all__ = ["N_REFERENCE", "REFERENCE_PER_SAMPLE", "REFERENCE_MIN", "reference_size"]

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
