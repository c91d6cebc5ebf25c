from __future__ import annotations

import copy
import json
import math
import pickle

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from lightning_nas.spaces import (
    MOBILENET_CHOICES,
    Genotype,
    MBConv,
    MobileNetNetwork,
    MobileNetPath,
    MobileNetSpace,
    SinglePathSupernet,
    get_op,
    get_search_space,
    list_ops,
    list_search_spaces,
)
from lightning_nas.spaces.mobilenet import (
    MBCONV_CHOICES,
    SE_CHOICES,
    STAGE_FIRST_LAYERS,
    SqueezeExcite,
    make_divisible,
)

TINY = {"input_size": 32, "width_mult": 0.25, "num_classes": 10}
PLAIN7 = (*MBCONV_CHOICES, "id")


def tiny(**options):
    return MobileNetSpace(**{**TINY, **options})


def measured_macs(net: nn.Module, input_size: int, in_channels: int = 3) -> int:
    net.eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        net(torch.randn(1, in_channels, input_size, input_size))
    flops = counter.get_total_flops()
    assert flops % 2 == 0
    return flops // 2


def uniform_path(choice: str) -> MobileNetPath:
    return MobileNetPath((choice,) * 21)


# ------------------------------------------------------------------------------------------------- structure
def test_registered_and_built_by_name():
    assert "mobilenet" in list_search_spaces()
    space = get_search_space("mobilenet", input_size=32, width_mult=0.25, num_classes=10)
    assert isinstance(space, MobileNetSpace)
    assert space.genotype_type is MobileNetPath and space.name == "mobilenet"
    with pytest.raises(TypeError, match="unknown option"):
        get_search_space("mobilenet", widht_mult=0.5)


@pytest.mark.parametrize("se", [False, True])
def test_layers_and_choices(se):
    space = tiny(se=se)
    assert space.num_layers == 21 == len(space.layers)
    assert STAGE_FIRST_LAYERS == (0, 4, 8, 12, 16, 20)
    for i in range(21):
        choices = space.choices(i)
        assert choices == space.layer_info(i).choices
        if i in STAGE_FIRST_LAYERS:
            assert "id" not in choices
            assert len(choices) == (12 if se else 6)
            assert space.layer_info(i).stage_first
        else:
            assert choices[:7] == PLAIN7
            assert len(choices) == (13 if se else 7)
        assert set(choices) <= set(MOBILENET_CHOICES)
        assert any(c.endswith("_se") for c in choices) == se
    assert space.num_paths == (12**6 * 13**15 if se else 6**6 * 7**15)


def test_full_width_imagenet_structure():
    space = MobileNetSpace()
    assert space.resolved_variant == "imagenet" and space.resolved_activation == "relu6"
    assert (space.stem_channels, space.first_block_channels, space.head_channels_scaled) == (32, 16, 1280)
    assert [info.stage for info in space.layers] == [1] * 4 + [2] * 4 + [3] * 4 + [4] * 4 + [5] * 4 + [6]
    assert [space.layer_info(i).out_channels for i in STAGE_FIRST_LAYERS] == [24, 40, 80, 96, 192, 320]
    assert [space.layer_info(i).in_channels for i in STAGE_FIRST_LAYERS] == [16, 24, 40, 80, 96, 192]
    assert [space.layer_info(i).stride for i in STAGE_FIRST_LAYERS] == [2, 2, 2, 1, 2, 1]
    assert [space.layer_info(i).input_resolution for i in STAGE_FIRST_LAYERS] == [112, 56, 28, 14, 14, 7]
    assert space.layers[-1].output_resolution == 7
    for info in space.layers:
        if not info.stage_first:  # the identity is legal exactly where the block keeps the shape
            assert info.stride == 1 and info.in_channels == info.out_channels
        else:
            assert info.stride != 1 or info.in_channels != info.out_channels


def test_cifar_variant_and_inference():
    space = tiny()
    assert space.resolved_variant == "cifar" and space.stem_stride == 1
    assert space.stage_strides == (1, 2, 2, 1, 2, 1)
    assert [space.layer_info(i).input_resolution for i in STAGE_FIRST_LAYERS] == [32, 32, 16, 8, 8, 4]
    assert space.layers[-1].output_resolution == 4
    assert MobileNetSpace(input_size=64).resolved_variant == "cifar"
    assert MobileNetSpace(input_size=65).resolved_variant == "imagenet"
    assert MobileNetSpace(input_size=32, variant="imagenet").stem_stride == 2
    assert MobileNetSpace(input_size=224, variant="cifar").layers[-1].output_resolution == 28


def test_width_multiplier_rounding():
    assert [make_divisible(c * 0.25) for c in (32, 16, 24, 40, 80, 96, 192, 320)] == [8, 8, 8, 16, 24, 24, 48, 80]
    assert make_divisible(20) == 24 and make_divisible(10) == 16 and make_divisible(3) == 8
    space = tiny()
    assert (space.stem_channels, space.first_block_channels) == (8, 8)
    assert [space.layer_info(i).out_channels for i in STAGE_FIRST_LAYERS] == [8, 16, 24, 24, 48, 80]
    assert space.head_channels_scaled == 1280  # only scaled up
    wide = MobileNetSpace(width_mult=1.5)
    assert wide.head_channels_scaled == 1920 and wide.stem_channels == 48
    assert MobileNetSpace(head_channels=64, width_mult=0.25).head_channels_scaled == 64


def test_stage_first_layers_never_residual_even_with_equal_channels():
    space = tiny()
    info = space.layer_info(12)  # 80 -> 96 at full width, 24 -> 24 at width 0.25, stride 1
    assert (info.in_channels, info.out_channels, info.stride) == (24, 24, 1)
    assert "id" not in space.choices(12)
    supernet = space.build_supernet()
    assert not any(block.use_residual for block in supernet.layers[12].candidates.values())
    assert all(block.use_residual for name, block in supernet.layers[13].candidates.items() if name != "id")
    assert not supernet.first_block.use_residual


def test_activations():
    plain = tiny().build_network(uniform_path("k3e3"))
    kinds = {type(m) for m in plain.modules()}
    assert nn.ReLU6 in kinds and nn.Hardswish not in kinds
    se_space = tiny(se=True)
    assert se_space.resolved_activation == "hswish"
    net = se_space.build_network(uniform_path("k3e3_se"))
    kinds = {type(m) for m in net.modules()}
    assert nn.Hardswish in kinds and nn.ReLU6 not in kinds and nn.Hardsigmoid in kinds
    assert sum(isinstance(m, SqueezeExcite) for m in net.modules()) == 21
    assert tiny(se=True, activation="relu6").resolved_activation == "relu6"


def test_se_block_structure():
    block = MBConv(16, 16, 3, 1, 6, se=True, activation="hswish")
    assert block.se is not None
    assert block.se.reduce.out_channels == make_divisible(96 // 4) == 24
    assert block.se.reduce.bias is not None and block.se.expand.bias is not None
    assert MBConv(16, 16, 3, 1, 1).expand is None


def test_op_registry():
    assert set(list_ops("mobilenet")) == set(MOBILENET_CHOICES)
    block = get_op("k5e6_se", space="mobilenet")(8, 16, 2, residual=False, activation="hswish")
    assert isinstance(block, MBConv) and block.kernel_size == 5 and block.expand_ratio == 6 and block.se is not None
    assert block(torch.randn(1, 8, 9, 9)).shape == (1, 16, 5, 5)
    with pytest.raises(ValueError, match="identity needs stride 1"):
        get_op("id", space="mobilenet")(8, 16, 1, residual=False, activation="relu6")


# ----------------------------------------------------------------------------------------------------- paths
def test_path_string_json_round_trip_and_protocol():
    space = tiny(se=True)
    generator = torch.Generator().manual_seed(3)
    for _ in range(20):
        path = space.random_path(generator)
        text = str(path)
        assert text == "-".join(path.choices)
        assert MobileNetPath.from_string(text) == path
        assert MobileNetPath.from_json(path.to_json()) == path
        assert Genotype.from_json(path.to_json()) == path
        assert json.loads(path.to_json()) == {"space": "mobilenet", "genotype": text}
        assert space.parse_genotype(text) == path
        assert len(path) == 21 and path[3] == path.choices[3] and list(path) == list(path.choices)
        assert eval(repr(path), {"MobileNetPath": MobileNetPath}) == path
    a = MobileNetPath(list(uniform_path("k3e3").choices))  # lists are normalised to tuples
    assert a == uniform_path("k3e3") and hash(a) == hash(uniform_path("k3e3"))
    assert len({a, uniform_path("k3e3"), uniform_path("k7e6")}) == 2
    with pytest.raises(AttributeError):
        a.choices = ()  # frozen


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("k3e3-k3e3", "expected 21 choice names"),
        ("-".join(["k3e3"] * 20 + ["k9e3"]), "unknown choice 'k9e3' at layer 20"),
        ("-".join(["k3e3"] * 21) + " ", "unknown choice"),
        ("-".join(["k3e3"] * 4 + ["id"] + ["k3e3"] * 16), r"layer 4 \(stage 2, first layer\) cannot be 'id'"),
        ("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|none~1|none~2|", "another search space"),
        ("Genotype(normal=[('sep_conv_3x3', 0)], normal_concat=[2], reduce=[], reduce_concat=[2])", "another"),
    ],
)
def test_from_string_errors(text, match):
    with pytest.raises(ValueError, match=match):
        MobileNetPath.from_string(text)


def test_path_constructor_errors():
    with pytest.raises(TypeError, match="expected a string"):
        MobileNetPath.from_string(("k3e3",) * 21)
    with pytest.raises(ValueError, match="sequence of 21 choice names"):
        MobileNetPath("k3e3")
    with pytest.raises(ValueError, match="must hold 21"):
        MobileNetPath(("k3e3",) * 22)
    with pytest.raises(ValueError, match="layer 20"):
        MobileNetPath(("k3e3",) * 20 + ("id",))
    with pytest.raises(ValueError, match="belongs to the search space 'nasbench201', not to 'mobilenet'"):
        MobileNetPath.from_json(json.dumps({"space": "nasbench201", "genotype": "x"}))


def test_validate_against_space():
    plain, se_space = tiny(), tiny(se=True)
    se_path = MobileNetPath(("k3e3",) * 7 + ("k5e6_se",) + ("k3e3",) * 13)
    assert se_space.validate(se_path) is se_path
    for call in (
        plain.validate,
        plain.parse_genotype,
        plain.flops,
        plain.params,
        plain.build_network,
        lambda p: plain.build_supernet()(torch.randn(1, 3, 32, 32), p),
    ):
        with pytest.raises(ValueError, match=r"'k5e6_se' at layer 7 \(stage 2, position 3\).*se=True.*Legal choices"):
            call(se_path)
    assert plain.validate(list(uniform_path("k3e3").choices)) == uniform_path("k3e3")
    assert plain.validate(str(uniform_path("k3e3"))) == uniform_path("k3e3")
    with pytest.raises(TypeError, match="must be a string or a MobileNetPath"):
        plain.validate(3)


def test_random_path_legal_and_seeded():
    for se in (False, True):
        space = tiny(se=se)
        generator = torch.Generator().manual_seed(0)
        seen = [set() for _ in range(21)]
        for _ in range(500):
            path = space.random_path(generator)
            assert space.validate(path) == path
            for i in STAGE_FIRST_LAYERS:
                assert path[i] != "id"
            assert se or not any(c in SE_CHOICES for c in path)
            for i, choice in enumerate(path):
                seen[i].add(choice)
        assert [s == set(space.choices(i)) for i, s in enumerate(seen)] == [True] * 21
    space = tiny()
    a = space.random_path(torch.Generator().manual_seed(7))
    assert a == space.random_path(torch.Generator().manual_seed(7))
    assert a != space.random_path(torch.Generator().manual_seed(8))
    torch.manual_seed(1)
    b = space.random_path()
    torch.manual_seed(1)
    assert space.random_path() == b


def test_random_path_uniform_per_layer():
    space = tiny(se=True)
    generator = torch.Generator().manual_seed(0)
    n = 3000
    counts = [dict.fromkeys(space.choices(i), 0) for i in range(21)]
    for _ in range(n):
        for i, choice in enumerate(space.random_path(generator)):
            counts[i][choice] += 1
    for i in range(21):
        expected = n / len(counts[i])
        chi2 = sum((c - expected) ** 2 / expected for c in counts[i].values())
        # df = 11 or 12: the 0.999 quantile is 31.3 / 32.9
        assert chi2 < 32.9, (i, counts[i])


# --------------------------------------------------------------------------------------------- flops, params
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"se": True},
        {"se": True, "input_size": 33, "num_classes": 7},
        {"input_size": 48, "variant": "imagenet", "width_mult": 0.35, "in_channels": 1},
        {"se": True, "input_size": 24, "width_mult": 0.5, "head_channels": 64, "activation": "relu6"},
    ],
)
def test_flops_and_params_match_measured(options):
    space = tiny(**options)
    generator = torch.Generator().manual_seed(1)
    paths = [space.random_path(generator) for _ in range(3)]
    paths.append(MobileNetPath(tuple(space.choices(i)[-1] for i in range(21))))  # last choice: "id" or an SE
    for path in paths:
        net = space.build_network(path)
        assert space.flops(path) == measured_macs(net, space.input_size, space.in_channels)
        assert space.params(path) == sum(p.numel() for p in net.parameters())
    head = space.head_channels_scaled
    assert space.flops(paths[0], num_classes=3) == space.flops(paths[0]) - head * (space.num_classes - 3)
    assert space.params(paths[0], num_classes=3) == space.params(paths[0]) - (head + 1) * (space.num_classes - 3)


def test_flops_decrease_with_identity_and_rank_choices():
    space = tiny()
    base = ["k3e3"] * 21
    with_id = list(base)
    with_id[1] = "id"
    assert space.flops(with_id) < space.flops(base)
    assert space.params(with_id) < space.params(base)
    ordered = [space.flops(uniform_path(c)) for c in ("k3e3", "k5e3", "k7e3")]
    assert ordered == sorted(ordered) and len(set(ordered)) == 3
    assert space.flops(uniform_path("k3e6")) > space.flops(uniform_path("k3e3"))


def test_full_width_imagenet_flops():
    space = MobileNetSpace()
    path = uniform_path("k3e3")
    assert space.flops(path) == 257_422_208
    assert space.params(path) == 3_191_928
    assert space.flops(uniform_path("k3e6")) == 472_620_800
    assert space.flops(uniform_path("k7e6")) == 606_590_720
    assert space.params(uniform_path("k7e6")) == 5_103_336
    net = space.build_network(path)
    assert measured_macs(net, 224) == 257_422_208
    assert sum(p.numel() for p in net.parameters()) == 3_191_928


# ----------------------------------------------------------------------------------------------- networks
def test_supernet_forward_equals_discrete_network_after_copy():
    torch.manual_seed(0)
    space = tiny(se=True, dropout=0.2)
    supernet = space.build_supernet()
    assert isinstance(supernet, SinglePathSupernet) and supernet.arch_parameters() == []
    assert len(supernet.weight_parameters()) == len(list(supernet.parameters()))
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(4, 3, 32, 32)
    supernet.train()
    for _ in range(3):  # move some running statistics
        with torch.no_grad():
            supernet(x, space.random_path(generator))
    supernet.eval()
    for _ in range(3):
        path = space.random_path(generator)
        net = space.build_network(path)
        net.load_from_supernet(supernet)
        net.eval()
        assert isinstance(net, MobileNetNetwork) and net.path == path
        torch.testing.assert_close(net(x), supernet(x, path))
        # the copy is independent
        with torch.no_grad():
            net.classifier.weight.add_(1.0)
        assert not torch.equal(net.classifier.weight, supernet.classifier.weight)


def test_only_chosen_blocks_get_gradients_and_bn_updates():
    torch.manual_seed(0)
    space = tiny()
    supernet = space.build_supernet(num_classes=5)
    path = space.random_path(torch.Generator().manual_seed(2))
    before = {k: v.clone() for k, v in supernet.state_dict().items() if k.endswith("running_mean")}
    out = supernet(torch.randn(2, 3, 32, 32), path)
    assert out.shape == (2, 5)
    out.sum().backward()
    used = {id(p) for p in supernet.path_parameters(path)}
    assert used and len(used) == len(supernet.path_parameters(path))
    for name, param in supernet.named_parameters():
        if id(param) in used:
            assert param.grad is not None, name
        else:
            assert param.grad is None, name
    for key, value in supernet.state_dict().items():
        if key.endswith("running_mean") and key.startswith("layers."):
            index, choice = key.split(".")[1], key.split(".")[3]
            assert torch.equal(value, before[key]) != (path[int(index)] == choice), key
    assert sum(p.numel() for p in supernet.path_parameters(path)) == space.params(path, num_classes=5)


def test_network_options_and_shapes():
    space = tiny(in_channels=1, dropout=0.3, num_classes=4)
    net = space.build_network(uniform_path("k5e6"))
    assert net(torch.randn(2, 1, 17, 17)).shape == (2, 4)
    assert net.dropout.p == 0.3
    assert space.build_network(uniform_path("k5e6"), num_classes=2)(torch.randn(1, 1, 32, 32)).shape == (1, 2)
    supernet = space.build_supernet()
    assert supernet(torch.randn(2, 1, 40, 40), uniform_path("k7e3")).shape == (2, 4)
    with pytest.raises(ValueError, match="does not match"):
        tiny(in_channels=1, num_classes=3).build_network(uniform_path("k5e6")).load_from_supernet(supernet)
    with pytest.raises(ValueError, match="`num_classes` must be a positive integer"):
        space.build_supernet(num_classes=0)
    with pytest.raises(TypeError, match="must be a MobileNetSpace"):
        SinglePathSupernet(object())


def test_supernet_deepcopy_and_pickle():
    space = tiny()
    supernet = space.build_supernet()
    path = uniform_path("k3e6")
    x = torch.randn(1, 3, 32, 32)
    supernet.eval()
    clone = copy.deepcopy(supernet)
    torch.testing.assert_close(clone(x, path), supernet(x, path))
    restored = pickle.loads(pickle.dumps(supernet))
    torch.testing.assert_close(restored(x, path), supernet(x, path))
    assert pickle.loads(pickle.dumps(path)) == path


# --------------------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"input_size": 0}, r"`MobileNetSpace\(input_size=0\)`: `input_size` must be a positive integer"),
        ({"width_mult": 0}, "`width_mult` must be a positive number. Got 0"),
        ({"width_mult": -0.5}, "`width_mult` must be a positive number"),
        ({"width_mult": True}, "`width_mult` must be a positive number"),
        ({"width_mult": math.nan}, "`width_mult` must be a positive number"),
        ({"width_mult": "1"}, "`width_mult` must be a positive number"),
        ({"num_classes": 0}, "`num_classes` must be a positive integer"),
        ({"in_channels": 2.0}, "`in_channels` must be a positive integer"),
        ({"head_channels": -1}, "`head_channels` must be a positive integer"),
        ({"se": 1}, "`se` must be a bool. Got 1"),
        ({"dropout": 1.0}, r"`dropout` must be in \[0, 1\). Got 1.0"),
        ({"dropout": -0.1}, r"`dropout` must be in \[0, 1\)"),
        ({"variant": "tiny"}, "`variant` must be 'imagenet', 'cifar' or None"),
        ({"activation": "relu"}, r"`activation` must be one of \['relu6', 'hswish'\]"),
    ],
)
def test_bad_options(options, match):
    with pytest.raises(ValueError, match=match):
        MobileNetSpace(**options)


@pytest.mark.parametrize("index", [-1, 21, True, 1.0])
def test_bad_layer_index(index):
    space = tiny()
    with pytest.raises(ValueError, match=r"layer index must be an integer in \[0, 21\)"):
        space.choices(index)
    with pytest.raises(ValueError, match="layer index"):
        space.layer_info(index)


def test_mbconv_errors():
    with pytest.raises(ValueError, match="residual connection needs stride 1"):
        MBConv(8, 8, 3, 2, 3, residual=True)
    with pytest.raises(ValueError, match="residual connection needs stride 1"):
        MBConv(8, 16, 3, 1, 3, residual=True)
    with pytest.raises(ValueError, match="`kernel_size` must be odd"):
        MBConv(8, 8, 4, 1, 3)
    with pytest.raises(ValueError, match="`expand_ratio` must be a positive integer"):
        MBConv(8, 8, 3, 1, 0)
    with pytest.raises(ValueError, match="`activation` must be one of"):
        MBConv(8, 8, 3, 1, 3, activation="gelu")
