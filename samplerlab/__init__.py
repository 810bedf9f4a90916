"""samplerlab: calibrated audits of diffusion posterior samplers against exact ground truth.

Example:
    >>> import torch, samplerlab
    >>> from samplerlab.operators import Identity
    >>> prior = samplerlab.GaussianMixture([0.5, 0.5], [[-2.0], [2.0]], [0.5, 0.5])
    >>> problem = samplerlab.InverseProblem(prior, Identity(1), 1.0, [1.5])
    >>> [round(w, 3) for w in problem.posterior().weights.tolist()]
    [0.018, 0.982]
"""

from samplerlab.audit import audit
from samplerlab.errors import SamplerError
from samplerlab.mixture import GaussianMixture
from samplerlab.problem import InverseProblem
from samplerlab.schedules import EDM, VE, VPCosine, VPLinear, get_schedule
from samplerlab.report import Report
from samplerlab.task import Task

__all__ = ["audit", "Report", "SamplerError", "GaussianMixture", "InverseProblem", "Task", "VPLinear", "VPCosine", "VE", "EDM", "get_schedule"]
__version__ = "0.1.0"
