"""DARTS under DDP with 2 CPU processes (gloo): both levels stay in sync on every rank."""

import functools

import pytest
import torch
import torch.distributed as dist
from lightning import Callback, seed_everything

from lightning_nas.callbacks import GenotypeExport
from lightning_nas.datamodules import ArraySearchDataModule
from lightning_nas.methods import DARTS, PCDARTS, PDARTS, BetaDARTS


@pytest.fixture
def tiny_trainer(tiny_trainer):
    """The shared tiny Trainer (tests/conftest.py) on two CPU processes: two epochs, one validation batch."""
    return functools.partial(tiny_trainer, strategy="ddp_spawn", devices=2, max_epochs=2, limit_val_batches=1)


class AssertRanksInSync(Callback):
    """Raises inside the worker processes if weights, architecture or genotype differ between ranks."""

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        for name, params in (("arch", pl_module.arch_parameters()), ("weights", pl_module.weight_parameters())):
            flat = torch.cat([p.detach().reshape(-1) for p in params])
            gathered = pl_module.all_gather(flat)
            if not torch.equal(gathered[0], gathered[1]):
                raise AssertionError(f"{name} differ between ranks after step {batch_idx}")
        ids = pl_module.all_gather(batch["train"][2])
        if torch.equal(ids[0], ids[1]):
            raise AssertionError("both ranks got the same batch: the data was not sharded")

    def on_train_end(self, trainer, pl_module):
        genotypes = [None, None]
        dist.all_gather_object(genotypes, str(pl_module.genotype()))
        if genotypes[0] != genotypes[1]:
            raise AssertionError(f"ranks derived different genotypes: {genotypes}")
        trainer.strategy.barrier()


@pytest.mark.parametrize("order", [1, 2])
def test_ddp_keeps_both_levels_identical_on_every_rank(tmp_path, tiny_trainer, order):
    seed_everything(0)
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(64, 3, 8, 8, generator=g), torch.arange(64) % 4
    model = DARTS(space_options={"C": 4, "N": 1}, num_classes=4, order=order)
    alpha0 = model.arch_parameters()[0].detach().clone()
    assert model.supernet.fused
    trainer = tiny_trainer(callbacks=[AssertRanksInSync(), GenotypeExport()])
    trainer.fit(model, ArraySearchDataModule(x, y, batch_size=8))
    # ddp_spawn copies rank 0's final weights back into this process
    assert not torch.equal(alpha0, model.arch_parameters()[0])
    assert (tmp_path / "genotype.json").exists()  # GenotypeExport under DDP: written once, by rank 0


VARIANTS = {
    "pcdarts-darts": lambda: PCDARTS(
        search_space="darts", space_options={"C": 8, "layers": 3}, num_classes=4, arch_warmup_epochs=0
    ),
    "betadarts-nb201": lambda: BetaDARTS(
        search_space="nasbench201", space_options={"C": 4, "N": 1}, num_classes=4, lambda_epochs=1
    ),
    "pdarts-nb201": lambda: PDARTS(
        search_space="nasbench201",
        space_options={"C": 4},
        num_classes=4,
        stage_epochs=[1, 1],
        stage_layers=[1, 2],
        stage_ops=[5, 3],
        skip_dropout=[0.1, 0.4],
        arch_warmup_epochs=0,
    ),
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_ddp_variants_keep_identical_architectures(tiny_trainer, name):
    """PC-DARTS, beta-DARTS and P-DARTS (across a stage boundary, where the supernet is rebuilt) under DDP."""
    seed_everything(0)
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(32, 3, 8, 8, generator=g), torch.arange(32) % 4
    model = VARIANTS[name]()
    assert model.supernet.fused  # the default supernet: shared-input fused cells
    trainer = tiny_trainer(callbacks=[AssertRanksInSync()])
    trainer.fit(model, ArraySearchDataModule(x, y, batch_size=8))
