"""Reference diffusion posterior samplers and the registry (``get``, ``available``).

Every sampler module registers itself on import; adding a sampler means adding its module
name to ``_MODULES``.
"""

from importlib import import_module

from samplerlab.samplers._base import Step
from samplerlab.samplers._registry import Sampler, SamplerSpec, available, declared, describe, get, register, unwrap

__all__ = ["Sampler", "SamplerSpec", "Step", "available", "declared", "describe", "get", "register", "unwrap"]

_MODULES = ["oracle", "prior", "dps", "pigdm", "pigdm_reddiff", "ddrm", "tmpd", "mcgdiff", "daps", "fps"]

for _name in _MODULES:
    import_module(f"samplerlab.samplers.{_name}")
