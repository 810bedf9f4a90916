"""Adapters that audit library samplers — deepinv's and a diffusers scheduler loop — unchanged.

Library samplers call a denoiser and an operator their own way. The adapters build those from
a :class:`~samplerlab.core.task.Task` (exact, differentiable, dtype-casting, calling ``task.notify``
at the task's grid times) and map the task's time grid onto the library's noise levels, so the
audit's contracts hold: all randomness from the audit's generator, early stopping on truncated
grids, the time-resolved check. Each library is an optional extra:

* :mod:`samplerlab.adapters.deepinv` — ``pip install 'samplerlab[deepinv]'``
  (deepinv, Tachella et al. 2025, "DeepInverse: A Python package for solving imaging inverse
  problems with deep learning"): DPS, DDRM, DiffPIR and ``PosteriorDiffusion``;
* :mod:`samplerlab.adapters.diffusers` — ``pip install 'samplerlab[diffusers]'`` (Hugging Face
  diffusers, von Platen et al. 2022): an ε-prediction model for ``DDPMScheduler`` /
  ``DDIMScheduler`` and a DPS loop written as diffusers users write it.

Sampler references ``deepinv:NAME`` and ``diffusers:NAME`` (``samplerlab score deepinv:dps``)
resolve through :func:`resolve`; a missing extra is a one-line error naming its install command.

Example:
    >>> sorted(LIBRARY_SAMPLERS["deepinv"])
    ['ddrm', 'diffpir', 'dps', 'posterior_diffusion']
    >>> try:
    ...     resolve("deepinv:nope")
    ... except ValueError as exc:  # a SamplerRefError
    ...     print(exc)
    deepinv:nope: unknown deepinv sampler, expected one of ddrm, diffpir, dps, posterior_diffusion
"""

from __future__ import annotations

import importlib
import importlib.util

__all__ = ["LIBRARY_SAMPLERS", "SAMPLER_MODULES", "INSTALL", "missing_extra", "resolve", "sampler_factory"]

#: ``library -> {name: factory in SAMPLER_MODULES[library]}``
LIBRARY_SAMPLERS: dict[str, dict[str, str]] = {
    "deepinv": {"dps": "deepinv_dps", "ddrm": "deepinv_ddrm", "diffpir": "deepinv_diffpir",
                "posterior_diffusion": "deepinv_posterior_diffusion"},
    "diffusers": {"dps": "diffusers_dps", "ddpm": "diffusers_ddpm", "ddim": "diffusers_ddim"},
}

#: The module that holds each library's ready samplers (the bridge itself may be another module).
SAMPLER_MODULES = {"deepinv": "samplerlab.adapters.deepinv_samplers", "diffusers": "samplerlab.adapters.diffusers"}

#: The install line of each extra (also in the README).
INSTALL = {"deepinv": "pip install 'samplerlab[deepinv]'", "diffusers": "pip install 'samplerlab[diffusers]'"}


def missing_extra(library: str) -> str | None:
    """``None`` when ``library`` can be imported, else the one-line reason with the install command."""
    if importlib.util.find_spec(library) is None:
        return f"the {library} adapter needs the package {library!r}, not installed: {INSTALL[library]}"
    return None


def resolve(ref: str, problem=None, params: dict | None = None):
    """``(sampler, name)`` for ``deepinv:NAME`` / ``diffusers:NAME``; ``params`` go to the factory.

    Every failure is a one-line :class:`~samplerlab.auditing.sampler_ref.SamplerRefError`.
    """
    from samplerlab.errors import SamplerRefError

    library, _, name = ref.partition(":")
    known = LIBRARY_SAMPLERS.get(library)
    if known is None:
        raise SamplerRefError(f"{ref}: unknown library {library!r}, expected one of {', '.join(LIBRARY_SAMPLERS)}")
    if name not in known:
        raise SamplerRefError(f"{ref}: unknown {library} sampler, expected one of {', '.join(sorted(known))}")
    why = missing_extra(library)
    if why is not None:
        raise SamplerRefError(f"{ref}: {why}")
    try:
        importlib.import_module(f"samplerlab.adapters.{library}").require()
        factory = sampler_factory(ref)
    except ImportError as exc:
        raise SamplerRefError(f"{ref}: importing {library} failed ({exc}); reinstall with {INSTALL[library]}") from exc
    try:
        sampler = factory(**dict(params or {}))
    except (TypeError, ValueError) as exc:
        raise SamplerRefError(f"{ref}: {exc}") from exc
    return sampler, ref


def sampler_factory(ref: str):
    """The factory behind ``LIBRARY:NAME`` (imports the library's sampler module)."""
    library, _, name = ref.partition(":")
    return getattr(importlib.import_module(SAMPLER_MODULES[library]), LIBRARY_SAMPLERS[library][name])
