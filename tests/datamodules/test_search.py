"""SearchDataModule: splits, stable ids, removals, state, paired loaders and deterministic augmentation."""

import numpy as np
import pytest
import torch
from lightning import seed_everything
from lightning.pytorch.utilities import CombinedLoader
from torch.utils.data import DistributedSampler

from lightning_nas.datamodules import ArraySearchDataModule, SearchData, SearchDataModule


def _arrays(n=40, classes=4, size=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=g), torch.arange(n) % classes


def _dm(n=40, classes=4, **kwargs):
    x, y = _arrays(n, classes)
    kwargs.setdefault("batch_size", 4)
    kwargs.setdefault("seed", 0)
    kwargs.setdefault("split", "contiguous")  # these tests read DARTS's id layout; labels cycle, so every class fits
    dm = ArraySearchDataModule(x, y, **kwargs)
    dm.setup("fit")
    return dm


def _epoch(loader, epoch):
    """Iterates one epoch like Lightning does: set_epoch on every sampler, then iter()."""
    loaders = loader.flattened if isinstance(loader, CombinedLoader) else [loader]
    for dl in loaders:
        dl.sampler.set_epoch(epoch)
    return list(loader)


def _paired(batches):
    return [b[0] for b in batches]  # a CombinedLoader iterated directly yields (batch, batch_idx, dataloader_idx)


class _ListSearchDataModule(SearchDataModule):
    """A minimal subclass on a plain list pool: exercises the generic per-sample path."""

    def __init__(self, n=12, **kwargs):
        super().__init__(**kwargs)
        self.n = n

    def build_data(self):
        pool = [(torch.full((2,), float(i)), i % 3) for i in range(self.n)]

        def jitter(x):
            return x + torch.rand(2)

        return SearchData(pool, np.arange(self.n) % 3, 3, jitter, None, test=pool[:5])


# ------------------------------------------------------------------------------------------------------------------
# splits
# ------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("n", "val_fraction", "n_train"), [(40, 0.5, 20), (41, 0.5, 20), (10, 0.3, 7), (10, 0.8, 2)])
def test_contiguous_split_is_darts_and_sizes_follow_val_fraction(n, val_fraction, n_train):
    dm = _dm(n, classes=2, val_fraction=val_fraction)
    train, val = dm.active_ids("train"), dm.active_ids("val")
    assert train.tolist() == list(range(n_train))
    assert val.tolist() == list(range(n_train, n))
    assert train.dtype == np.int64 and dm.pool_size == n


def test_random_split_is_disjoint_covering_and_deterministic_under_a_seed():
    a, b, c = (_dm(50, split="random", seed=s) for s in (1, 1, 2))
    train, val = a.active_ids("train"), a.active_ids("val")
    assert len(train) == len(val) == 25
    assert not set(train) & set(val) and sorted(np.concatenate([train, val])) == list(range(50))
    assert np.array_equal(train, b.active_ids("train"))
    assert not np.array_equal(train, c.active_ids("train"))
    assert list(train) == sorted(train)


def test_seed_none_follows_seed_everything():
    seed_everything(3)
    a = _dm(50, split="random", seed=None)
    seed_everything(4)
    b = _dm(50, split="random", seed=None)
    assert a.resolved_seed == 3 and b.resolved_seed == 4
    assert np.array_equal(a.active_ids("train"), _dm(50, split="random", seed=3).active_ids("train"))
    assert not np.array_equal(a.active_ids("train"), b.active_ids("train"))


def test_setup_is_idempotent_and_keeps_removals():
    dm = _dm()
    dm.remove_ids("train", [1, 2])
    dm.setup("validate")
    assert dm.removed_ids("train").tolist() == [1, 2]


def test_pool_too_small_for_the_split_fails_in_setup():
    dm = ArraySearchDataModule(*_arrays(1))
    with pytest.raises(ValueError, match="each needs at least 1"):
        dm.setup()


# ------------------------------------------------------------------------------------------------------------------
# stable ids
# ------------------------------------------------------------------------------------------------------------------
def test_ids_map_to_the_same_image_and_label_before_and_after_removal():
    x, y = _arrays(40)
    dm = ArraySearchDataModule(x, y, batch_size=4, split="contiguous", seed=0, augment=False)
    dm.setup()
    pool = dm.pool_dataloader()
    expected = torch.cat([b[0] for b in pool])
    assert torch.equal(torch.cat([b[2] for b in pool]), torch.arange(40))
    assert torch.equal(torch.as_tensor(dm.labels.copy()), y) and not dm.labels.flags.writeable

    def check(batch):
        xb, yb, ids = batch
        assert ids.dtype == torch.int64
        assert torch.equal(xb, expected[ids]) and torch.equal(yb, y[ids])

    dm.remove_ids("train", [0, 5, 7])
    dm.remove_ids("val", [20, 33])
    for batch in _paired(_epoch(dm.train_dataloader(), 1)):
        check(batch["train"])
        check(batch["val"])
    for batch in dm.val_dataloader():
        check(batch)


def test_generic_path_yields_indexed_samples_and_augments_under_the_key_seed():
    dm = _ListSearchDataModule(batch_size=3, paired=False, split="contiguous", seed=0)
    dm.setup()
    batches = _epoch(dm.train_dataloader(), 0)
    again = _epoch(dm.train_dataloader(), 0)
    for (x, y, ids), (x2, _, _) in zip(batches, again, strict=True):
        assert torch.equal(x.floor()[:, 0], ids.float())  # jitter in [0, 1) keeps the id in the integer part
        assert torch.equal(y, ids % 3)
        assert torch.equal(x, x2)
    x_test, _, ids_test = next(iter(dm.test_dataloader()))
    assert ids_test.tolist() == [0, 1, 2] and torch.equal(x_test[:, 0], ids_test.float())


# ------------------------------------------------------------------------------------------------------------------
# paired loader
# ------------------------------------------------------------------------------------------------------------------
def test_paired_loader_yields_train_and_val_with_the_same_number_of_batches():
    dm = _dm(42, batch_size=4)
    loader = dm.train_dataloader()
    assert isinstance(loader, CombinedLoader)
    batches = _paired(_epoch(loader, 0))
    assert len(batches) == len(loader) == 6  # 21 weight ids / 4
    for batch in batches:
        assert set(batch) == {"train", "val"}
        for split in ("train", "val"):
            x, y, ids = batch[split]
            assert x.shape[1:] == (3, 8, 8) and x.dtype == torch.float32
            assert y.dtype == ids.dtype == torch.int64 and len(x) == len(y) == len(ids)
        assert len(batch["train"][2]) == len(batch["val"][2])
    train_ids = torch.cat([b["train"][2] for b in batches]).tolist()
    val_ids = torch.cat([b["val"][2] for b in batches]).tolist()
    assert sorted(train_ids) == list(range(21)) and sorted(val_ids) == list(range(21, 42))  # equal halves: one pass


def test_smaller_val_split_is_cycled_and_fully_covered_each_epoch():
    dm = _dm(40, val_fraction=0.2, batch_size=4)  # 32 weight ids, 8 architecture ids
    for epoch in (0, 1):
        batches = _paired(_epoch(dm.train_dataloader(), epoch))
        assert len(batches) == 8
        val_ids = torch.cat([b["val"][2] for b in batches]).tolist()
        assert len(val_ids) == 32 and set(val_ids) == set(range(32, 40))
        assert all(val_ids.count(i) == 4 for i in range(32, 40))  # four full, reshuffled cycles
    first_cycles = [val_ids[k : k + 8] for k in range(0, 32, 8)]
    assert len({tuple(c) for c in first_cycles}) > 1


def test_larger_val_split_yields_as_many_batches_as_the_weight_split():
    dm = _dm(40, val_fraction=0.75, batch_size=4)  # 10 weight ids, 30 architecture ids
    batches = _paired(_epoch(dm.train_dataloader(), 0))
    assert len(batches) == 3
    val_ids = torch.cat([b["val"][2] for b in batches]).tolist()
    assert len(val_ids) == len(set(val_ids)) == 10 and set(val_ids) <= set(range(10, 40))


def test_unpaired_loader_is_the_weight_split_alone():
    dm = _dm(40, paired=False, batch_size=8)
    loader = dm.train_dataloader()
    assert isinstance(loader.sampler, DistributedSampler)
    ids = torch.cat([b[2] for b in _epoch(loader, 0)]).tolist()
    assert sorted(ids) == list(range(20)) and ids != sorted(ids)


def test_val_test_and_pool_loaders_use_the_eval_transform_in_order():
    x, y = _arrays(40)
    dm = ArraySearchDataModule(
        x, y, x_test=x[:6], y_test=y[:6], batch_size=4, eval_batch_size=16, split="contiguous", seed=0
    )
    dm.setup()
    val = list(dm.val_dataloader())
    assert len(val[0][2]) == 16 and torch.cat([b[2] for b in val]).tolist() == list(range(20, 40))
    assert torch.equal(torch.cat([b[0] for b in val]), torch.cat([b[0] for b in dm.val_dataloader()]))
    test = list(dm.test_dataloader())
    assert torch.cat([b[2] for b in test]).tolist() == list(range(6))
    pool = next(iter(dm.pool_dataloader([20, 21])))
    assert torch.equal(pool[0], val[0][0][:2])


def test_missing_test_set_and_bad_pool_ids_raise():
    dm = _dm()
    with pytest.raises(RuntimeError, match="has no test set"):
        dm.test_dataloader()
    with pytest.raises(ValueError, match=r"`ids` must be a 1-d sequence of ids in \[0, 40\)"):
        dm.pool_dataloader([0, 40])


# ------------------------------------------------------------------------------------------------------------------
# removal
# ------------------------------------------------------------------------------------------------------------------
def test_removal_is_invisible_in_the_current_epoch_and_applies_from_the_next():
    dm = _dm(40, batch_size=4)
    loader = dm.train_dataloader()
    for dl in loader.flattened:
        dl.sampler.set_epoch(0)
    iterator = iter(loader)  # a CombinedLoader's __iter__ returns itself, restarted: drive it with next() only
    batches = [next(iterator)[0]]
    dm.remove_ids("train", list(range(10)))
    dm.remove_ids("val", [20, 21, 22])
    for _ in range(4):
        batches.append(next(iterator)[0])
    with pytest.raises(StopIteration):
        next(iterator)
    seen = torch.cat([b["train"][2] for b in batches]).tolist()
    assert sorted(seen) == list(range(20))  # the running epoch still covers the old active set
    assert sorted(torch.cat([b["val"][2] for b in batches]).tolist()) == list(range(20, 40))

    assert len(loader) == 3  # live: ceil(10 / 4)
    batches = _paired(_epoch(loader, 1))
    assert sorted(torch.cat([b["train"][2] for b in batches]).tolist()) == list(range(10, 20))
    val_ids = torch.cat([b["val"][2] for b in batches]).tolist()
    assert len(val_ids) == 10 and not {20, 21, 22} & set(val_ids)
    assert 20 not in torch.cat([b[2] for b in dm.val_dataloader()]).tolist()


def test_active_and_removed_ids_are_tracked_per_split():
    dm = _dm(40)
    dm.remove_ids("train", np.array([3, 1, 3]))
    dm.remove_ids("val", torch.tensor([39]))
    dm.remove_ids("val", [])
    assert dm.removed_ids("train").tolist() == [1, 3] and dm.removed_ids("val").tolist() == [39]
    assert 1 not in dm.active_ids("train") and len(dm.active_ids("train")) == 18 and len(dm.active_ids("val")) == 19


@pytest.mark.parametrize(
    ("split", "ids", "match"),
    [
        ("train", [25], r"1 id\(s\) are not active in split 'train'.*\[25\]"),
        ("train", [-1, 40, 100], r"3 id\(s\) are not active in split 'train'.*outside \[0, 40\)"),
        (
            "val",
            list(range(0, 12)),
            r"12 id\(s\) are not active in split 'val'.*\[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, \.\.\.\]",
        ),
        ("train", [0.5], "`ids` must be integers"),
        ("train", list(range(20)), "would leave split 'train' empty; a split must keep at least 1 sample"),
        ("test", [1], "`split` must be 'train' or 'val'"),
    ],
)
def test_bad_removals_raise_and_change_nothing(split, ids, match):
    dm = _dm(40)
    with pytest.raises(ValueError, match=match):
        dm.remove_ids(split, ids)
    assert len(dm.active_ids("train")) == len(dm.active_ids("val")) == 20


def test_removing_an_id_twice_raises():
    dm = _dm(40)
    dm.remove_ids("train", [4])
    with pytest.raises(ValueError, match=r"not active in split 'train'.*\[4\]"):
        dm.remove_ids("train", [4, 5])
    assert dm.removed_ids("train").tolist() == [4]


def test_queries_before_setup_raise():
    x, y = _arrays()
    dm = ArraySearchDataModule(x, y)
    for call in (lambda: dm.active_ids("train"), lambda: dm.remove_ids("train", [1]), dm.train_dataloader):
        with pytest.raises(RuntimeError, match=r"call `setup\(\)` first"):
            call()
    assert dm.num_classes == 4  # known without loading


# ------------------------------------------------------------------------------------------------------------------
# state
# ------------------------------------------------------------------------------------------------------------------
def test_state_dict_round_trip_restores_the_removals():
    dm = _dm(40, split="random", seed=7)
    dm.remove_ids("train", dm.active_ids("train")[:5])
    dm.remove_ids("val", dm.active_ids("val")[-3:])
    state = dm.state_dict()
    assert all(isinstance(v, int) for v in state["removed"]["train"])
    torch.save(state, buffer := __import__("io").BytesIO())
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)

    restored = _dm(40, split="random", seed=7)
    restored.load_state_dict(state)
    fresh = _dm(40, split="random", seed=0)  # another seed: the saved one wins, split and order included
    fresh.load_state_dict(state)
    pending = ArraySearchDataModule(*_arrays(40), batch_size=4, split="random", seed=7)
    pending.load_state_dict(state)  # before setup: applied by setup
    assert pending.state_dict() == state
    pending.setup()
    for other in (restored, fresh, pending):
        for split in ("train", "val"):
            assert np.array_equal(other.active_ids(split), dm.active_ids(split))
            assert np.array_equal(other.removed_ids(split), dm.removed_ids(split))
        assert other.resolved_seed == 7
    a = torch.cat([b["train"][0] for b in _paired(_epoch(dm.train_dataloader(), 2))])
    b = torch.cat([b["train"][0] for b in _paired(_epoch(fresh.train_dataloader(), 2))])
    assert torch.equal(a, b)


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("pool_size", 41, "saved with pool_size=41, this data module has pool_size=40"),
        ("split", "random", "saved with split='random'"),
        ("val_fraction", 0.3, "saved with val_fraction=0.3"),
    ],
)
def test_loading_a_state_from_another_configuration_raises(key, value, match):
    dm = _dm(40)
    state = dm.state_dict()
    state[key] = value
    with pytest.raises(ValueError, match=match):
        dm.load_state_dict(state)


# ------------------------------------------------------------------------------------------------------------------
# deterministic augmentation
# ------------------------------------------------------------------------------------------------------------------
def test_augmentation_repeats_within_an_epoch_and_changes_across_epochs():
    dm = _dm(40, batch_size=8)
    loader = dm.train_dataloader()
    torch.manual_seed(0)
    epoch0 = _paired(_epoch(loader, 0))
    torch.manual_seed(123)  # the global RNG state plays no part
    again = _paired(_epoch(dm.train_dataloader(), 0))
    for a, b in zip(epoch0, again, strict=True):
        for split in ("train", "val"):
            assert all(torch.equal(u, v) for u, v in zip(a[split], b[split], strict=True))

    epoch1 = _paired(_epoch(loader, 1))

    def by_id(batches):
        return {int(i): x for b in batches for x, i in zip(b["train"][0], b["train"][2], strict=True)}

    first, second = by_id(epoch0), by_id(epoch1)
    assert sum(not torch.equal(first[i], second[i]) for i in first) > len(first) // 2


def test_validation_errors_of_the_base_arguments():
    x, y = _arrays()
    cases = [
        (
            {"val_fraction": 1.5},
            ValueError,
            r"`ArraySearchDataModule\(val_fraction=1.5\)`: `val_fraction` must be a number in \(0, 1\). "
            r"Got 1.5 instead.",
        ),
        ({"val_fraction": 0}, ValueError, r"`val_fraction` must be a number in \(0, 1\)"),
        ({"val_fraction": "0.5"}, TypeError, r"`val_fraction` must be a number in \(0, 1\). Got str instead"),
        ({"batch_size": 0}, ValueError, "`batch_size` must be an integer >= 1"),
        ({"batch_size": 2.0}, TypeError, "`batch_size` must be an integer >= 1. Got float instead"),
        ({"eval_batch_size": -1}, ValueError, "`eval_batch_size` must be an integer >= 1"),
        ({"split": "kfold"}, ValueError, "`split` must be 'stratified', 'contiguous' or 'random'"),
        ({"paired": 1}, TypeError, "`paired` must be a bool"),
        ({"retrain": "no"}, TypeError, "`retrain` must be a bool"),
        ({"num_workers": -1}, ValueError, "`num_workers` must be an integer >= 0"),
        ({"seed": "0"}, TypeError, "`seed` must be an integer"),
    ]
    for kwargs, error, match in cases:
        with pytest.raises(error, match=match):
            ArraySearchDataModule(x, y, **kwargs)
