"""Train / validation / test splits: made once per seed, saved as JSON, checked on load.

Protocol (paper: 70 % of the images for training, 30 % as queries): ``test`` is the
query set; ``trainval = train + val`` is the 70 % part and the retrieval database at
final evaluation; ``val`` (``val_fraction`` of the 70 %) is held out of training for
model selection.

* Datasets with scenes (UCM, DLRSD): per scene, a seeded permutation; the first
  ``round(test_fraction * n_scene)`` images are test (30 of each 100-image scene), the
  next ``round(val_fraction * (n_scene - n_test))`` val (7), the rest train (63).
* Datasets without scenes (WHDLD): iterative stratification
  (:mod:`mlrsir.data.stratify`) with proportions (test, rest), then again on the rest
  with (val, train). Subset sizes are then close to, not exactly, the fractions.

The three arrays are disjoint and cover all images by construction (each image gets one
subset). ``round`` is half-up.

JSON file (:func:`save_split`)::

    {"format": "mlrsir-split", "version": 1, "dataset": "ucm", "seed": 0,
     "method": "scene" | "iterative", "test_fraction": 0.3, "val_fraction": 0.1,
     "num_images": 2100, "names": ["Images/agricultural/agricultural00.jpg", ...],
     "train": [...], "val": [...], "test": [...]}

``names`` are the dataset's image paths relative to its root; :func:`load_split` with a
dataset refuses a split made on a different image list.

Protocols (``protocol`` key; files without it are ``"paper"``):

* ``"paper"``: the split above.
* ``"unseen-scenes"`` (datasets with scenes only): ``num_unseen`` (6) of the scene classes
  (21 for UCM) are drawn with the seed and held out of training. The other (seen) scenes'
  images are train/val (``val_fraction`` of each seen scene is val); the unseen scenes'
  images are split per scene into ``test`` (``test_fraction``, the queries) and
  ``database`` (the rest, what the queries search). The four arrays are disjoint and cover
  all images; the file adds ``"protocol"``, ``"seen_scenes"``, ``"unseen_scenes"``,
  ``"num_unseen"`` and ``"database"``. Labels still come from the same classes.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mlrsir.data.stratify import iterative_stratification
from mlrsir.errors import ConfigError, DataError
from mlrsir.io_atomic import write_json_atomic

SPLIT_FORMAT = "mlrsir-split"
SPLIT_VERSION = 1
PROTOCOLS = ("paper", "unseen-scenes")
DEFAULT_NUM_UNSEEN = 6


@dataclass
class Split:
    """Index arrays (``np.ndarray`` int64, sorted) into a dataset's image list."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    seed: int
    method: str
    dataset: str
    test_fraction: float = 0.3
    val_fraction: float = 0.1
    names: list[str] | None = field(default=None, repr=False)
    protocol: str = "paper"
    database: np.ndarray | None = None  # unseen-scenes: the searched images of the unseen scenes
    seen_scenes: list[str] | None = None
    unseen_scenes: list[str] | None = None

    @property
    def trainval(self) -> np.ndarray:
        """``sorted(train ∪ val)``: the paper's 70 % part (database at final evaluation)."""
        return np.sort(np.concatenate([self.train, self.val]))

    @property
    def num_images(self) -> int:
        extra = 0 if self.database is None else len(self.database)
        return len(self.train) + len(self.val) + len(self.test) + extra

    def validate(self, source: str = "split") -> None:
        """DataError unless train/val/test (and database) are disjoint and cover 0..N-1
        exactly once (N = number of names when present, else the number of indices)."""
        parts = [self.train, self.val, self.test] + ([] if self.database is None else [self.database])
        everything = np.concatenate(parts)
        n = len(self.names) if self.names is not None else len(everything)
        if n == 0:
            raise DataError(f"{source}: split is empty")
        valid = len(everything) == n and everything.min() >= 0 and everything.max() < n
        if not valid or (np.bincount(everything, minlength=n) != 1).any():
            raise DataError(
                f"{source}: train/val/test must be disjoint and cover image indices 0..{n - 1} "
                f"once each (found {len(everything)} indices)"
            )


def _half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


def _check_fractions(test_fraction: float, val_fraction: float) -> None:
    if not 0.0 < test_fraction < 1.0:
        raise ConfigError(f"test_fraction must be in (0, 1), got {test_fraction}")
    if not 0.0 <= val_fraction < 1.0:
        raise ConfigError(f"val_fraction must be in [0, 1), got {val_fraction}")


def _unseen_scene_split(dataset, seed: int, test_fraction: float, val_fraction: float, num_unseen: int) -> Split:
    scenes = getattr(dataset, "scenes", None)
    if scenes is None:
        raise ConfigError(
            f"--protocol unseen-scenes needs a dataset with scene classes; {getattr(dataset, 'name', '?')!r} has none"
        )
    scenes = np.asarray(scenes)
    names = sorted(set(scenes.tolist()))
    if not 0 < num_unseen < len(names):
        raise ConfigError(f"unseen-scenes: cannot hold out {num_unseen} of {len(names)} scene classes")
    rng = np.random.default_rng(seed)
    unseen = sorted(names[i] for i in rng.choice(len(names), size=num_unseen, replace=False))
    subset = np.full(len(scenes), -1, dtype=np.int64)  # 0 train, 1 val, 2 test (queries), 3 database
    for scene in names:
        members = rng.permutation(np.flatnonzero(scenes == scene))
        if scene in unseen:
            n_test = _half_up(test_fraction * len(members))
            subset[members[:n_test]] = 2
            subset[members[n_test:]] = 3
        else:
            n_val = _half_up(val_fraction * len(members))
            subset[members[:n_val]] = 1
            subset[members[n_val:]] = 0
    split = Split(
        train=np.flatnonzero(subset == 0),
        val=np.flatnonzero(subset == 1),
        test=np.flatnonzero(subset == 2),
        seed=int(seed),
        method="scene",
        dataset=getattr(dataset, "name", "unknown"),
        test_fraction=float(test_fraction),
        val_fraction=float(val_fraction),
        names=list(dataset.relative_paths) if hasattr(dataset, "relative_paths") else None,
        protocol="unseen-scenes",
        database=np.flatnonzero(subset == 3),
        seen_scenes=[n for n in names if n not in unseen],
        unseen_scenes=unseen,
    )
    split.validate()
    return split


def make_split(
    dataset,
    seed: int = 0,
    test_fraction: float = 0.3,
    val_fraction: float = 0.1,
    protocol: str = "paper",
    num_unseen: int = DEFAULT_NUM_UNSEEN,
) -> Split:
    """Split ``dataset`` (a :class:`~mlrsir.data.base.MultiLabelDataset`) deterministically.

    See the module docstring for the methods and the two protocols.
    """
    _check_fractions(test_fraction, val_fraction)
    if protocol not in PROTOCOLS:
        raise ConfigError(f"--protocol must be one of {PROTOCOLS}, got {protocol!r}")
    if protocol == "unseen-scenes":
        return _unseen_scene_split(dataset, seed, test_fraction, val_fraction, num_unseen)
    rng = np.random.default_rng(seed)
    n = len(dataset.labels)
    subset = np.full(n, -1, dtype=np.int64)  # 0 train, 1 val, 2 test
    scenes = getattr(dataset, "scenes", None)
    if scenes is not None:
        method = "scene"
        scenes = np.asarray(scenes)
        for scene in sorted(set(scenes.tolist())):
            members = rng.permutation(np.flatnonzero(scenes == scene))
            n_test = _half_up(test_fraction * len(members))
            n_val = _half_up(val_fraction * (len(members) - n_test))
            subset[members[:n_test]] = 2
            subset[members[n_test : n_test + n_val]] = 1
            subset[members[n_test + n_val :]] = 0
    else:
        method = "iterative"
        labels = np.asarray(dataset.labels)
        first = iterative_stratification(labels, [test_fraction, 1.0 - test_fraction], rng)
        subset[first == 0] = 2
        rest = np.flatnonzero(first == 1)
        if val_fraction > 0 and len(rest):
            second = iterative_stratification(labels[rest], [val_fraction, 1.0 - val_fraction], rng)
            subset[rest] = np.where(second == 0, 1, 0)
        else:
            subset[rest] = 0
    split = Split(
        train=np.flatnonzero(subset == 0),
        val=np.flatnonzero(subset == 1),
        test=np.flatnonzero(subset == 2),
        seed=int(seed),
        method=method,
        dataset=getattr(dataset, "name", "unknown"),
        test_fraction=float(test_fraction),
        val_fraction=float(val_fraction),
        names=list(dataset.relative_paths) if hasattr(dataset, "relative_paths") else None,
    )
    split.validate()
    return split


def save_split(split: Split, path: str | Path) -> Path:
    """Write ``split`` as JSON (atomically: temporary file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": SPLIT_FORMAT,
        "version": SPLIT_VERSION,
        "dataset": split.dataset,
        "seed": split.seed,
        "method": split.method,
        "test_fraction": split.test_fraction,
        "val_fraction": split.val_fraction,
        "num_images": split.num_images,
        "names": split.names,
        "train": [int(i) for i in split.train],
        "val": [int(i) for i in split.val],
        "test": [int(i) for i in split.test],
    }
    if split.protocol != "paper":
        payload.update(
            protocol=split.protocol,
            seen_scenes=split.seen_scenes,
            unseen_scenes=split.unseen_scenes,
            num_unseen=len(split.unseen_scenes or []),
            database=[int(i) for i in (split.database if split.database is not None else [])],
        )
    write_json_atomic(path, payload, indent=1)
    return path


def load_split(path: str | Path, dataset=None) -> Split:
    """Read a split JSON; with ``dataset``, check it was made on the same image list."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: split file not found")
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a valid split JSON ({exc})") from None
    if not isinstance(payload, dict) or payload.get("format") != SPLIT_FORMAT:
        raise DataError(f"{path}: not an mlrsir split file (missing format={SPLIT_FORMAT!r})")
    try:
        split = Split(
            train=np.asarray(payload["train"], dtype=np.int64),
            val=np.asarray(payload["val"], dtype=np.int64),
            test=np.asarray(payload["test"], dtype=np.int64),
            seed=int(payload["seed"]),
            method=str(payload["method"]),
            dataset=str(payload["dataset"]),
            test_fraction=float(payload.get("test_fraction", 0.3)),
            val_fraction=float(payload.get("val_fraction", 0.1)),
            names=payload.get("names"),
            protocol=str(payload.get("protocol", "paper")),
            database=None if payload.get("database") is None else np.asarray(payload["database"], dtype=np.int64),
            seen_scenes=payload.get("seen_scenes"),
            unseen_scenes=payload.get("unseen_scenes"),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{path}: malformed split file ({exc!r})") from None
    split.validate(str(path))
    if dataset is not None:
        check_split_matches(split, dataset, str(path))
    return split


def check_split_matches(split: Split, dataset, source: str = "split") -> None:
    """DataError unless ``split`` was made on exactly ``dataset``'s image list."""
    names = list(dataset.relative_paths)
    if split.num_images != len(names):
        raise DataError(
            f"{source}: split has {split.num_images} images but dataset {dataset.name!r} at "
            f"{dataset.root} has {len(names)}; the split belongs to another copy or dataset"
        )
    if split.names is None:
        return
    different = [i for i, (a, b) in enumerate(zip(split.names, names)) if a != b]
    if different:
        i = different[0]
        raise DataError(
            f"{source}: image list differs from dataset at {dataset.root} in {len(different)} "
            f"places (first: index {i}: split {split.names[i]!r} vs dataset {names[i]!r})"
        )


def load_or_create_split(
    path: str | Path,
    dataset,
    seed: int = 0,
    test_fraction: float = 0.3,
    val_fraction: float = 0.1,
    protocol: str = "paper",
) -> Split:
    """Load ``path`` if it exists (checked against ``dataset`` and the arguments), else
    make the split and save it there."""
    path = Path(path)
    if path.exists():
        split = load_split(path, dataset)
        wanted = (int(seed), float(test_fraction), float(val_fraction))
        found = (split.seed, split.test_fraction, split.val_fraction)
        if not all(math.isclose(a, b) for a, b in zip(wanted, found)) or split.protocol != protocol:
            raise ConfigError(
                f"{path}: existing split has seed/test_fraction/val_fraction {found} and protocol "
                f"{split.protocol!r}, requested {wanted} and {protocol!r}; use another path or delete the file"
            )
        return split
    split = make_split(dataset, seed=seed, test_fraction=test_fraction, val_fraction=val_fraction, protocol=protocol)
    save_split(split, path)
    return split


def protocol_indices(split: Split, eval_split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(train, query, database) indices of the retrieval protocol.

    ``eval_split="test"``: train on the 70 % part (train + val), queries = test, database =
    train + val (the paper's protocol). ``eval_split="val"``: train on train only, queries =
    val, database = train (used to choose hyperparameters without touching the test split).
    Unseen-scenes splits (``split.database`` set), ``"test"``: train on train + val (the
    seen scenes), queries = test, database = ``split.database`` (both from the unseen scenes).
    """
    if eval_split == "test" and split.database is not None:
        trainval = np.asarray(split.trainval, dtype=np.int64)
        return trainval, np.asarray(split.test, dtype=np.int64), np.asarray(split.database, dtype=np.int64)
    if eval_split == "test":
        trainval = np.asarray(split.trainval, dtype=np.int64)
        return trainval, np.asarray(split.test, dtype=np.int64), trainval
    train = np.asarray(split.train, dtype=np.int64)
    val = np.asarray(split.val, dtype=np.int64)
    if val.size == 0:
        raise ConfigError(
            f"the validation split is empty ({train.size} training images): evaluating on validation "
            "(--eval-split val, mlrsir tune) needs a dataset large enough to hold one out"
        )
    return train, val, train
