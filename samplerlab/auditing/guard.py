"""Guards around a sampler's run: the problem stays unchanged, the global RNGs are seeded and watched.

Two ways a sampler can corrupt an audit without changing its samples' look:

* **Writing into what it is given.** The task hands the sampler a *copy* of ``y`` (and a fresh
  time grid), so nothing it does to them reaches the exact reference. The operator, its cached
  factorisations (``svd()``) and the schedule are shared — with the exact reference and with
  every later audit of the same problem in the process (a copy of a large dense operator would
  double its memory) —, so :func:`problem_state` takes a :func:`fingerprint` of each before the
  run: ``y``, the operator's action (forward and adjoint) on two fixed probe vectors, every
  cached factorisation (one created during the run is compared with the fingerprint the operator
  took when it computed it), the schedule's attributes and the time grid. :func:`changed` says
  what differs after the run; the audit then stops with a one-line error naming the sampler, after
  :func:`restore` has undone what can be undone (a corrupted factorisation is dropped, to be
  recomputed; the schedule gets its own values back), so the next audit in the process is not
  poisoned.
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

from samplerlab.operators.fingerprint import fingerprint

__all__ = ["fingerprint", "problem_state", "changed", "restore", "seeded_globals"]

_SIMPLE = (int, float, complex, str, bytes, bool, type(None), tuple, frozenset)


def _same(a, b) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape
                and a.dtype == b.dtype and torch.equal(a, b))
    return a == b if isinstance(a, _SIMPLE) else a is b


def _schedule_state(schedule) -> dict:
    """The schedule's attributes: its tables copied (they are small), other values as they are."""
    return {k: v.detach().clone() if isinstance(v, torch.Tensor) else v for k, v in vars(schedule).items()}


def problem_state(problem, task=None) -> dict:
    """What a sampler must not change: ``y``, the operator's action on two fixed probes (forward
    and adjoint), its cached factorisations and, given the ``task``, its schedule and time grid."""
    g = torch.Generator().manual_seed(20_240_601)
    op = problem.operator
    probe = torch.randn(2, problem.dim, generator=g, dtype=torch.float64).to(problem.y)
    back = torch.randn(2, op.out_dim, generator=g, dtype=torch.float64).to(problem.y)
    with torch.no_grad():
        action = torch.cat([op.forward(probe).flatten(), op.adjoint(back).flatten()])
    state = {"y": problem.y.detach().clone(), "operator": action.detach().clone(),
             "cached": {k: fingerprint(v) for k, v in op.cached().items()}}
    if task is not None:
        state["schedule"] = _schedule_state(task.schedule)
        state["grid"] = task.timesteps.detach().clone()
    return state


def _changed_parts(problem, before: dict, task=None) -> dict[str, list[str]]:
    after = problem_state(problem, task)
    seals = problem.operator.seals()
    parts = {}
    for key in ("y", "operator", "grid"):
        if key in before and not _same(before[key], after[key]):
            parts[key] = []
    cached = [k for k, v in after["cached"].items() if not _same(before["cached"].get(k, seals.get(k)), v)]
    if cached:
        parts["cached"] = cached
    if "schedule" in before:
        now = after["schedule"]
        sched = [k for k, v in before["schedule"].items() if k not in now or not _same(v, now[k])]
        if sched:
            parts["schedule"] = sched
    return parts


_WHAT = {"y": "its observation y", "operator": "its operator A", "grid": "its time grid"}


def changed(problem, before: dict, task=None) -> list[str]:
    """The parts of ``problem`` (and of ``task``'s schedule and grid) that differ from ``before``
    (``[]`` when untouched), in words: ``"its operator's cached svd().S"``, ...

    Example:
        >>> from samplerlab import GaussianMixture, InverseProblem
        >>> from samplerlab.operators import Dense
        >>> problem = InverseProblem(GaussianMixture([1.0], [[0.0, 0.0]], [1.0]), Dense([[1.0, 2.0]]), 0.5, [1.0])
        >>> task = problem.task(steps=10)
        >>> before = problem_state(problem, task)
        >>> _ = task.operator.svd().S.mul_(2.0)
        >>> changed(problem, before, task)
        ["its operator's cached svd().S"]
    """
    out = []
    for key, names in _changed_parts(problem, before, task).items():
        if key == "cached":
            out.append("its operator's cached " + ", ".join(names))
        elif key == "schedule":
            out.append(f"its schedule ({type(task.schedule).__name__}.{', '.join(names)})")
        else:
            out.append(_WHAT[key])
    return out


def restore(problem, before: dict, task=None) -> None:
    """Undo what a sampler changed where it can be undone, so that later audits in the process
    see the problem as it was: corrupted cached factorisations are dropped (recomputed when next
    asked for) and the schedule gets its attributes back. ``y`` is the sampler's own copy; a
    written operator cannot be restored (it is only fingerprinted)."""
    parts = _changed_parts(problem, before, task)
    if "cached" in parts:
        problem.operator.forget_cached()
    for k in parts.get("schedule", []):
        setattr(task.schedule, k, before["schedule"][k])


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
