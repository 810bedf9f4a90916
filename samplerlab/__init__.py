"""samplerlab: calibrated audits of diffusion posterior samplers against exact ground truth.

Attributes load on first use (PEP 562), so importing ``samplerlab.pytest_plugin`` or
``samplerlab.auditing.options`` — as pytest does at start-up — does not import torch.

Example:
    >>> import torch, samplerlab
    >>> from samplerlab.operators import Identity
    >>> prior = samplerlab.GaussianMixture([0.5, 0.5], [[-2.0], [2.0]], [0.5, 0.5])
    >>> problem = samplerlab.InverseProblem(prior, Identity(1), 1.0, [1.5])
    >>> [round(w, 3) for w in problem.posterior().weights.tolist()]
    [0.018, 0.982]
"""

from importlib import import_module

_EXPORTS = {
    "run": "samplerlab.auditing.pipeline",
    "audit": "samplerlab.auditing.audit",
    "AuditSettings": "samplerlab.auditing.settings",
    "Report": "samplerlab.auditing.report",
    "SamplerError": "samplerlab.errors",
    "GaussianMixture": "samplerlab.core.mixture",
    "InverseProblem": "samplerlab.core.problem",
    "Task": "samplerlab.core.task",
    "VPLinear": "samplerlab.core.schedules",
    "VPCosine": "samplerlab.core.schedules",
    "VE": "samplerlab.core.schedules",
    "EDM": "samplerlab.core.schedules",
    "get_schedule": "samplerlab.core.schedules",
}

# Sub-packages and modules reachable as attributes (``samplerlab.samplers.get(...)``), loaded on first use.
_SUBMODULES = ("core", "operators", "scenarios", "samplers", "adapters", "diagnostics", "auditing", "render", "studies",
               "bench", "errors")

__all__ = list(_EXPORTS)
__version__ = "0.1.0"


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        value = import_module(f"samplerlab.{name}")
        globals()[name] = value
        return value
    raise AttributeError(f"module 'samplerlab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | set(_SUBMODULES))
