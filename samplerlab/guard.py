"""Guards around a sampler's run: the problem stays unchanged, the global RNGs are seeded and watched.

Two ways a sampler can corrupt an audit without changing its samples' look:

* **Writing into what it is given.** The task hands the sampler a *copy* of ``y`` (and a fresh
  time grid), so nothing it does to them reaches the exact reference. The operator is shared (a
  copy of a large dense operator would double its memory), so :func:`problem_state` takes a
  fingerprint of ``y`` and of the operator's action on two fixed probe vectors before the run, and
  :func:`changed` says what differs after it; the audit then stops with a one-line error naming
  the sampler.
* **Drawing from the global RNG.** A sampler should take every random number from the
  ``generator`` it is passed. One that calls ``torch.randn`` without it, or ``numpy.random``,
  would give different verdicts for the same audit seed. :func:`seeded_globals` seeds torch's and
  numpy's global generators from the audit seed for the run (so the audit stays reproducible),
  restores them afterwards, and records which ones the sampler drew from; the report's
  ``meta["global_rng"]`` and its summary say so.

Example:
    >>> import torch
    >>> with seeded_globals(seed=0) as used:
    ...     _ = torch.randn(2)
    >>> used
    ['torch']
"""

from __future__ import annotations

import contextlib
import zlib

import numpy as np
import torch

__all__ = ["problem_state", "changed", "seeded_globals"]


def problem_state(problem) -> dict:
    """What a sampler must not change: ``y`` and the operator's action on two fixed probes."""
    g = torch.Generator().manual_seed(20_240_601)
    probe = torch.randn(2, problem.dim, generator=g, dtype=torch.float64).to(problem.y)
    with torch.no_grad():
        action = problem.operator.forward(probe)
    return {"y": problem.y.detach().clone(), "operator": action.detach().clone()}


def changed(problem, before: dict) -> list[str]:
    """The parts of ``problem`` that differ from ``before`` (``[]`` when untouched)."""
    after = problem_state(problem)
    return [f"its {'observation y' if k == 'y' else 'operator A'}" for k in before
            if before[k].shape != after[k].shape or not torch.equal(before[k], after[k])]


def _numpy_state() -> tuple:
    state = np.random.get_state()
    return state[0], state[1].copy(), state[2], state[3], state[4]


def _same_numpy(a: tuple, b: tuple) -> bool:
    return a[0] == b[0] and np.array_equal(a[1], b[1]) and a[2:] == b[2:]


@contextlib.contextmanager
def seeded_globals(seed: int, device=None):
    """Seed torch's (CPU and, if used, CUDA) and numpy's global RNGs from ``seed`` for the block,
    restore them afterwards, and yield a list that names those the block drew from."""
    derived = (int(seed) * 1_000_003 + zlib.crc32(b"global-rng")) % (2**32 - 1)
    cuda = device is not None and torch.device(device).type == "cuda" and torch.cuda.is_available()
    used: list[str] = []
    np_saved = np.random.get_state()
    with torch.random.fork_rng(devices=[torch.device(device).index or 0] if cuda else []):
        torch.manual_seed(derived)
        np.random.seed(derived)
        cpu0 = torch.random.get_rng_state()
        cuda0 = torch.cuda.get_rng_state() if cuda else None
        np0 = _numpy_state()
        try:
            yield used
        finally:
            if not torch.equal(cpu0, torch.random.get_rng_state()) or (
                    cuda and not torch.equal(cuda0, torch.cuda.get_rng_state())):
                used.append("torch")
            if not _same_numpy(np0, _numpy_state()):
                used.append("numpy")
            np.random.set_state(np_saved)
