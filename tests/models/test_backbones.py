"""Backbones: level shapes, measured feature_info, offline weights, fast failure when offline."""

from __future__ import annotations

import math
import socket
import threading
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from mlrsir.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from mlrsir.errors import ConfigError, WeightsUnavailableError
from mlrsir.models import backbones
from mlrsir.models.backbones import build_backbone, load_efficientnet_lite0_state_dict, torchvision_state_dict


@pytest.fixture(scope="module", params=["efficientnet_lite0", "resnet50", "vgg16"])
def random_backbone(request):
    return request.param, build_backbone(request.param, weights="none")


@pytest.fixture(scope="module")
def lite0_imagenet():
    return build_backbone("efficientnet_lite0", weights="imagenet").eval()


def test_levels_match_feature_info(random_backbone):
    name, net = random_backbone
    size = 80
    with torch.no_grad():
        feats = net.eval()(torch.randn(2, 3, size, size))
    assert len(feats) == len(net.feature_info) == 3
    assert [info["reduction"] for info in net.feature_info] == [8, 16, 32]
    for f, info in zip(feats, net.feature_info):
        assert f.shape[:2] == (2, info["num_chs"])
        assert math.floor(size / info["reduction"]) <= f.shape[-1] <= math.ceil(size / info["reduction"])
        assert dict(net.named_modules())[f"net.{info['module']}" if name != "vgg16" else info["module"]] is not None
    channels = [info["num_chs"] for info in net.feature_info]
    assert (
        channels
        == {"efficientnet_lite0": [40, 112, 1280], "resnet50": [512, 1024, 2048], "vgg16": [256, 512, 512]}[name]
    )


def test_backbones_have_no_classifier(random_backbone):
    _, net = random_backbone
    names = [n for n, _ in net.named_parameters()]
    assert not any(n.startswith(("net._fc", "net.fc", "classifier")) for n in names)


def test_lite0_imagenet_weights_are_the_checkpoint(lite0_imagenet):
    ckpt = load_efficientnet_lite0_state_dict()
    state = lite0_imagenet.net.state_dict()
    assert set(ckpt) - set(state) == {"_fc.weight", "_fc.bias"}
    for key, value in state.items():  # includes BN running statistics: the dry run must not touch them
        assert torch.equal(value, ckpt[key]), key


def _grace_hopper() -> torch.Tensor:
    """The photo shipped with matplotlib, 224x224, ImageNet-normalised (1, 3, 224, 224)."""
    import matplotlib.cbook
    from PIL import Image

    try:
        path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    except (OSError, ValueError):
        pytest.skip("matplotlib sample image not installed")
    img = np.asarray(Image.open(path).convert("RGB").resize((224, 224), Image.BILINEAR), dtype=np.float32) / 255
    x = torch.from_numpy(img.copy()).permute(2, 0, 1)[None]
    return (x - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)


def test_lite0_imagenet_predictions_are_sane(lite0_imagenet):
    """Deepest level + the checkpoint's classifier recognise a photo (class 652 'military uniform')."""
    ckpt = load_efficientnet_lite0_state_dict()
    x = _grace_hopper()
    with torch.no_grad():
        pooled = lite0_imagenet(x)[-1].mean(dim=(2, 3))
        logits = pooled @ ckpt["_fc.weight"].t() + ckpt["_fc.bias"]
        random_pooled = build_backbone("efficientnet_lite0", weights="none").eval()(x)[-1].mean(dim=(2, 3))
        random_logits = random_pooled @ ckpt["_fc.weight"].t() + ckpt["_fc.bias"]
    top5 = logits.topk(5).indices[0].tolist()
    assert top5[0] == 652, top5
    assert logits.softmax(1)[0, 652] > 0.2
    assert random_logits.argmax().item() != 652 or random_logits.softmax(1).max() < 0.05


def test_lite0_deepest_level_equals_package_features(lite0_imagenet):
    """Our trunk computes what the package's extract_features computes (on its own input scale)."""
    from efficientnet_lite_pytorch import EfficientNet

    ref = EfficientNet.from_name("efficientnet-lite0", image_size=None)
    ref.load_state_dict(load_efficientnet_lite0_state_dict(), strict=True)
    x = torch.randn(2, 3, 100, 100)
    x_tf = (
        x * torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255 / 128
        + (torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 255 - 127) / 128
    )
    with torch.no_grad():
        torch.testing.assert_close(lite0_imagenet(x)[-1], ref.eval().extract_features(x_tf), rtol=1e-4, atol=1e-4)


def test_unknown_names_are_config_errors():
    with pytest.raises(ConfigError, match="backbone='alexnet'"):
        build_backbone("alexnet", weights="none")
    with pytest.raises(ConfigError, match="weights='coco'"):
        build_backbone("efficientnet_lite0", weights="coco")


@pytest.fixture()
def offline(monkeypatch, tmp_path):
    """Empty torch hub cache and no network at all (DNS and connect fail)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def no_dns(*args, **kwargs):
        raise socket.gaierror("network blocked by test")

    def no_connect(*args, **kwargs):
        raise OSError("network blocked by test")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    monkeypatch.setattr(socket.socket, "connect", no_connect)
    return tmp_path


def test_resnet50_offline_fails_fast_with_instructions(offline):
    start = time.monotonic()
    with pytest.raises(WeightsUnavailableError) as err:
        build_backbone("resnet50", weights="imagenet")
    assert time.monotonic() - start < 10
    msg = str(err.value)
    assert str(offline / "hub" / "checkpoints" / "resnet50-11ad3fa6.pth") in msg
    assert "--weights none" in msg and "efficientnet_lite0" in msg


def test_hanging_probe_is_abandoned(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    release = threading.Event()

    def hang(*args, **kwargs):
        release.wait(60)
        raise OSError("released")

    monkeypatch.setattr(urllib.request, "urlopen", hang)
    monkeypatch.setattr(backbones, "PROBE_TIMEOUT_S", 0.5)
    weights = SimpleNamespace(url="https://download.example/models/vgg16-397923af.pth")
    start = time.monotonic()
    try:
        with pytest.raises(WeightsUnavailableError, match="vgg16-397923af.pth"):
            torchvision_state_dict(weights, "vgg16")
        assert time.monotonic() - start < backbones.PROBE_TIMEOUT_S + 3
    finally:
        release.set()


def test_cached_torchvision_file_is_used_offline(offline):
    weights = SimpleNamespace(url="https://download.example/models/tiny-0123abcd.pth")
    cache = offline / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.save({"w": torch.arange(3.0)}, cache / "tiny-0123abcd.pth")
    state = torchvision_state_dict(weights, "tiny")
    assert torch.equal(state["w"], torch.arange(3.0))


def test_corrupt_cached_file_names_the_path(offline):
    weights = SimpleNamespace(url="https://download.example/models/tiny-0123abcd.pth")
    cache = offline / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    (cache / "tiny-0123abcd.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsUnavailableError, match=str(Path("checkpoints") / "tiny-0123abcd.pth")):
        torchvision_state_dict(weights, "tiny")
