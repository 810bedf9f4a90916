"""Linear measurement operators ``y = A x``: the generic ones here, image and medical ones in
:mod:`samplerlab.operators.images` and :mod:`samplerlab.operators.medical`.

Example:
    >>> from samplerlab.operators import Identity
    >>> Identity(3).shape
    (3, 3)
"""

from samplerlab.operators.linear import SVD, Dense, Identity, LinearOperator, Mask
from samplerlab.operators.structured import Blur, Subsample

__all__ = ["SVD", "LinearOperator", "Identity", "Dense", "Mask", "Subsample", "Blur"]
