"""Runs the doctests of `callbacks/` and `datamodules/` under their installed names.

pytest's --doctest-modules would import those top-level folders as packages `callbacks` and `datamodules`, a
second copy of every class beside `lightning_nas.callbacks.*` (which confuses LightningCLI's class lookup).
"""

import doctest
import importlib
import pkgutil

import pytest

import lightning_nas.callbacks
import lightning_nas.datamodules

MODULES = sorted(
    name
    for package in (lightning_nas.callbacks, lightning_nas.datamodules)
    for _, name, _ in pkgutil.iter_modules(package.__path__, package.__name__ + ".")
)


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_every_module_is_covered():
    assert {"lightning_nas.callbacks.genotype_export", "lightning_nas.datamodules.search"} <= set(MODULES)
