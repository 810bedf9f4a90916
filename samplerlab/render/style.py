"""The one matplotlib/seaborn set-up every figure uses: a non-interactive backend and one theme."""

from __future__ import annotations

__all__ = ["pyplot"]


def pyplot():
    """``(matplotlib.pyplot, seaborn)`` with the Agg backend and the whitegrid theme (imported on first use)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="notebook")
    return plt, sns
