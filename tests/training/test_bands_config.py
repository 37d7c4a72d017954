"""The ``bands`` / ``radiometry`` config fields and the model they build (no data needed)."""

from __future__ import annotations

import json

import pytest

from mlrsir.errors import ConfigError
from mlrsir.models.input_spec import input_spec
from mlrsir.run.config import TrainConfig, resolve_config


def test_rgb_datasets_default_and_old_configs():
    config = resolve_config(dataset="ucm", root="/x")
    assert config.bands == "rgb" and dict(config.radiometry) == {}
    old = config.to_dict()
    del old["bands"], old["radiometry"]  # a config.json written before the fields existed
    again = TrainConfig.from_dict(json.loads(json.dumps(old)))
    assert again == config and not input_spec(again).multispectral
    with pytest.raises(ConfigError, match="8-bit RGB"):
        resolve_config(dataset="ucm", root="/x", bands="all")


def test_bigearthnet_bands_are_canonical():
    def bands(value):
        return resolve_config(dataset="bigearthnet", root="/x", bands=value).bands

    assert bands("rgb") == bands("B04,B03,B02") == "rgb"
    assert bands("ALL") == bands(",".join(["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B11", "B12"]))
    assert bands("b2, b3,b4 ,B08") == "B02,B03,B04,B08"
    config = resolve_config(dataset="bigearthnet", root="/x", bands="all")
    assert dict(config.radiometry) == {"kind": "reflectance", "scale": 10000.0, "low": 0.0, "high": 0.3}
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    spec = input_spec(config)
    assert spec.in_chans == 12 and spec.rgb == (3, 2, 1) and spec.widened
    assert not input_spec(resolve_config(dataset="bigearthnet", root="/x")).widened  # B04,B03,B02
    with pytest.raises(ConfigError, match="RGB bands"):
        bands("B02,B03,B08")
    with pytest.raises(ConfigError, match="band"):
        bands("B10")
    with pytest.raises(ConfigError, match="radiometry"):
        resolve_config(dataset="bigearthnet", root="/x", radiometry={"kind": "reflectance", "low": 1, "high": 0})


def test_build_model_widens_the_stem_for_bands():
    import torch

    from mlrsir.methods.registry import get_method
    from mlrsir.models.build import build_model
    from mlrsir.models.in_chans import first_conv

    config = resolve_config(dataset="bigearthnet", root="/x", bands="B02,B03,B04,B08", weights="none", bits=16)
    net = build_model(config, get_method(config.method, config.bits, **config.method_params)).eval()
    assert first_conv(net.backbone).weight.shape[1] == 4 and net.in_chans_info["rgb"] == [2, 1, 0]
    with torch.no_grad():
        assert net(torch.zeros(1, 4, 32, 32)).shape == (1, 16)
