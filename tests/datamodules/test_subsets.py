"""Reduction data modules: core-set, entropy proxy and random subsets wrapping a search data module."""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
from lightning import Callback, seed_everything
from lightning.pytorch.loggers import CSVLogger
from torch import nn

import lightning_nas.selection as selection
from lightning_nas.datamodules import (
    ArraySearchDataModule,
    CIFAR10SearchDataModule,
    CoresetDataModule,
    EntropyProxyDataModule,
    ImageFolderSearchDataModule,
    RandomSubsetDataModule,
)
from lightning_nas.datamodules.splits import stratified_split
from lightning_nas.methods import DARTS

CLASS_SIZES = (10, 20, 30)


def _data(classes=CLASS_SIZES, size=8, data_seed=0, **kwargs):
    """Images with class sizes ``classes`` (labels interleaved so that classes do not form contiguous blocks)."""
    labels = np.concatenate([np.full(k, c) for c, k in enumerate(classes)])
    labels = labels[np.random.default_rng(data_seed).permutation(len(labels))]
    g = torch.Generator().manual_seed(data_seed)
    x = torch.randint(0, 256, (len(labels), 3, size, size), dtype=torch.uint8, generator=g)
    kwargs.setdefault("batch_size", 4)
    return ArraySearchDataModule(x, torch.as_tensor(labels), **kwargs)


def _features(n=60, d=6, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


def _logits(n=60, k=3, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, k)) * rng.uniform(0.1, 30, size=(n, 1))).astype(np.float32)


def _setup(dm):
    dm.setup("fit")
    return dm


def _modules(seed=0, **kwargs):
    return {
        "coreset": CoresetDataModule(_data(), fraction=0.2, features=_features(), seed=seed, **kwargs),
        "entropy": EntropyProxyDataModule(_data(), fraction=0.2, logits=_logits(), bin_width=0.5, seed=seed, **kwargs),
        "random": RandomSubsetDataModule(_data(), fraction=0.2, seed=seed, **kwargs),
    }


# ------------------------------------------------------------------------------------------------------------------
# what is selected
# ------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("kwargs", "expected"), [({"fraction": 0.2}, [2, 4, 6]), ({"count": 3}, [3, 3, 3])])
def test_coreset_per_class_counts_are_exact_and_exclude_the_initial_set(kwargs, expected):
    features = _features()
    dm = _setup(CoresetDataModule(_data(), features=features, seed=5, initial_per_class=2, **kwargs))
    labels = dm.labels
    assert np.bincount(labels[dm.selected_ids], minlength=3).tolist() == expected
    assert dm.summary["class_counts"] == expected and dm.summary["pool_class_counts"] == list(CLASS_SIZES)
    for c, k in enumerate(expected):  # per class: greedy k-center from the seeded s0, s0 itself excluded
        rows = np.flatnonzero(labels == c)
        initial = np.sort(np.random.default_rng([5, c]).choice(len(rows), size=2, replace=False))
        picks = selection.k_center_greedy(features[rows], k, initial=initial, seed=5)
        assert set(rows[picks]) == set(dm.selected_ids[labels[dm.selected_ids] == c])
        assert not set(rows[initial]) & set(dm.selected_ids)


def test_coreset_takes_a_class_whole_when_its_budget_is_its_size():
    dm = _setup(CoresetDataModule(_data(), fraction=1.0, features=_features(), seed=0))
    assert dm.selected_ids.tolist() == list(range(60))


def test_entropy_proxy_samples_with_the_histogram_weights_and_beta_takes_the_tails():
    logits = _logits()
    entropies = selection.entropy(logits)
    dm = _setup(EntropyProxyDataModule(_data(), fraction=0.2, logits=logits, bin_width=0.5, seed=3))
    expected = selection.entropy_proxy_selection(entropies, 12, bin_width=0.5, weighting="P1", seed=3)
    assert dm.selected_ids.tolist() == sorted(expected.tolist())
    hist = dm.summary["entropy_histogram"]
    assert sum(hist["pool"]) == 60 and sum(hist["selected"]) == 12 and len(hist["edges"]) == len(hist["pool"]) + 1

    beta = _setup(
        EntropyProxyDataModule(_data(), fraction=0.2, logits=logits, weighting="beta", beta=0.75, bin_width=1)
    )
    order = np.argsort(entropies, kind="stable")
    assert set(beta.selected_ids) == set(order[:9]) | set(order[-3:])  # round(0.75 * 12) lowest, 3 highest


def test_entropy_proxy_default_bin_width_is_the_papers_per_data_set():
    assert EntropyProxyDataModule(CIFAR10SearchDataModule(root="data")).resolved_bin_width == 0.5
    assert EntropyProxyDataModule(_data(), bin_width=0.2).resolved_bin_width == 0.2


def test_random_subset_uniform_and_class_balanced():
    dm = _setup(RandomSubsetDataModule(_data(), fraction=0.5, seed=1))
    assert len(dm.selected_ids) == 30
    balanced = _setup(RandomSubsetDataModule(_data(), fraction=0.5, seed=1, class_balanced=True))
    assert np.bincount(balanced.labels[balanced.selected_ids]).tolist() == [5, 10, 15]


@pytest.mark.parametrize("name", ["coreset", "entropy", "random"])
def test_same_seed_same_selection_other_seed_another(name):
    a, b, c = (_setup(_modules(seed)[name]) for seed in (7, 7, 8))
    assert np.array_equal(a.selected_ids, b.selected_ids)
    assert np.array_equal(a.active_ids("train"), b.active_ids("train"))
    assert not np.array_equal(a.active_ids("train"), c.active_ids("train"))  # at least the split shuffle differs


def test_seed_none_follows_the_wrapped_modules_seed():
    seed_everything(11)
    a = _setup(RandomSubsetDataModule(_data(), fraction=0.3))
    b = _setup(RandomSubsetDataModule(_data(seed=11), fraction=0.3))
    assert np.array_equal(a.selected_ids, b.selected_ids)


# ------------------------------------------------------------------------------------------------------------------
# splits and the delegated contract
# ------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["coreset", "entropy", "random"])
def test_splits_partition_the_selection_in_stratified_halves(name):
    dm = _setup(_modules(2)[name])
    selected, train, val = dm.selected_ids, dm.active_ids("train"), dm.active_ids("val")
    assert selected.dtype == np.int64 and list(selected) == sorted(selected)
    assert len(train) == len(selected) // 2 and len(val) == len(selected) - len(selected) // 2
    assert not set(train) & set(val) and np.array_equal(np.union1d(train, val), selected)
    rng = np.random.default_rng([2, 0x53504C4954])  # the documented split stream
    expected = stratified_split(selected, dm.labels[selected], 0.5, rng)
    assert np.array_equal(train, expected[0]) and np.array_equal(val, expected[1])
    assert set(dm.labels[train]) == set(dm.labels[val]) == set(dm.labels[selected])
    assert dm.pool_size == 60 and dm.num_classes == 3 and len(dm.labels) == 60
    assert dm.removed_ids("train").size == 0
    ids = torch.cat([b[0][k][2] for b in dm.train_dataloader() for k in ("train", "val")])
    assert set(ids.tolist()) == set(selected.tolist())
    assert torch.cat([b[2] for b in dm.val_dataloader()]).tolist() == val.tolist()


def test_heldout_alpha_split_selects_in_the_weight_split_and_keeps_the_architecture_split():
    dm = _setup(
        CoresetDataModule(
            _data(val_fraction=0.5, split="contiguous"), fraction=0.2, features=_features(), seed=0,
            alpha_split="heldout",
        )
    )  # fmt: skip
    assert set(dm.selected_ids) <= set(range(30)) and dm.active_ids("val").tolist() == list(range(30, 60))
    assert np.array_equal(dm.active_ids("train"), dm.selected_ids)
    assert dm.summary["num_candidates"] == 30


def test_remove_ids_prunes_on_top_of_the_selection_and_state_dict_restores_both():
    dm = _setup(RandomSubsetDataModule(_data(), fraction=0.5, seed=0))
    victims = dm.active_ids("train")[:3]
    dm.remove_ids("train", victims)
    assert not set(victims) & set(dm.active_ids("train")) and dm.removed_ids("train").tolist() == sorted(victims)
    with pytest.raises(ValueError, match="not active"):
        dm.remove_ids("val", [int(np.setdiff1d(np.arange(60), dm.selected_ids)[0])])  # never selected
    state = dm.state_dict()
    json.dumps(state)  # plain types only

    for restored in (
        RandomSubsetDataModule(_data(), fraction=0.5, seed=99),  # before setup: applied by setup, no selection
        _setup(RandomSubsetDataModule(_data(), fraction=0.5, seed=99)),  # after setup: replaces its selection
    ):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", ".*the checkpoint's selection differs")
            restored.load_state_dict(state)
        restored.setup("fit")
        assert np.array_equal(restored.selected_ids, dm.selected_ids) and restored.summary["num_selected"] == 30
        for split in ("train", "val"):
            assert np.array_equal(restored.active_ids(split), dm.active_ids(split))
            assert np.array_equal(restored.removed_ids(split), dm.removed_ids(split))
    state["selected_ids"] = state["selected_ids"][1:]
    with pytest.raises(ValueError, match="do not match their hash"):
        _setup(RandomSubsetDataModule(_data(), fraction=0.5)).load_state_dict(state)


def test_the_reassign_hook_validates_and_round_trips_through_the_wrapped_modules_state():
    dm = _setup(_data())
    dm.reassign([5, 1, 3], np.array([7, 9]))
    assert dm.active_ids("train").tolist() == [1, 3, 5] and dm.active_ids("val").tolist() == [7, 9]
    dm.remove_ids("train", [3])
    state = dm.state_dict()
    assert state["assignment"] == {"train": [1, 3, 5], "val": [7, 9]}
    fresh = _data()
    fresh.load_state_dict(state)
    fresh.setup("fit")
    assert fresh.active_ids("train").tolist() == [1, 5] and fresh.removed_ids("train").tolist() == [3]
    bad = [([], [1], "at least 1"), ([1, 1], [2], "unique"), ([1], [1], "both splits"), ([60], [1], r"\[0, 60\)")]
    for train, val, match in [*bad, ([0.5], [1], "must be integers")]:
        with pytest.raises(ValueError, match=match):
            dm.reassign(train, val)


# ------------------------------------------------------------------------------------------------------------------
# manifest
# ------------------------------------------------------------------------------------------------------------------
def test_manifest_round_trip_reuses_the_exact_selection(tmp_path):
    path = tmp_path / "run" / "manifest.json"
    first = _setup(CoresetDataModule(_data(), fraction=0.2, features=_features(), seed=4, save_manifest=str(path)))
    content = json.loads(path.read_text())
    assert content["selected_ids"] == first.selected_ids.tolist() and content["method"] == "coreset"
    assert content["pool_size"] == 60 and content["settings"]["fraction"] == 0.2 and len(content["sha256"]) == 64

    # another seed and no features: the manifest's ids and splits are reused, nothing is embedded
    reused = CoresetDataModule(_data(), fraction=0.2, extractor=nn.Identity(), manifest=str(path), seed=9)
    with pytest.warns(UserWarning, match="reusing its selection as is"):  # the extractor setting differs
        reused.setup("fit")
    assert np.array_equal(reused.selected_ids, first.selected_ids)
    for split in ("train", "val"):
        assert np.array_equal(reused.active_ids(split), first.active_ids(split))
    assert reused.summary["source"] == "manifest"
    with pytest.warns(UserWarning, match="reusing its selection as is"):
        _setup(RandomSubsetDataModule(_data(), fraction=0.5, manifest=str(path), save_manifest=False))


def test_manifest_errors(tmp_path):
    path = tmp_path / "manifest.json"
    _setup(RandomSubsetDataModule(_data(), fraction=0.2, seed=0, save_manifest=str(path)))
    with pytest.raises(ValueError, match="pool of 60 samples, but this ArraySearchDataModule has 45"):
        _setup(RandomSubsetDataModule(_data(classes=(15, 15, 15)), fraction=0.2, manifest=str(path)))
    content = json.loads(path.read_text())
    content["train_ids"][0] = content["val_ids"][0]
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(content))
    with pytest.raises(ValueError, match="do not match the manifest's sha256"):
        _setup(RandomSubsetDataModule(_data(), fraction=0.2, manifest=str(edited)))
    with pytest.raises(FileNotFoundError, match="no such file"):
        _setup(RandomSubsetDataModule(_data(), fraction=0.2, manifest=str(tmp_path / "missing.json")))


# ------------------------------------------------------------------------------------------------------------------
# bad input
# ------------------------------------------------------------------------------------------------------------------
def test_fraction_outside_the_unit_interval_is_rejected():
    message = r"^`CoresetDataModule\(fraction=1.5\)`: `fraction` must be a number in \(0, 1\]\. Got 1.5 instead\.$"
    with pytest.raises(ValueError, match=message):
        CoresetDataModule(_data(), fraction=1.5)
    for cls, extra in ((EntropyProxyDataModule, {"bin_width": 0.5}), (RandomSubsetDataModule, {})):
        for bad in (0, -0.1, 1.01, float("nan"), True):
            with pytest.raises((ValueError, TypeError), match="`fraction` must be a number in"):
                cls(_data(), fraction=bad, **extra)


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: CoresetDataModule(_data(), count=11, features=_features()), ValueError, "class 0 has 10 sample"),
        (
            lambda: CoresetDataModule(_data(), count=9, initial_per_class=2, features=_features()),
            ValueError,
            "class 0 has 10 sample.*fewer than its budget 9 plus the 2 initial",
        ),
        (lambda: CoresetDataModule(_data(), count=0), ValueError, "`count` must be an integer >= 1 or None"),
        (lambda: CoresetDataModule(_data(), initial_per_class=0), ValueError, "`initial_per_class` must be"),
        (lambda: CoresetDataModule(_data(), features=_features(n=59)), ValueError, r"N = 60\)\. Got shape \(59, 6\)"),
        (lambda: CoresetDataModule(_data(), features=np.where(np.eye(60, 6), np.nan, 1)), ValueError, "contain NaN"),
        (lambda: CoresetDataModule(_data(), features="missing.npy"), FileNotFoundError, "no such file"),
        (lambda: CoresetDataModule(torch.rand(3)), TypeError, "must be a `SearchDataModule`"),
        (lambda: CoresetDataModule(_data(), alpha_split="test"), ValueError, "`alpha_split` must be"),
        (lambda: RandomSubsetDataModule(_data(), val_fraction=1.0), ValueError, r"`val_fraction` must be a number in"),
        (lambda: RandomSubsetDataModule(_data(), fraction=0.01), ValueError, "selects 0 of 60 samples"),
        (lambda: RandomSubsetDataModule(_data(), fraction=1 / 60), ValueError, "each needs at least 1"),
        (lambda: EntropyProxyDataModule(_data()), ValueError, "no default bin width for ArraySearchDataModule"),
        (lambda: EntropyProxyDataModule(_data(), bin_width=0.5, weighting="P4"), ValueError, "`weighting` must be"),
        (lambda: EntropyProxyDataModule(_data(), bin_width=0.5, beta=1.0), ValueError, r"`beta` must be a number in"),
        (lambda: EntropyProxyDataModule(_data(), bin_width=-1), ValueError, "`bin_width` must be a number > 0"),
        (lambda: EntropyProxyDataModule(_data(), bin_width=1, baseline_depth=21), ValueError, "must be 6n \\+ 2"),
        (lambda: EntropyProxyDataModule(_data(), bin_width=1, logits=_logits(k=3)[:50]), ValueError, "Got shape \\(50"),
        (
            lambda: EntropyProxyDataModule(_data(), bin_width=1, logits=np.full((60, 3), np.nan)),
            ValueError,
            "logits of 60 sample",
        ),
    ],
)
def test_bad_input_fails_early_with_a_clear_message(make, error, match):
    with pytest.raises(error, match=match):
        _setup(make())


def test_selected_ids_before_setup_is_an_error():
    with pytest.raises(RuntimeError, match=r"call `setup\('fit'\)` first"):
        RandomSubsetDataModule(_data()).selected_ids  # noqa: B018


# ------------------------------------------------------------------------------------------------------------------
# through a Trainer
# ------------------------------------------------------------------------------------------------------------------
class _RecordIds(Callback):
    def __init__(self):
        self.seen = {"train": set(), "val": set(), "validation": set()}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        for split in ("train", "val"):
            self.seen[split] |= set(batch[split][2].tolist())

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
        self.seen["validation"] |= set(batch[2].tolist())


def test_a_selection_composes_with_darts_and_the_search_sees_only_the_selected_ids(tmp_path, tiny_trainer):
    seed_everything(0)
    dm = CoresetDataModule(_data(batch_size=4), fraction=0.4, features=_features(), seed=0)
    record = _RecordIds()
    model = DARTS(space_options={"C": 4, "N": 1}, num_classes=3)
    trainer = tiny_trainer(max_epochs=2, logger=CSVLogger(tmp_path), callbacks=[record])
    trainer.fit(model, dm)
    assert record.seen["train"] == set(dm.active_ids("train").tolist())  # every weight id, nothing else
    assert record.seen["val"] == set(dm.active_ids("val").tolist())
    assert record.seen["validation"] == set(dm.active_ids("val").tolist())
    assert len(dm.selected_ids) == 24 and trainer.num_training_batches == 3
    log_dir = Path(trainer.log_dir)
    manifest = json.loads((log_dir / "selection_manifest.json").read_text())
    assert manifest["selected_ids"] == dm.selected_ids.tolist()
    assert manifest["summary"]["class_counts"] == [4, 8, 12]
    metrics = (log_dir / "metrics.csv").read_text()
    assert "data/num_selected" in metrics and "data/class_count_min" in metrics
    assert "class_counts" in (log_dir / "hparams.yaml").read_text()


class _UnseededRandomSubset(RandomSubsetDataModule):
    """Selects with an unseeded generator: only a broadcast can make the ranks agree."""

    def select(self, candidates, labels, scores, seed):
        (Path(self.record_dir) / f"select-rank{self.trainer.global_rank}").touch()
        return np.random.default_rng().choice(candidates, size=20, replace=False)


class _WriteRankIds(Callback):
    def __init__(self, root):
        self.root, self.seen = root, set()

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.seen |= set(batch["train"][2].tolist()) | set(batch["val"][2].tolist())

    def on_train_end(self, trainer, pl_module):
        dm = trainer.datamodule
        gathered = [None] * trainer.world_size
        dist.all_gather_object(gathered, dm.selected_ids.tolist())
        if gathered[0] != gathered[1]:
            raise AssertionError(f"the ranks selected different ids: {gathered}")
        content = {
            "selected": dm.selected_ids.tolist(),
            "seen": sorted(self.seen),
            "train": dm.active_ids("train").tolist(),
        }
        (Path(self.root) / f"rank{trainer.global_rank}.json").write_text(json.dumps(content))


def test_selection_is_identical_on_both_ranks_of_a_ddp_run(tmp_path, tiny_trainer):
    seed_everything(0)
    dm = _UnseededRandomSubset(_data(batch_size=4), fraction=0.5)  # manifest: the log dir, read on every rank
    dm.record_dir = str(tmp_path)
    trainer = tiny_trainer(
        strategy="ddp_spawn", devices=2, limit_val_batches=1, callbacks=[_WriteRankIds(str(tmp_path))]
    )
    trainer.fit(DARTS(space_options={"C": 4, "N": 1}, num_classes=3), dm)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["selected"] == ranks[1]["selected"] and len(ranks[0]["selected"]) == 20
    assert ranks[0]["train"] == ranks[1]["train"]
    for r in ranks:  # each rank searched its shard of the selection only
        assert set(r["seen"]) <= set(r["selected"])
    assert set(ranks[0]["seen"]) | set(ranks[1]["seen"]) == set(ranks[0]["selected"])
    assert sorted(p.name for p in tmp_path.glob("select-rank*")) == ["select-rank0"]  # selected once, on rank 0
    assert json.loads((tmp_path / "selection_manifest.json").read_text())["selected_ids"] == ranks[0]["selected"]


# ------------------------------------------------------------------------------------------------------------------
# real images and the embedding cache
# ------------------------------------------------------------------------------------------------------------------
class _CountingNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.calls = 0
        self.proj = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        self.calls += 1
        return self.proj(x).mean(dim=(2, 3))


def test_coreset_embeds_once_and_reuses_the_cache_until_the_data_changes(tmp_path):
    torch.manual_seed(0)
    net = _CountingNet()
    first = _setup(CoresetDataModule(_data(), fraction=0.2, extractor=net, cache_dir=str(tmp_path), seed=0))
    calls = net.calls
    assert calls == 15  # 60 samples in batches of 4
    second = _setup(CoresetDataModule(_data(), fraction=0.2, extractor=net, cache_dir=str(tmp_path), seed=0))
    assert net.calls == calls and np.array_equal(first.selected_ids, second.selected_ids)
    _setup(CoresetDataModule(_data(data_seed=1), fraction=0.2, extractor=net, cache_dir=str(tmp_path), seed=0))
    assert net.calls == 2 * calls  # other images: a miss
    assert len(list(tmp_path.glob("features-*.npy"))) == len(list(tmp_path.glob("features-*.json"))) == 2


def test_coreset_on_real_cifar10_images_with_a_random_resnet18(cifar10_small_root, tmp_path):
    torch.manual_seed(0)
    data = ImageFolderSearchDataModule(str(cifar10_small_root), batch_size=50, seed=0)
    dm = CoresetDataModule(
        data, fraction=0.1, extractor="resnet18", weights=None, image_size=32, cache_dir=str(tmp_path), seed=0
    )
    dm.setup("fit")
    assert dm.summary["class_counts"] == [2] * 10 and len(dm.selected_ids) == 20
    assert len(dm.active_ids("train")) == len(dm.active_ids("val")) == 10
    (features,) = tmp_path.glob("features-*.npy")
    assert np.load(features).shape == (200, 512)
    x, _, ids = next(iter(dm.val_dataloader()))
    assert x.shape[1:] == (3, 32, 32) and set(ids.tolist()) <= set(dm.selected_ids.tolist())
