"""Search methods: LightningModules that search an architecture (DARTS family, ...)."""

from lightning_nas.methods.darts import DARTS
from lightning_nas.methods.hypergradient import sgd_virtual_step, unrolled_arch_gradient

__all__ = ["DARTS", "sgd_virtual_step", "unrolled_arch_gradient"]
