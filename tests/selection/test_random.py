import numpy as np
import pytest
import torch

from lightning_nas.selection import per_class_budgets, random_selection

CIFAR_LIKE = np.repeat(np.arange(10), 5000)


def test_per_class_budgets_are_exact():
    assert per_class_budgets(CIFAR_LIKE, fraction=0.1) == dict.fromkeys(range(10), 500)
    labels = np.array([0] * 45 + [1] * 15 + [2] * 3 + [5] * 1)
    # round half up, at least 1 per non-empty class; absent classes (3, 4) get no entry
    assert per_class_budgets(labels, fraction=0.1) == {0: 5, 1: 2, 2: 1, 5: 1}
    assert per_class_budgets(labels, fraction=1.0) == {0: 45, 1: 15, 2: 3, 5: 1}
    assert per_class_budgets(torch.from_numpy(labels), count=1) == {0: 1, 1: 1, 2: 1, 5: 1}
    assert list(per_class_budgets(labels[::-1].copy(), fraction=0.5)) == [0, 1, 2, 5]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"fraction": 0.0}, r"`per_class_budgets\(fraction=0.0\)`: `fraction` must be in \(0, 1\]. Got 0.0 instead"),
        ({"fraction": 1.5}, r"`fraction` must be in \(0, 1\]. Got 1.5 instead"),
        ({"fraction": -0.1}, r"`fraction` must be in \(0, 1\]"),
        ({"fraction": float("nan")}, r"`fraction` must be in \(0, 1\]"),
        ({"count": 4}, r"`per_class_budgets\(count=4\)`: budget larger than a class: class 1 has only 3 examples"),
        ({"count": 0}, r"`count` must be an int >= 1. Got 0 instead"),
        ({}, r"give exactly one of `fraction` and `count`"),
        ({"fraction": 0.5, "count": 1}, r"give exactly one of `fraction` and `count`"),
    ],
)
def test_per_class_budgets_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        per_class_budgets([0, 0, 0, 0, 1, 1, 1], **kwargs)


@pytest.mark.parametrize("labels", [[], [0.5, 1.0], [[0, 1]], [-1, 0]])
def test_per_class_budgets_bad_labels(labels):
    with pytest.raises(ValueError, match=r"`labels` must be a non-empty 1-D array of non-negative integers"):
        per_class_budgets(labels, fraction=0.5)


def test_random_selection_is_uniform_seeded_and_sorted():
    a = random_selection(1000, 100, seed=0)
    assert a.dtype == np.int64 and len(np.unique(a)) == 100 and np.all(np.diff(a) > 0)
    assert a.min() >= 0 and a.max() < 1000
    np.testing.assert_array_equal(a, random_selection(1000, 100, seed=0))
    assert not np.array_equal(a, random_selection(1000, 100, seed=1))
    assert random_selection(5, 5, seed=0).tolist() == [0, 1, 2, 3, 4]
    assert random_selection(5, 0, seed=0).tolist() == []
    # every id equally likely: counts over many seeds stay close to uniform
    hits = np.bincount(np.concatenate([random_selection(20, 5, seed=s) for s in range(2000)]), minlength=20)
    assert hits.min() > 400 and hits.max() < 600  # expectation 500


def test_random_selection_class_balanced():
    labels = np.array([0] * 60 + [1] * 30 + [2] * 10)
    rng = np.random.default_rng(0)
    shuffled = rng.permutation(labels)
    ids = random_selection(100, 10, seed=0, labels=shuffled)
    assert np.bincount(shuffled[ids]).tolist() == [6, 3, 1]
    # largest remainders: 7 of (60, 30, 10) -> quotas (4.2, 2.1, 0.7) -> (4, 2, 1)
    assert np.bincount(shuffled[random_selection(100, 7, seed=0, labels=shuffled)]).tolist() == [4, 2, 1]
    np.testing.assert_array_equal(ids, random_selection(100, 10, seed=0, labels=torch.from_numpy(shuffled)))
    # exact per-class counts from a mapping (e.g. per_class_budgets)
    budgets = per_class_budgets(shuffled, fraction=0.25)
    ids = random_selection(100, budgets, seed=0, labels=shuffled)
    assert np.bincount(shuffled[ids]).tolist() == [15, 8, 3]
    assert np.bincount(shuffled[random_selection(100, {2: 10}, seed=0, labels=shuffled)], minlength=3).tolist() == [
        0,
        0,
        10,
    ]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n": 10, "size": 11}, r"`random_selection\(size=11\)`: `size` must be an int in \[0, 10\]. Got 11 instead"),
        ({"n": 10, "size": -1}, r"`size` must be an int in \[0, 10\]"),
        ({"n": -1, "size": 0}, r"`n` must be an int >= 0"),
        ({"n": 4, "size": 2, "labels": [0, 1, 0]}, r"`labels` must have length n = 4. Got length 3 instead"),
        ({"n": 3, "size": {0: 3}, "labels": [0, 1, 0]}, r"budget larger than a class: class 0 has only 2 examples"),
        ({"n": 3, "size": {4: 1}, "labels": [0, 1, 0]}, r"class 4 has no examples in `labels`"),
        ({"n": 3, "size": {0: 1}}, r"a per-class `size` needs `labels`"),
    ],
)
def test_random_selection_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        random_selection(**kwargs)
