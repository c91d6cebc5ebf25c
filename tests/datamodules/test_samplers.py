"""The search samplers: live lengths, DDP-style sharding and deterministic keys."""

import numpy as np
import pytest
import torch
from torch.utils.data import DistributedSampler

from lightning_nas.datamodules import (
    ArraySearchDataModule,
    CyclingSplitSampler,
    OrderedSplitSampler,
    ShuffledSplitSampler,
    derive_aug_seeds,
)


class _Ids:
    def __init__(self, ids):
        self.ids = np.asarray(ids, dtype=np.int64)

    def __call__(self):
        return self.ids


def _ranks(make, num_replicas=2, epoch=0):
    out = []
    for rank in range(num_replicas):
        sampler = make(num_replicas=num_replicas, rank=rank)
        sampler.set_epoch(epoch)
        out.append((len(sampler), list(sampler)))
    return out


@pytest.mark.parametrize("n", [1, 7, 10, 11])
def test_shuffled_sampler_shards_equally_and_covers_the_active_ids(n):
    ids = _Ids(np.arange(100, 100 + n))
    (len0, keys0), (len1, keys1) = _ranks(lambda **kw: ShuffledSplitSampler(ids, seed=3, **kw))
    assert len0 == len1 == len(keys0) == len(keys1) == -(-n // 2)
    ids0, ids1 = [k for k, _ in keys0], [k for k, _ in keys1]
    assert set(ids0) | set(ids1) == set(ids.ids.tolist())
    if n % 2 == 0:
        assert not set(ids0) & set(ids1)
    single = ShuffledSplitSampler(ids, seed=3)
    # the union of the shards interleaves back into the single-process stream, augmentation seeds included
    merged = [k for pair in zip(keys0, keys1, strict=False) for k in pair]
    assert merged[:n] == list(single)[:n]


def test_cycling_sampler_follows_the_pace_on_every_rank_and_covers_the_ids():
    ids = _Ids([5, 6, 7])
    pace = range(8)
    (len0, keys0), (len1, keys1) = _ranks(lambda **kw: CyclingSplitSampler(ids, pace, seed=0, **kw))
    assert len0 == len1 == len(keys0) == len(keys1) == 8
    seen = [k for k, _ in keys0 + keys1]
    assert sorted(set(seen)) == [5, 6, 7] and len(seen) == 16


def test_ordered_sampler_pads_by_wrapping_and_yields_plain_ids():
    (len0, keys0), (len1, keys1) = _ranks(lambda **kw: OrderedSplitSampler(_Ids([1, 4, 9]), **kw))
    assert (len0, keys0, len1, keys1) == (2, [1, 9], 2, [4, 1])


def test_samplers_are_distributed_samplers_so_lightning_keeps_them():
    ids = _Ids([0, 1])
    for sampler in (ShuffledSplitSampler(ids), CyclingSplitSampler(ids, [0]), OrderedSplitSampler(ids)):
        assert isinstance(sampler, DistributedSampler)
    assert ShuffledSplitSampler(ids).shuffle and not OrderedSplitSampler(ids).shuffle


def test_order_and_seeds_depend_on_seed_and_epoch_only():
    ids = _Ids(np.arange(50))
    a, b, c = ShuffledSplitSampler(ids, seed=1), ShuffledSplitSampler(ids, seed=1), ShuffledSplitSampler(ids, seed=2)
    assert list(a) == list(b) and list(a) != list(c)
    a.set_epoch(1)
    assert list(a) != list(b)
    assert [k for k, _ in a] != [k for k, _ in b]


def test_lengths_are_live():
    ids = _Ids(np.arange(10))
    weights = ShuffledSplitSampler(ids, num_replicas=2, rank=0)
    arch = CyclingSplitSampler(_Ids([3]), weights, num_replicas=2, rank=1)
    assert len(weights) == len(arch) == 5
    ids.ids = ids.ids[:3]
    assert len(weights) == len(arch) == len(list(arch)) == 2


def test_datamodule_shards_over_the_trainer_world():
    class _FakeTrainer:  # what the data module reads from a Trainer
        world_size = 2
        current_epoch = 0

        def __init__(self, rank):
            self.global_rank = rank

    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(23, 1, 4, 4, generator=g), torch.arange(23) % 2
    seen = {"train": [], "val": []}
    lengths = []
    for rank in (0, 1):
        dm = ArraySearchDataModule(x, y, batch_size=3, val_fraction=0.3, split="contiguous", seed=0)
        dm.setup()
        dm.remove_ids("train", [0, 1])
        dm.trainer = _FakeTrainer(rank)
        loader = dm.train_dataloader()
        for dl in loader.flattened:
            dl.sampler.set_epoch(0)
        batches = [b for b, _, _ in loader]
        lengths.append((len(loader), len(batches)))
        for split in seen:
            seen[split] += torch.cat([b[split][2] for b in batches]).tolist()
    assert lengths[0] == lengths[1] == (3, 3)  # 14 weight ids -> 7 per rank -> 3 batches of 3
    assert set(seen["train"]) == set(range(2, 16)) and set(seen["val"]) == set(range(16, 23))


def test_sampler_argument_errors():
    with pytest.raises(ValueError, match=r"`num_replicas` must be an int >= 1"):
        ShuffledSplitSampler(_Ids([0]), num_replicas=0)
    with pytest.raises(ValueError, match=r"`rank` must be in \[0, 1\]. Got 2 instead."):
        OrderedSplitSampler(_Ids([0]), num_replicas=2, rank=2)


def test_aug_seeds_are_a_pure_function_of_their_inputs():
    args = (5, 2, 1, np.arange(4), np.array([9, 9, 3, 1]))
    a = derive_aug_seeds(*args)
    assert a.dtype == np.int64 and (a >= 0).all() and len(set(a.tolist())) == 4
    assert np.array_equal(a, derive_aug_seeds(*args))
    assert not np.array_equal(a, derive_aug_seeds(5, 3, 1, *args[3:]))
