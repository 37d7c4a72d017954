"""BigEarthNet Sentinel-2 patches with multi-labels (Sumbul et al. 2019; 19 classes: 2021).

Two layouts are read (detected from ``root``); ``root`` may also be a folder whose
sub-folders are such roots (e.g. ``bigearthnet/`` holding ``v1-patches/``, ``npz-v1/`` and
``npz-v2/``): the patches of every sub-folder that holds one of the two layouts are then
read together, sub-folders in name order (``relative_paths`` = ``<sub>/<patch>``).

* v1 release: one folder per patch, ``ROOT/<patch>/<patch>_B01.tif .. _B12.tif``
  (B8A included, no B10) and ``ROOT/<patch>/<patch>_labels_metadata.json`` whose
  ``labels`` are CORINE Land Cover 43-class names (plus ``coordinates``, ``projection``,
  ``acquisition_date``);
* npz: ``ROOT/<patch>.npz`` with one uint16 array per band (keys ``B01`` .. ``B12``,
  ``B8A``) and ``ROOT/labels.json`` mapping patch name to ``labels_43`` and/or ``labels_19``, or to
  ``labels`` (BigEarthNet v2 style: 19-class names only; then ``nomenclature=43`` is an
  error).

Labels: ``nomenclature=19`` (default) maps the 43 names with :data:`CLC43_TO_19` (the
19-class nomenclature of Sumbul et al., "BigEarthNet Dataset with a New Class-Nomenclature
for Remote Sensing Image Understanding", 2021: 11 of the 43 classes are dropped, others
merged). Patches with no 19-class label left are dropped and listed in
``inconsistencies["patches_without_19_class_label"]``. When ``labels.json`` holds
``labels_19`` too, it must agree with the mapping (DataError otherwise).
``nomenclature=43`` keeps the CORINE names.

Bands: ``"rgb"`` = B04, B03, B02; ``"all"`` = the 12 bands :data:`ALL_BANDS`; or a list of
names. Every band is resampled to 120 x 120 px (the 10 m grid) with bilinear
interpolation (pixel-centre aligned, ``align_corners=False``; 20 m: 60 px, 60 m: 20 px).

``dataset[i]`` -> ``{"image": transform(array) or float32 tensor (bands, 120, 120) in
[0, 255] (``radiometry``, default Sentinel-2 reflectance 0..0.3), "labels": float32 (C,),
"index": i, "path": str}``; :meth:`BigEarthNet.read_patch` gives the raw uint16
``(bands, 120, 120)``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from affine import Affine

from mlrsir.data.base import MultiLabelDataset
from mlrsir.errors import ConfigError, DataError
from mlrsir.geo import acquisition
from mlrsir.geo.georef import tile_geo
from mlrsir.geo.radiometry import SENTINEL2_L1C, Radiometry
from mlrsir.geo.raster import open_raster

PATCH_SIZE = 120
ALL_BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12")
RGB_BANDS = ("B04", "B03", "B02")

#: BigEarthNet v1's 43 CORINE Land Cover level-3 names, in the release's order, each with its class
#: of the 19-class nomenclature (Sumbul et al. 2021), or None for the 11 classes it drops (not
#: identifiable from Sentinel-2 alone at patch level).
CLC43_TO_19: dict[str, str | None] = {
    "Continuous urban fabric": "Urban fabric",
    "Discontinuous urban fabric": "Urban fabric",
    "Industrial or commercial units": "Industrial or commercial units",
    "Road and rail networks and associated land": None,
    "Port areas": None,
    "Airports": None,
    "Mineral extraction sites": None,
    "Dump sites": None,
    "Construction sites": None,
    "Green urban areas": None,
    "Sport and leisure facilities": None,
    "Non-irrigated arable land": "Arable land",
    "Permanently irrigated land": "Arable land",
    "Rice fields": "Arable land",
    "Vineyards": "Permanent crops",
    "Fruit trees and berry plantations": "Permanent crops",
    "Olive groves": "Permanent crops",
    "Pastures": "Pastures",
    "Annual crops associated with permanent crops": "Permanent crops",
    "Complex cultivation patterns": "Complex cultivation patterns",
    "Land principally occupied by agriculture, with significant areas of natural vegetation": (
        "Land principally occupied by agriculture, with significant areas of natural vegetation"
    ),
    "Agro-forestry areas": "Agro-forestry areas",
    "Broad-leaved forest": "Broad-leaved forest",
    "Coniferous forest": "Coniferous forest",
    "Mixed forest": "Mixed forest",
    "Natural grassland": "Natural grassland and sparsely vegetated areas",
    "Moors and heathland": "Moors, heathland and sclerophyllous vegetation",
    "Sclerophyllous vegetation": "Moors, heathland and sclerophyllous vegetation",
    "Transitional woodland/shrub": "Transitional woodland, shrub",
    "Beaches, dunes, sands": "Beaches, dunes, sands",
    "Bare rock": None,
    "Sparsely vegetated areas": "Natural grassland and sparsely vegetated areas",
    "Burnt areas": None,
    "Inland marshes": "Inland wetlands",
    "Peatbogs": "Inland wetlands",
    "Salt marshes": "Coastal wetlands",
    "Salines": "Coastal wetlands",
    "Intertidal flats": None,
    "Water courses": "Inland waters",
    "Water bodies": "Inland waters",
    "Coastal lagoons": "Marine waters",
    "Estuaries": "Marine waters",
    "Sea and ocean": "Marine waters",
}

#: The 43 names in the release's order.
CLC43 = list(CLC43_TO_19)

#: The 19 classes in the paper's order (the order they first occur in the 43-class list).
CLASSES_19 = list(dict.fromkeys(name for name in CLC43_TO_19.values() if name is not None))


def to_19(labels_43: Sequence[str], where: str = "") -> list[str]:
    """Sorted-by-class-order 19-class names of 43-class ``labels_43`` (DataError on unknown names)."""
    out = set()
    for name in labels_43:
        if name not in CLC43_TO_19:
            raise DataError(f"{where}: unknown BigEarthNet 43-class label {name!r}")
        if CLC43_TO_19[name] is not None:
            out.add(CLC43_TO_19[name])
    return [c for c in CLASSES_19 if c in out]


def resolve_bands(bands: str | Sequence[str]) -> list[str]:
    """``"rgb"`` / ``"all"`` / list of names (``"B4"`` accepted for ``"B04"``) -> band keys."""
    if isinstance(bands, str):
        key = bands.strip().lower()
        if key == "rgb":
            return list(RGB_BANDS)
        if key == "all":
            return list(ALL_BANDS)
        bands = bands.split(",")
    out = []
    for b in bands:
        name = str(b).strip().upper()
        if name[1:].isdigit():
            name = f"B{int(name[1:]):02d}"
        if name not in ALL_BANDS:
            raise ConfigError(f"BigEarthNet band {b!r}: expected 'rgb', 'all' or names from {', '.join(ALL_BANDS)}")
        out.append(name)
    return out


def resample_bilinear(band: np.ndarray, size: int = PATCH_SIZE) -> np.ndarray:
    """``(h, w)`` -> ``(size, size)`` float32, bilinear, pixel centres aligned (no-op if same size)."""
    if band.shape == (size, size):
        return band.astype(np.float32)
    import torch  # noqa: PLC0415 (torch only on this path)
    import torch.nn.functional as F  # noqa: PLC0415 (torch only on this path)

    t = torch.from_numpy(band.astype(np.float32))[None, None]
    return F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False)[0, 0].numpy()


class BigEarthNet(MultiLabelDataset):
    """BigEarthNet patches (module docstring). ``paths``: patch folders or ``.npz`` files."""

    LAYOUT = (
        "<patch>/<patch>_Bxx.tif + <patch>_labels_metadata.json (v1), or <patch>.npz + labels.json, "
        "or sub-folders holding either"
    )
    NOTE = (
        "BigEarthNet Sentinel-2 patches (19-class nomenclature, 43 CORINE names mapped); the 60 real "
        "patches shipped for tests are a functional test, not a benchmark: their mAP says nothing "
        "about retrieval quality"
    )
    #: the fixed radiometric rule of the dataset (uint16 reflectance x 10000, 0..0.3 -> 0..255)
    RADIOMETRY = SENTINEL2_L1C
    resolve_bands = staticmethod(resolve_bands)

    def __init__(
        self,
        root: str | Path,
        bands: str | Sequence[str] = "rgb",
        nomenclature: int = 19,
        strict: bool = True,
        transform: Callable | None = None,
        radiometry=None,
    ):
        root = Path(root)
        if nomenclature not in (19, 43):
            raise ConfigError(f"nomenclature={nomenclature}: expected 19 or 43")
        if not root.is_dir():
            raise DataError(f"{root}: dataset folder not found (expected {self.LAYOUT})")
        self.band_names = resolve_bands(bands)
        layout, (names, paths, labels43, given19, meta) = self._scan_root(root)
        if layout is None:  # a folder of BigEarthNet roots
            layouts: list[str] = []
            names, paths, labels43, given19, meta = [], [], [], [], []
            for sub in sorted(p for p in root.iterdir() if p.is_dir()):
                sub_layout, found = self._scan_root(sub)
                if sub_layout is None:
                    continue
                for acc, part in zip((names, paths, labels43, given19, meta), found):
                    acc.extend(part)
                layouts += [sub_layout] * len(found[0])
            self.layout = "mixed" if len(set(layouts)) > 1 else (layouts[0] if layouts else "v1")
        else:
            self.layout = layout
            layouts = [layout] * len(names)
        if not names:
            raise DataError(f"{root}: no BigEarthNet patches (expected {self.LAYOUT})")
        classes = CLASSES_19 if nomenclature == 19 else CLC43
        rows, kept, dropped = [], [], []
        for i, name in enumerate(names):
            where = str(paths[i])
            if labels43[i] is None:  # BigEarthNet v2 style: 19-class labels only
                if nomenclature == 43:
                    raise DataError(f"{where}: only 19-class labels are given; use nomenclature=19")
                names_i = [c for c in CLASSES_19 if c in set(given19[i])]
            else:
                names_i = (
                    to_19(labels43[i], where) if nomenclature == 19 else [c for c in CLC43 if c in set(labels43[i])]
                )
                if given19[i] is not None and nomenclature == 19 and set(given19[i]) != set(names_i):
                    raise DataError(f"{where}: labels_19 {given19[i]} disagree with the 43->19 mapping {names_i}")
                unknown = [lab for lab in labels43[i] if lab not in CLC43_TO_19]
                if unknown:
                    raise DataError(f"{where}: unknown BigEarthNet 43-class label(s) {unknown}")
            if not names_i:
                dropped.append(name)
                continue
            kept.append(i)
            rows.append([1 if c in names_i else 0 for c in classes])
        if not kept:
            raise DataError(f"{root}: no patch has a {nomenclature}-class label")
        self.radiometry: Radiometry = radiometry or self.RADIOMETRY
        self.patch_names = [names[i] for i in kept]
        self.patch_layouts = [layouts[i] for i in kept]
        self.metadata = [meta[i] for i in kept]
        super().__init__(
            name="bigearthnet",
            root=root,
            classes=list(classes),
            paths=[paths[i] for i in kept],
            labels=np.array(rows, dtype=np.uint8).reshape(len(kept), len(classes)),
            scenes=None,
            transform=transform,
            inconsistencies={"patches_without_19_class_label": dropped} if dropped else {},
        )

    @classmethod
    def _scan_root(cls, root: Path):
        """``(layout, scan)`` of a npz or v1 root; ``(None, empty scan)`` when it holds neither."""
        if (root / "labels.json").is_file():
            return "npz", cls._scan_npz(root)
        found = cls._scan_v1(root)
        return ("v1" if found[0] else None), found

    @staticmethod
    def _scan_v1(root: Path):
        names, paths, l43, l19, meta = [], [], [], [], []
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            label_file = folder / f"{folder.name}_labels_metadata.json"
            if not label_file.is_file():
                continue
            try:
                data = json.loads(label_file.read_text(encoding="utf-8"))
                labels = list(data["labels"])
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise DataError(f"{label_file}: malformed labels metadata ({exc})") from exc
            names.append(folder.name)
            paths.append(folder)
            l43.append(labels)
            l19.append(None)
            meta.append(data)
        return names, paths, l43, l19, meta

    @staticmethod
    def _scan_npz(root: Path):
        label_file = root / "labels.json"
        try:
            table = json.loads(label_file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DataError(f"{label_file}: not valid JSON ({exc})") from exc
        names, paths, l43, l19, meta = [], [], [], [], []
        for npz in sorted(root.glob("*.npz")):
            entry = table.get(npz.stem)
            if not isinstance(entry, dict) or not {"labels_43", "labels_19", "labels"} & set(entry):
                raise DataError(f"{label_file}: no labels_43 / labels_19 / labels entry for patch {npz.stem}")
            given19 = entry.get("labels_19", entry.get("labels"))
            if given19 is not None:
                unknown = [n for n in given19 if n not in CLASSES_19]
                if unknown:
                    raise DataError(f"{label_file}: patch {npz.stem}: unknown 19-class label(s) {unknown}")
            names.append(npz.stem)
            paths.append(npz)
            l43.append(list(entry["labels_43"]) if "labels_43" in entry else None)
            l19.append(list(given19) if given19 is not None else None)
            meta.append({k: v for k, v in entry.items() if not k.startswith("labels")})
        return names, paths, l43, l19, meta

    def read_patch(self, index: int) -> np.ndarray:
        """uint16 ``(len(bands), 120, 120)``: the selected bands, bilinear-resampled to 120 px."""
        path = self.paths[index]
        out = np.empty((len(self.band_names), PATCH_SIZE, PATCH_SIZE), dtype=np.uint16)
        if self.patch_layouts[index] == "npz":
            try:
                with np.load(path) as data:
                    raw = {b: data[b] for b in self.band_names}
            except KeyError as exc:
                raise DataError(f"{path}: band {exc} missing from the patch") from exc
            except (OSError, ValueError) as exc:
                raise DataError(f"{path}: unreadable npz ({exc})") from exc
        else:
            raw = {}
            for b in self.band_names:
                file = path / f"{path.name}_{b}.tif"
                if not file.is_file():
                    raise DataError(f"{file}: band file missing from patch {path.name}")
                with open_raster(file) as ds:
                    raw[b] = ds.read(1)
        for i, b in enumerate(self.band_names):
            out[i] = np.clip(np.rint(resample_bilinear(raw[b])), 0, 65535).astype(np.uint16)
        return out

    def geo(self, index: int) -> dict | None:
        """The :mod:`mlrsir.geo.georef` dict of a v1 patch (None for npz patches)."""
        meta = self.metadata[index]
        if "coordinates" not in meta or "projection" not in meta:
            return None
        from rasterio.crs import CRS  # noqa: PLC0415 (rasterio only on this path)
        from rasterio.windows import Window  # noqa: PLC0415 (rasterio only on this path)

        c = meta["coordinates"]
        res = (c["lrx"] - c["ulx"]) / PATCH_SIZE
        transform = Affine(res, 0, c["ulx"], 0, -(c["uly"] - c["lry"]) / PATCH_SIZE, c["uly"])
        return tile_geo(
            self.patch_names[index],
            Window(0, 0, PATCH_SIZE, PATCH_SIZE),
            transform,
            CRS.from_wkt(meta["projection"]),
            acquisition.from_bigearthnet(meta.get("acquisition_date")),
        )

    def __getitem__(self, index: int) -> dict:
        import torch  # noqa: PLC0415 (torch only on this path)

        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} patches")
        arr = self.read_patch(index)
        image = self.transform(arr) if self.transform is not None else torch.from_numpy(self.radiometry.apply(arr))
        return {
            "image": image,
            "labels": torch.from_numpy(self.labels[index].astype(np.float32)),
            "index": index,
            "path": str(self.paths[index]),
        }
