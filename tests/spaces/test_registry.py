from __future__ import annotations

import pytest
from torch import nn

from lightning_nas.registry import Registry
from lightning_nas.spaces import (
    NASBench201Space,
    SearchSpace,
    get_op,
    get_search_space,
    get_search_space_class,
    list_ops,
    list_search_spaces,
    register_op,
    register_search_space,
)


def test_register_get_names_contains():
    registry: Registry[int] = Registry("number")
    registry.register("two")(2)
    registry.register("one")(1)
    assert registry.get("two") == 2
    assert registry.names() == ["one", "two"]
    assert list(registry) == ["one", "two"]
    assert "one" in registry and "three" not in registry and [] not in registry
    assert len(registry) == 2


def test_register_returns_object_unchanged():
    registry: Registry[type] = Registry("class")

    @registry.register("thing")
    class Thing:
        pass

    assert registry.get("thing") is Thing


def test_duplicate_name_raises():
    registry: Registry[int] = Registry("number")
    registry.register("x")(1)
    with pytest.raises(ValueError, match="`name` 'x' is already registered"):
        registry.register("x")


def test_unknown_name_lists_sorted_names():
    registry: Registry[int] = Registry("number")
    for name in ("b", "c", "a"):
        registry.register(name)(0)
    with pytest.raises(ValueError, match=r"Unknown number 'z'\. Registered number names: \['a', 'b', 'c'\]"):
        registry.get("z")


@pytest.mark.parametrize("name", ["", None, 3])
def test_bad_name_raises(name):
    with pytest.raises(ValueError, match="`name` must be a non-empty string"):
        Registry("number").register(name)


def test_bad_kind_raises():
    with pytest.raises(ValueError, match="`kind` must be a non-empty string"):
        Registry("")


def test_search_space_registry():
    assert "nasbench201" in list_search_spaces()
    assert list_search_spaces() == sorted(list_search_spaces())
    assert get_search_space_class("nasbench201") is NASBench201Space
    space = get_search_space("nasbench201", C=8, N=2)
    assert isinstance(space, NASBench201Space)
    assert (space.C, space.N, space.in_channels) == (8, 2, 3)


def test_unknown_search_space_lists_names():
    with pytest.raises(ValueError, match=r"Unknown search space 'nasbench301'\. .*'nasbench201'"):
        get_search_space("nasbench301")


def test_unknown_search_space_option_is_named():
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['channels'\]"):
        get_search_space("nasbench201", channels=16)


def test_bad_search_space_option_value():
    with pytest.raises(
        ValueError, match=r"`NASBench201Space\(C=0\)`: `C` must be a positive integer\. Got 0 instead\."
    ):
        get_search_space("nasbench201", C=0)


def test_duplicate_search_space_raises():
    with pytest.raises(ValueError, match="`name` 'nasbench201' is already registered"):
        register_search_space("nasbench201")


def test_register_search_space_checks_class():
    with pytest.raises(TypeError, match="decorates SearchSpace subclasses"):
        register_search_space("_test_not_a_space")(int)


def test_register_search_space_name_mismatch():
    class Named(SearchSpace):
        name = "something_else"

    with pytest.raises(ValueError, match="declares `name` 'something_else'"):
        register_search_space("_test_mismatch")(Named)


def test_op_registry():
    assert list_ops("nasbench201") == sorted(["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"])
    op = get_op("nor_conv_3x3", space="nasbench201")(8, affine=False, track_running_stats=False)
    assert isinstance(op, nn.Module)
    with pytest.raises(ValueError, match=r"Unknown nasbench201 op 'sep_conv_3x3'\. .*'avg_pool_3x3', 'none'"):
        get_op("sep_conv_3x3", space="nasbench201")
    with pytest.raises(ValueError, match="`name` 'skip_connect' is already registered"):
        register_op("skip_connect", space="nasbench201")
    with pytest.raises(ValueError, match="no ops are registered for 'unknown_space'"):
        get_op("none", space="unknown_space")
    with pytest.raises(ValueError, match="no ops are registered for 'unknown_space'"):
        list_ops("unknown_space")
