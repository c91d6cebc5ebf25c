"""Feature extractors, batched extraction and the disk cache."""

import json
import urllib.error

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from torchvision.models import WeightsEnum

from lightning_nas.datamodules import ArraySearchDataModule, TensorImageTransform
from lightning_nas.embeddings import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    FeatureExtractor,
    data_fingerprint,
    extract_features,
    feature_extractor,
    normalization_of,
)


class _Counting(nn.Module):
    def __init__(self, dim=3):
        super().__init__()
        self.calls = 0
        self.proj = nn.Linear(3, dim)

    def forward(self, x):
        self.calls += 1
        return self.proj(x.mean(dim=(2, 3)))


def _loader(n=10, seed=0, batch_size=4):
    g = torch.Generator().manual_seed(seed)
    return DataLoader(TensorDataset(torch.rand(n, 3, 5, 5, generator=g), torch.arange(n)), batch_size=batch_size)


def test_named_extractors_give_the_papers_feature_dimensions_at_any_input_size():
    torch.manual_seed(0)
    inception = feature_extractor("inception_v3", weights=None)
    assert inception.image_size == 299 and not inception.training
    assert inception(torch.rand(1, 3, 32, 32)).shape == (1, 2048)  # resized to 299 inside
    resnet = feature_extractor("resnet50", weights=None)
    assert resnet.image_size == 224 and resnet(torch.rand(1, 1, 40, 24)).shape == (1, 2048)  # grayscale, not square


def test_missing_pretrained_weights_raise_how_to_pass_a_file(monkeypatch):
    def offline(self, *args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(WeightsEnum, "get_state_dict", offline)
    with pytest.raises(RuntimeError, match=r'weights="/path/to/inception_v3_google-0cc3c7bd\.pth"') as err:
        feature_extractor("inception_v3")
    assert "nn.Module" in str(err.value) and "URLError" in str(err.value)


def test_pretrained_inception_weights_load_with_their_auxiliary_head(monkeypatch):
    from torchvision.models import inception_v3

    torch.manual_seed(0)
    published = inception_v3(weights=None, aux_logits=True, init_weights=False).state_dict()  # the file's layout
    monkeypatch.setattr(WeightsEnum, "get_state_dict", lambda self, *args, **kwargs: published)
    net = feature_extractor("inception_v3")
    assert net.backbone.transform_input and net.backbone.AuxLogits is None  # as torchvision's pretrained model
    assert torch.equal(net.backbone.Conv2d_1a_3x3.conv.weight, published["Conv2d_1a_3x3.conv.weight"])


def test_weights_from_a_file_load_into_the_torchvision_model(tmp_path):
    torch.manual_seed(0)
    source = feature_extractor("resnet18", weights=None, image_size=32)
    path = tmp_path / "resnet18.pth"
    torch.save(source.backbone.state_dict(), path)
    loaded = feature_extractor("resnet18", weights=str(path), image_size=32)
    x = torch.rand(2, 3, 32, 32)
    assert torch.equal(source(x), loaded(x))
    torch.save({"conv1.weight": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match="does not fit torchvision's 'resnet18'"):
        feature_extractor("resnet18", weights=str(tmp_path / "bad.pth"))
    with pytest.raises(ValueError, match="no weights file"):
        feature_extractor("resnet18", weights=str(tmp_path / "missing.pth"))
    with pytest.raises(ValueError, match="`name` must be a torchvision classification model"):
        feature_extractor("inception_v9", weights=None)
    with pytest.raises(ValueError, match="`weights` must be 'DEFAULT'"):
        feature_extractor("resnet18", weights="IMAGENET9K")


def test_the_extractor_undoes_the_data_normalisation_and_applies_imagenets():
    raw = torch.rand(2, 3, 6, 6)
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
    normalised = (raw - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    net = FeatureExtractor(nn.Identity()).set_input_normalization(mean, std)
    expected = (raw - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    assert torch.allclose(net(normalised), expected.flatten(1), atol=1e-5)
    found = normalization_of(TensorImageTransform(mean, std))
    np.testing.assert_allclose(found, (mean, std), rtol=1e-6)
    assert normalization_of(lambda x: x) is None


def test_extract_features_keeps_the_order_and_restores_the_module():
    net = _Counting().train()
    loader = _loader()
    features = extract_features(net, loader, device="cpu", progress=False)
    assert features.dtype == np.float32 and features.shape == (10, 3) and net.calls == 3
    with torch.no_grad():
        expected = net.eval()(loader.dataset.tensors[0]).numpy()
    np.testing.assert_allclose(features, expected, rtol=1e-5, atol=1e-6)
    net.train()
    extract_features(net, loader, device="cpu", progress=False)
    assert net.training  # mode restored


def test_the_cache_is_hit_on_the_next_run_and_missed_when_the_data_or_the_model_changes(tmp_path):
    torch.manual_seed(0)
    net = _Counting()
    first = extract_features(net, _loader(), device="cpu", cache_dir=tmp_path, progress=False)
    second = extract_features(net, _loader(), device="cpu", cache_dir=tmp_path, progress=False)
    assert net.calls == 3 and np.array_equal(first, second)
    extract_features(net, _loader(seed=1), device="cpu", cache_dir=tmp_path, progress=False)  # other images
    assert net.calls == 6
    extract_features(net, _loader(n=9), device="cpu", cache_dir=tmp_path, progress=False)  # other samples
    assert net.calls == 9
    with torch.no_grad():
        net.proj.weight.add_(1)
    extract_features(net, _loader(), device="cpu", cache_dir=tmp_path, progress=False)  # other weights
    assert net.calls == 12
    (sidecar, *_) = sorted(tmp_path.glob("features-*.json"))
    meta = json.loads(sidecar.read_text())
    assert {"model", "data", "shape", "dtype", "key"} <= set(meta)


def test_pool_fingerprint_changes_with_the_ids_and_the_images():
    x, y = torch.randint(0, 256, (12, 3, 4, 4), dtype=torch.uint8), torch.arange(12) % 2
    dm = ArraySearchDataModule(x, y)
    dm.setup("fit")
    assert data_fingerprint(dm.pool_dataloader()) == data_fingerprint(dm.pool_dataloader())
    assert data_fingerprint(dm.pool_dataloader()) != data_fingerprint(dm.pool_dataloader(np.arange(11)))
    x2 = x.clone()
    x2[0] += 1
    other = ArraySearchDataModule(x2, y)
    other.setup("fit")
    assert data_fingerprint(other.pool_dataloader()) != data_fingerprint(dm.pool_dataloader())
