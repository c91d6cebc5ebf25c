import io
import itertools
import math
import random

import pytest
import torch

from lightning_nas.methods import CandidatePool
from lightning_nas.spaces import MobileNetPath, get_search_space


class ReferencePool:
    """The pool's rules written the obvious way (a list re-sorted at every offer), to check the heap against."""

    def __init__(self, capacity):
        self.capacity = capacity
        self.losses = {}

    def update(self, paths, losses):
        for path, loss in zip(paths, losses):
            key = str(path)
            if key in self.losses or len(self.losses) < self.capacity:
                self.losses[key] = loss
            else:
                worst = max(self.losses, key=lambda k: (self.losses[k], k))
                if (loss, key) < (self.losses[worst], worst):
                    del self.losses[worst]
                    self.losses[key] = loss

    def items(self):
        return sorted((loss, key) for key, loss in self.losses.items())


def test_keeps_the_capacity_best_and_evicts_the_worst():
    pool = CandidatePool(capacity=3)
    assert pool.update(["a", "b", "c"], [0.5, 0.2, 0.9]) == 3
    assert pool.is_full and pool.worst == (0.9, "c")
    assert pool.update(["d"], [0.95]) == 0  # worse than the root: rejected
    assert pool.update(["e"], [0.1]) == 1  # evicts the root "c"
    assert pool.items() == [(0.1, "e"), (0.2, "b"), (0.5, "a")]
    assert "c" not in pool and "e" in pool
    assert pool.worst == (0.5, "a") and pool.best == (0.1, "e")


def test_matches_the_reference_on_random_offers_with_repeats():
    rng = random.Random(0)
    pool, reference = CandidatePool(capacity=7), ReferencePool(capacity=7)
    names = [f"p{i:02d}" for i in range(30)]
    for _ in range(300):
        paths = [rng.choice(names) for _ in range(5)]
        losses = [round(rng.random(), 2) for _ in paths]  # rounded: many exact ties
        pool.update(paths, losses)
        reference.update(paths, losses)
        assert pool.items() == reference.items()
        assert pool.worst == reference.items()[-1]
        assert pool.worst == max(pool.items())


def test_at_capacity_1000_keeps_exactly_the_1000_lowest_losses():
    g = torch.Generator().manual_seed(0)
    losses = torch.rand(5000, generator=g, dtype=torch.float64).tolist()
    paths = [f"path{i}" for i in range(5000)]
    pool = CandidatePool()  # the paper's |P| = 1000
    assert pool.capacity == 1000
    for start in range(0, 5000, 5):  # offered k = 5 at a time, as the filtering rounds do
        pool.update(paths[start : start + 5], losses[start : start + 5])
    expected = sorted(zip(losses, paths))[:1000]
    assert len(pool) == 1000 and pool.is_full
    assert pool.items() == expected
    assert pool.worst == expected[-1]


def test_a_path_in_the_pool_updates_its_loss_and_other_losses_stay_stale():
    pool = CandidatePool(capacity=3)
    pool.update(["a", "b", "c"], [0.1, 0.2, 0.3])
    assert pool.update(["a"], [0.9]) == 0  # re-evaluated: one entry, new loss, it is now the worst
    assert len(pool) == 3 and pool.loss("a") == 0.9 and pool.worst == (0.9, "a")
    assert pool.loss("b") == 0.2 and pool.loss("c") == 0.3  # not re-evaluated: stale
    assert pool.update(["d"], [0.5]) == 1  # evicts "a"
    assert pool.paths() == ["b", "c", "d"]
    pool.update(["b", "b"], [0.7, 0.05])  # repeats within one offer: the last loss wins
    assert pool.loss("b") == 0.05 and len(pool) == 3


def test_ties_are_broken_by_the_path_string_whatever_the_order_of_offers():
    offers = [("b", 0.5), ("a", 0.5), ("c", 0.5), ("d", 0.1)]
    results = set()
    for order in itertools.permutations(offers):
        pool = CandidatePool(capacity=3)
        for path, loss in order:
            pool.update([path], [loss])
        results.add(tuple(pool.items()))
    assert results == {((0.1, "d"), (0.5, "a"), (0.5, "b"))}  # "c" (largest string among equals) is evicted
    pool = CandidatePool(capacity=2)
    pool.update(["b", "a"], [0.5, 0.5])
    assert pool.update(["c"], [0.5]) == 0  # equal loss, larger string: not better than the root "b"
    assert pool.update(["0"], [0.5]) == 1  # equal loss, smaller string: evicts "b"
    assert pool.paths() == ["0", "a"]


def test_sample_is_uniform_over_the_pool_and_seeded():
    pool = CandidatePool(capacity=4)
    pool.update(["a", "b", "c", "d"], [0.4, 0.1, 0.3, 0.2])
    draws = [pool.sample(torch.Generator().manual_seed(0)) for _ in range(3)]
    assert len(set(draws)) == 1  # same seed, same draw
    g = torch.Generator().manual_seed(1)
    counts = {p: 0 for p in "abcd"}
    n = 4000
    for _ in range(n):
        counts[pool.sample(g)] += 1
    for count in counts.values():  # binomial(4000, 1/4): sd 27
        assert abs(count - n / 4) < 5 * math.sqrt(n * 0.25 * 0.75)


def test_state_dict_round_trip_with_real_paths_and_weights_only_load():
    space = get_search_space("mobilenet", input_size=32, width_mult=0.25, num_classes=10)
    g = torch.Generator().manual_seed(0)
    paths = [space.random_path(g) for _ in range(6)]
    pool = CandidatePool(capacity=4, parse=MobileNetPath.from_string)
    pool.update(paths, [0.6, 0.5, 0.4, 0.3, 0.2, 0.1])
    buffer = io.BytesIO()
    torch.save(pool.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    assert all(isinstance(p, str) for p in state["paths"])
    restored = CandidatePool(capacity=4, parse=MobileNetPath.from_string)
    restored.load_state_dict(state)
    assert restored.items() == pool.items()
    assert all(isinstance(p, MobileNetPath) for p in restored.paths())
    assert restored.worst == pool.worst
    # the restored heap behaves the same from here on
    for p in (pool, restored):
        p.update([paths[0], paths[1]], [0.15, 0.05])
    assert restored.items() == pool.items()
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert [pool.sample(g1) for _ in range(5)] == [restored.sample(g2) for _ in range(5)]


def test_without_parse_paths_come_back_as_strings():
    pool = CandidatePool(capacity=2)
    pool.update([("x", 1), ("y", 2)], [0.1, 0.2])
    restored = CandidatePool(capacity=2)
    restored.load_state_dict(pool.state_dict())
    assert restored.paths() == ["('x', 1)", "('y', 2)"]
    assert ("x", 1) in pool and ("x", 1) in restored  # membership is by the path string


def test_losses_as_a_tensor_and_clear():
    pool = CandidatePool(capacity=3)
    assert pool.update(["a", "b"], torch.tensor([0.3, 0.1])) == 2
    assert pool.paths() == ["b", "a"]
    pool.clear()
    assert len(pool) == 0 and pool.best is None and pool.worst is None and pool.items() == []


@pytest.mark.parametrize("capacity", [0, -1, 1.5, True, "10"])
def test_bad_capacity_is_rejected(capacity):
    with pytest.raises(ValueError, match="`capacity` must be an int >= 1"):
        CandidatePool(capacity=capacity)


def test_bad_updates_and_empty_sampling_are_rejected():
    pool = CandidatePool(capacity=3)
    with pytest.raises(ValueError, match="same length"):
        pool.update(["a", "b"], [0.1])
    with pytest.raises(ValueError, match="not NaN"):
        pool.update(["a"], [float("nan")])
    with pytest.raises(ValueError, match="real number"):
        pool.update(["a"], ["0.1"])
    assert len(pool) == 0  # a rejected offer changes nothing
    with pytest.raises(RuntimeError, match="empty"):
        pool.sample()
    with pytest.raises(KeyError, match="not in the pool"):
        pool.loss("zzz")
    with pytest.raises(ValueError, match="`parse` must be callable"):
        CandidatePool(capacity=3, parse="nope")


def test_loading_a_state_of_another_capacity_is_rejected():
    pool = CandidatePool(capacity=3)
    pool.update(["a"], [0.1])
    with pytest.raises(ValueError, match="capacity=3"):
        CandidatePool(capacity=5).load_state_dict(pool.state_dict())
    with pytest.raises(ValueError, match="without repeats"):
        CandidatePool(capacity=3).load_state_dict({"capacity": 3, "paths": ["a", "a"], "losses": [0.1, 0.2]})
