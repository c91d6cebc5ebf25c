"""The search-data contract (a Protocol) and the one base of the data modules that wrap another."""

import warnings

import numpy as np
import pytest
import torch

from lightning_nas.data import SEARCH_DATA_MEMBERS, SearchDataContract, missing_search_data_members
from lightning_nas.datamodules import (
    ArraySearchDataModule,
    CoresetDataModule,
    EntropyProxyDataModule,
    RandomSubsetDataModule,
    ReducedDataModule,
    SubsetSelectionDataModule,
    WrappedDataModule,
)


def _data(n=40, **kwargs):
    return ArraySearchDataModule(torch.rand(n, 3, 8, 8), torch.arange(n) % 4, batch_size=4, seed=0, **kwargs)


WRAPPERS = {
    "random": lambda d: RandomSubsetDataModule(d, fraction=0.5, save_manifest=False),
    "coreset": lambda d: CoresetDataModule(d, fraction=0.5, features=np.random.rand(40, 4), save_manifest=False),
    "entropy": lambda d: EntropyProxyDataModule(
        d, fraction=0.5, logits=np.random.rand(40, 4), bin_width=0.5, save_manifest=False
    ),
    "reduced": lambda d: ReducedDataModule(d, resolution=4, fraction=0.5),
    "reduced-whole": lambda d: ReducedDataModule(d, resolution=4),
    "wrapped": WrappedDataModule,
}


@pytest.mark.parametrize("kind", [None, *WRAPPERS])
def test_every_search_data_module_conforms_before_and_after_setup(kind):
    dm = _data() if kind is None else WRAPPERS[kind](_data())
    assert missing_search_data_members(dm) == []  # reads the class: safe before setup
    dm.setup("fit")
    assert isinstance(dm, SearchDataContract)
    train, val = dm.active_ids("train"), dm.active_ids("val")
    assert len(np.intersect1d(train, val)) == 0 and dm.labels.shape == (dm.pool_size,) and dm.num_classes == 4
    dm.remove_ids("train", train[:1])
    assert dm.removed_ids("train").tolist() == train[:1].tolist()
    assert dm.active_ids("train").tolist() == train[1:].tolist()


def test_a_non_conforming_object_lacks_every_member():
    assert missing_search_data_members(object()) == list(SEARCH_DATA_MEMBERS)
    assert missing_search_data_members(None, ("active_ids", "remove_ids")) == ["active_ids", "remove_ids"]
    assert not isinstance(object(), SearchDataContract)


def test_members_set_on_the_instance_count_and_no_property_is_evaluated():
    class OwnModule:
        """A user's data module that sets some members in `__init__` (and has a property that needs `setup`)."""

        def __init__(self):
            self.labels = np.zeros(4, dtype=np.int64)
            self.active_ids = lambda split: np.arange(2)

        @property
        def pool_size(self):
            raise AssertionError("evaluated a property before setup")

    missing = missing_search_data_members(OwnModule())
    assert "labels" not in missing and "active_ids" not in missing and "pool_size" not in missing
    assert missing == [m for m in SEARCH_DATA_MEMBERS if m not in ("labels", "active_ids", "pool_size")]


def test_the_wrapped_module_sees_the_wrappers_trainer_through_every_layer():
    base = _data()
    reduced = ReducedDataModule(base, fraction=0.5)
    sentinel = object()
    reduced.trainer = sentinel
    assert reduced.trainer is reduced.subset.trainer is base.trainer is sentinel
    reduced.trainer = None
    assert reduced.subset.trainer is None and base.trainer is None


def test_the_wrapped_module_rejects_what_is_not_a_search_data_module():
    with pytest.raises(TypeError, match=r"`WrappedDataModule\(datamodule=...\)`: `datamodule` must be a"):
        WrappedDataModule(object())


def test_reduction_data_module_is_a_deprecated_name_of_the_subset_selection_base():
    import lightning_nas.datamodules as datamodules
    import lightning_nas.datamodules.subsets as subsets

    for module in (datamodules, subsets):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            cls = module.ReductionDataModule
        assert cls is SubsetSelectionDataModule
        assert any(
            issubclass(w.category, DeprecationWarning) and "SubsetSelectionDataModule" in str(w.message) for w in caught
        )
    with pytest.raises(AttributeError, match="no attribute 'NoSuchModule'"):
        datamodules.NoSuchModule  # noqa: B018


def test_importing_the_deprecated_name_warns_once_at_the_import():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from lightning_nas.datamodules import ReductionDataModule  # noqa: F401
    deprecations = [w for w in caught if issubclass(w.category, DeprecationWarning)]
    assert len(deprecations) == 1, [str(w.message) for w in deprecations]
    assert deprecations[0].filename == __file__
    assert issubclass(RandomSubsetDataModule, SubsetSelectionDataModule)
    assert issubclass(ReducedDataModule, WrappedDataModule) and not issubclass(
        ReducedDataModule, SubsetSelectionDataModule
    )
