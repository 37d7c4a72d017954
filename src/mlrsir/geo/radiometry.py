"""One fixed radiometric rule per index: sensor values -> the model's 0..255 range.

A :class:`Radiometry` is chosen once for an index (stored with it as JSON) and applied
unchanged to every tile; it is never re-estimated from a tile or a scene, so the same
ground reflectance always gives the same model input.

Rule (``kind="reflectance"`` or ``"dn"``)::

    physical = value / scale                      # reflectance, or DN when scale = 1
    out = clip((physical - low) / (high - low), 0, 1) * 255     float32 in [0, 255]

``kind="uint8"``: 8-bit inputs pass unchanged (values 0..255 kept as they are).
:meth:`Radiometry.apply` returns float32 ``(..., H, W)`` in [0, 255] (uint8 input of any
kind: unchanged values, as float32); :meth:`Radiometry.to_uint8` rounds it to uint8.

Presets:

* :data:`SENTINEL2_L1C` (also right for L2A / BigEarthNet): uint16 reflectance x 10000,
  reflectance 0 .. 0.3 -> 0 .. 255 (0.3 keeps vegetation, soil and water well resolved;
  clouds, snow and bright sand saturate).
* :data:`LANDSAT8_L1_DN`: Landsat 8 Collection L1 DNs 5000 .. 20000 -> 0 .. 255. With the
  OLI MTL factors (``REFLECTANCE_MULT = 2e-5``, ``ADD = -0.1``) this is TOA reflectance
  0 .. 0.3 before the sun-elevation correction, i.e. the same range as Sentinel-2.
* :data:`UINT8`: 8-bit imagery (UCM, WHDLD...).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass

import numpy as np

from mlrsir.errors import ConfigError

KINDS = ("reflectance", "dn", "uint8")


@dataclass(frozen=True)
class Radiometry:
    """Fixed mapping of sensor values to 0..255 (module docstring).

    Attributes:
        kind: ``"reflectance"``, ``"dn"`` or ``"uint8"``.
        scale: stored value per physical unit (10000 for Sentinel-2 reflectance; 1 for DNs).
        low, high: physical values mapped to 0 and 255 (``low < high``).
    """

    kind: str = "reflectance"
    scale: float = 10000.0
    low: float = 0.0
    high: float = 0.3

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ConfigError(f"radiometry kind={self.kind!r}: expected one of {', '.join(KINDS)}")
        finite = all(math.isfinite(v) for v in (self.scale, self.low, self.high))
        if self.kind != "uint8" and not (finite and self.scale > 0 and self.high > self.low):
            raise ConfigError(
                f"radiometry scale={self.scale}, low={self.low}, high={self.high}: "
                "need finite numbers with scale > 0 and high > low"
            )

    def apply(self, values: np.ndarray) -> np.ndarray:
        """float32 in [0, 255], same shape; uint8 input (or kind ``uint8``) is passed unchanged."""
        values = np.asarray(values)
        if values.dtype == np.uint8 or self.kind == "uint8":
            if values.dtype != np.uint8:
                raise ConfigError(f"radiometry 'uint8' expects 8-bit input, got {values.dtype}")
            return values.astype(np.float32)
        physical = values.astype(np.float32) / np.float32(self.scale)
        out = (physical - np.float32(self.low)) / np.float32(self.high - self.low)
        return (np.clip(out, 0.0, 1.0) * np.float32(255.0)).astype(np.float32)

    def to_uint8(self, values: np.ndarray) -> np.ndarray:
        """:meth:`apply` rounded to uint8 (8-bit input returned as is)."""
        values = np.asarray(values)
        if values.dtype == np.uint8:
            return values
        return np.rint(self.apply(values)).astype(np.uint8)

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> Radiometry:
        unknown = set(data) - {"kind", "scale", "low", "high"}
        if unknown:
            raise ConfigError(f"radiometry: unknown keys {sorted(unknown)}")
        return cls(**data)


SENTINEL2_L1C = Radiometry("reflectance", 10000.0, 0.0, 0.3)
LANDSAT8_L1_DN = Radiometry("dn", 1.0, 5000.0, 20000.0)
UINT8 = Radiometry("uint8", 1.0, 0.0, 255.0)
PRESETS = {"sentinel2": SENTINEL2_L1C, "landsat8_l1": LANDSAT8_L1_DN, "uint8": UINT8}
