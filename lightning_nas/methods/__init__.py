"""Search methods: LightningModules that search an architecture (DARTS family) or train one."""

from lightning_nas.methods.architecture_training import ArchitectureTraining, cutout
from lightning_nas.methods.beta_darts import BetaDARTS, beta_decay_loss
from lightning_nas.methods.darts import DARTS
from lightning_nas.methods.hypergradient import sgd_virtual_step, unrolled_arch_gradient
from lightning_nas.methods.pcdarts import PCDARTS
from lightning_nas.methods.pdarts import PDARTS, keep_strongest_ops

__all__ = [
    "DARTS",
    "PCDARTS",
    "PDARTS",
    "ArchitectureTraining",
    "BetaDARTS",
    "beta_decay_loss",
    "cutout",
    "keep_strongest_ops",
    "sgd_virtual_step",
    "unrolled_arch_gradient",
]
