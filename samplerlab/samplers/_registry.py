"""The sampler registry: one entry per sampler, each documenting its parameters.

A sampler is any callable ``sampler(task, n, generator) -> Tensor (n, d)``. Entries are
registered with :func:`register` by the module that defines them; :func:`get` builds one.

Example:
    >>> from samplerlab import samplers
    >>> "dps" in samplers.available()
    True
    >>> samplers.get("dps", zeta=0.5).zeta
    0.5
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import torch
from torch import Tensor

__all__ = ["Sampler", "SamplerSpec", "register", "get", "available", "describe", "unwrap", "declared"]


class Sampler(Protocol):
    """The protocol: ``sampler(task, n, generator) -> (n, d)`` samples, and what a sampler may declare
    to the audit (each optional, with the default the audit assumes; read with :func:`declared`).

    ``stop_from_notify``: on a grid truncated at ``t`` the output is ``task.denoise(x_t, t)`` of the
    ``x_t`` notified at ``t`` on the full grid, so the stop sweep reads the main run.
    ``floor_eta``: the DDIM ``η`` of the sampler's reverse step, under which its discretisation
    floor runs.
    """

    stop_from_notify: bool = False
    floor_eta: float | None = 1.0

    def __call__(self, task, n: int, generator: torch.Generator | None = None) -> Tensor: ...


_WRAP_DEPTH = 8  # wrappers followed at most


def unwrap(sampler, name: str | None = None):
    """The sampler behind wrappers that keep it as ``.sampler`` (a timer, a progress line, an
    adapter); with ``name``, the first sampler in that chain that declares ``name`` — a wrapper may
    override what it wraps. At most eight wrappers deep.

    >>> class Wrapper:
    ...     def __init__(self, sampler): self.sampler = sampler
    >>> ddrm = get("ddrm")
    >>> unwrap(Wrapper(Wrapper(ddrm))) is ddrm, unwrap(Wrapper(ddrm), "floor_eta") is ddrm
    (True, True)
    """
    for _ in range(_WRAP_DEPTH):
        if (name is not None and hasattr(sampler, name)) or not hasattr(sampler, "sampler"):
            break
        sampler = sampler.sampler
    return sampler


def declared(sampler, name: str):
    """What ``sampler`` (through :func:`unwrap`) declares as ``name``, else the protocol's default.

    >>> declared(get("ddrm"), "floor_eta"), declared(len, "floor_eta"), declared(len, "stop_from_notify")
    (0.85, 1.0, False)
    """
    if name not in ("stop_from_notify", "floor_eta"):
        raise AttributeError(f"{name!r} is not a declaration of the sampler protocol")
    return getattr(unwrap(sampler, name), name, getattr(Sampler, name))


@dataclass(frozen=True)
class SamplerSpec:
    """A registry entry: the factory, a one-line summary, the paper and the parameters."""

    name: str
    factory: Callable[..., Sampler]
    summary: str
    paper: str
    params: dict[str, tuple[Any, str]] = field(default_factory=dict)  # name -> (default, doc)
    control: bool = False  # True for controls built from the truth (oracle)

    def describe(self) -> str:
        lines = [f"{self.name}: {self.summary} [{self.paper}]"]
        lines += [f"  {k} = {v[0]!r}: {v[1]}" for k, v in self.params.items()]
        return "\n".join(lines)


_REGISTRY: dict[str, SamplerSpec] = {}


def register(name: str, *, summary: str, paper: str, params: dict[str, tuple[Any, str]] | None = None,
             control: bool = False):
    """Class/factory decorator adding an entry to the registry."""

    def deco(factory):
        if name in _REGISTRY:
            raise ValueError(f"sampler {name!r} is registered twice")
        _REGISTRY[name] = SamplerSpec(name, factory, summary, paper, dict(params or {}), control)
        return factory

    return deco


def available(include_controls: bool = True) -> list[str]:
    """Registered sampler names, sorted."""
    return sorted(k for k, s in _REGISTRY.items() if include_controls or not s.control)


def describe(name: str) -> SamplerSpec:
    if name not in _REGISTRY:
        raise ValueError(f"sampler: unknown name {name!r}, expected one of {available()}")
    return _REGISTRY[name]


def get(name: str, **params) -> Sampler:
    """Build the sampler ``name`` with keyword parameters (unknown ones are an error)."""
    spec = describe(name)
    unknown = sorted(set(params) - set(spec.params))
    if unknown:
        raise ValueError(f"sampler {name!r}: unknown parameter(s) {unknown}, expected some of {sorted(spec.params)}")
    return spec.factory(**params)
