"""The entropy baseline: CIFAR ResNet, Lightning training on the pool, caching, loading and logits."""

import numpy as np
import pytest
import torch
from lightning import Callback, Trainer, seed_everything

import lightning_nas.baseline as baseline_module
from lightning_nas.baseline import BaselineClassifier, cifar_resnet, load_baseline, predict_logits, train_baseline
from lightning_nas.datamodules import ArraySearchDataModule, EntropyProxyDataModule
from lightning_nas.methods import DARTS


def _data(n=24, classes=3, seed=0, **kwargs):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, 3, 8, 8), dtype=torch.uint8, generator=g)
    kwargs.setdefault("batch_size", 4)
    dm = ArraySearchDataModule(x, torch.arange(n) % classes, **kwargs)
    return dm


@pytest.mark.parametrize(("depth", "params"), [(20, 269_722), (56, 853_018)])
def test_cifar_resnet_has_the_papers_size(depth, params):
    net = cifar_resnet(depth)
    assert sum(p.numel() for p in net.parameters()) == params  # option-A shortcuts: 0.27M / 0.85M
    assert net(torch.rand(2, 3, 32, 32)).shape == (2, 10)
    with pytest.raises(ValueError, match="must be 6n \\+ 2"):
        cifar_resnet(21)


class _CountFits:
    def __init__(self, monkeypatch):
        self.calls = 0
        original = Trainer.fit

        def fit(trainer, model, *args, **kwargs):
            self.calls += isinstance(model, BaselineClassifier)
            return original(trainer, model, *args, **kwargs)

        monkeypatch.setattr(baseline_module.Trainer, "fit", fit)


def test_train_baseline_trains_on_the_whole_pool_and_caches_the_weights(tmp_path, monkeypatch):
    fits = _CountFits(monkeypatch)
    dm = _data()
    seen = set()

    class Record(Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            seen.update(batch[2].tolist())

    kwargs = {"epochs": 1, "batch_size": 8, "depth": 8, "seed": 0, "cache_dir": tmp_path, "progress": False}
    first = train_baseline(dm, **kwargs, trainer_kwargs={"callbacks": [Record()]})
    assert fits.calls == 1 and seen == set(range(24)) and not first.training  # both splits, eval mode
    second = train_baseline(dm, **kwargs, trainer_kwargs={"callbacks": [Record()]})
    assert fits.calls == 1  # loaded from the cache
    for a, b in zip(first.state_dict().values(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    train_baseline(dm, **{**kwargs, "seed": 1}, trainer_kwargs={"callbacks": [Record()]})
    assert fits.calls == 2  # another seed: another key
    with pytest.raises(ValueError, match="`epochs` must be an int >= 1"):
        train_baseline(dm, epochs=0)


def test_load_baseline_from_a_lightning_checkpoint_and_a_state_dict(tmp_path):
    module = BaselineClassifier(num_classes=3, depth=8)
    trainer = Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False)
    trainer.strategy.connect(module)
    trainer.save_checkpoint(tmp_path / "baseline.ckpt")
    torch.save(module.model.state_dict(), tmp_path / "resnet8.pt")
    x = torch.rand(2, 3, 8, 8)
    expected = module.eval()(x)
    assert torch.equal(load_baseline(tmp_path / "baseline.ckpt")(x), expected)
    assert torch.equal(load_baseline(tmp_path / "resnet8.pt", num_classes=3, depth=8)(x), expected)
    with pytest.raises(ValueError, match="does not fit `cifar_resnet\\(depth=20"):
        load_baseline(tmp_path / "resnet8.pt", num_classes=3)
    with pytest.raises(FileNotFoundError):
        load_baseline(tmp_path / "missing.pt")


def test_predict_logits_is_cached(tmp_path):
    dm = _data()
    dm.setup("fit")
    net = cifar_resnet(8, 3)
    calls = []
    net.register_forward_hook(lambda *args: calls.append(1))
    a = predict_logits(net, dm.pool_dataloader(), device="cpu", cache_dir=tmp_path, progress=False)
    b = predict_logits(net, dm.pool_dataloader(), device="cpu", cache_dir=tmp_path, progress=False)
    assert a.shape == (24, 3) and a.dtype == np.float32 and np.array_equal(a, b) and len(calls) == 6


def test_entropy_proxy_with_a_given_baseline_module_scores_the_pool_in_eval_mode():
    torch.manual_seed(0)
    net = cifar_resnet(8, 3).train()
    dm = EntropyProxyDataModule(_data(), fraction=0.5, baseline=net, bin_width=0.5, seed=0, cache=False)
    dm.setup("fit")
    assert len(dm.selected_ids) == 12 and net.training  # mode restored after scoring
    hist = dm.summary["entropy_histogram"]
    assert sum(hist["pool"]) == 24 and sum(hist["selected"]) == 12


def test_entropy_proxy_trains_its_baseline_inside_a_trainer_fit(tmp_path, tiny_trainer, monkeypatch):
    """The default path: a ResNet trained by a nested Trainer in `prepare_data`, then the search on the proxy data."""
    monkeypatch.setenv("LIGHTNING_NAS_CACHE", str(tmp_path / "cache"))
    fits = _CountFits(monkeypatch)
    seed_everything(0)
    dm = EntropyProxyDataModule(_data(), fraction=0.5, bin_width=0.5, baseline_epochs=1, baseline_depth=8)
    trainer = tiny_trainer(limit_val_batches=1)
    trainer.fit(DARTS(space_options={"C": 4, "N": 1}, num_classes=3), dm)
    assert fits.calls == 1 and len(dm.selected_ids) == 12
    assert len(list((tmp_path / "cache").glob("baseline-*.pt"))) == 1
    assert len(list((tmp_path / "cache").glob("logits-*.npy"))) == 1
