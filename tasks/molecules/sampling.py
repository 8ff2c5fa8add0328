"""The MDLM ELBO NLL of samples under the base model (metrics and the model card): the family's own bound."""
from __future__ import annotations

from bench.diffusion.training import masked_elbo_nll as elbo_nll

__all__ = ["elbo_nll"]
