"""The one encoder/index compatibility check (mlrsir.inference.fingerprint)."""

from __future__ import annotations

import pytest

from mlrsir.errors import ConfigError, IndexStoreError
from mlrsir.inference.fingerprint import (
    FINGERPRINT_KEYS,
    check_encoder_compatible,
    check_fingerprint,
    fingerprint_differences,
    model_fingerprint,
)
from tests.fakes.encoder import FakeEncoder

FP = {"bits": 32, "backbone": "efficientnet_lite0", "method": "mlrsir", "image_size": 224, "weights_sha256": "ab" * 32}


class _Index:
    def __init__(self, fingerprint, bits=None):
        self.fingerprint = fingerprint
        self.bits = fingerprint["bits"] if bits is None else bits
        self.db_path = "ix/index.sqlite"


def test_same_fingerprint_passes():
    check_fingerprint(FP, dict(FP), where="ix")
    check_fingerprint(FP, {**FP, "bits": 32.0} | {"extra": "ignored"}, where="ix")  # only FINGERPRINT_KEYS count
    encoder = FakeEncoder()
    check_encoder_compatible(encoder, _Index(dict(encoder.fingerprint)))


@pytest.mark.parametrize("key, other", [("bits", 64), ("backbone", "resnet50"), ("weights_sha256", "cd" * 32)])
def test_each_difference_is_refused_naming_both_values(key, other):
    with pytest.raises(IndexStoreError) as info:
        check_fingerprint(FP, {**FP, key: other}, where="ix/index.sqlite", model="run R")
    message = str(info.value)
    assert message.startswith("ix/index.sqlite: the index was built by another model than run R")
    assert key in message and repr(FP[key]) in message and repr(other) in message
    assert fingerprint_differences(FP, {**FP, key: other}) == [f"{key}: index has {FP[key]!r}, model has {other!r}"]


def test_missing_key_counts_as_a_difference():
    with pytest.raises(IndexStoreError, match="image_size: index has 224, model has None"):
        check_fingerprint(FP, {k: v for k, v in FP.items() if k != "image_size"}, where="ix")


def test_encoder_check_bits_then_fingerprint_then_retrieval():
    encoder = FakeEncoder()  # 16 bits
    with pytest.raises(IndexStoreError, match="stores 32-bit codes but the encoder makes 16-bit codes"):
        check_encoder_compatible(encoder, _Index(FP))
    with pytest.raises(IndexStoreError, match=r"weights_sha256: index has 'ff', model has '0+'"):
        check_encoder_compatible(encoder, _Index({**encoder.fingerprint, "weights_sha256": "ff"}))
    encoder.retrieval = "aqd"
    with pytest.raises(ConfigError, match="asymmetric quantizer distance"):
        check_encoder_compatible(encoder, _Index(dict(encoder.fingerprint)))


def test_model_fingerprint_has_exactly_the_compared_keys(tmp_path):
    class Config:
        bits, backbone, method, image_size = 24, "vgg16", "dhn", 128

    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"weights")
    fp = model_fingerprint(Config, weights)
    assert tuple(fp) == FINGERPRINT_KEYS
    assert fp["bits"] == 24 and len(fp["weights_sha256"]) == 64
