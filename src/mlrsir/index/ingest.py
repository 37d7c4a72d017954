"""Filling an index from image files: finding images, labels, encoding, adding.

Used by ``mlrsir index build`` / ``mlrsir index add`` (and the web app's upload path
if it wants). Paths are stored absolute and resolved (``Path.resolve()``), so the same
file is recognised whatever folder a later ``add`` names; the build folder is recorded
as the index's ``images_root``.

Encoding goes through the run's encoder (``mlrsir.inference.encoder.load_encoder``) in
chunks of ``4 * batch_size`` images; each chunk is one atomic ``CodeIndex.add``, so an
interrupted build keeps every finished chunk and ``mlrsir index add`` with the same
folder resumes it (paths already present are skipped).
"""

from __future__ import annotations

import time
from pathlib import Path

from mlrsir.errors import DataError
from mlrsir.inference.fingerprint import check_binary_codes

INDEX_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff")


def list_images(root: str | Path) -> list[Path]:
    """Image files under ``root`` (recursive; suffixes in :data:`INDEX_IMAGE_SUFFIXES`,
    any case), absolute and resolved, sorted by their path relative to ``root``."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: image folder not found")
    found = [p for p in root.rglob("*") if p.suffix.lower() in INDEX_IMAGE_SUFFIXES and p.is_file()]
    found.sort(key=lambda p: p.relative_to(root).as_posix())
    return [p.resolve() for p in found]


def expand_inputs(inputs: list[str | Path]) -> list[Path]:
    """Folders -> :func:`list_images`; files kept (resolved); order kept, duplicates dropped."""
    out: list[Path] = []
    seen: set[Path] = set()
    for item in inputs:
        item = Path(item)
        if item.is_dir():
            paths = list_images(item)
        elif item.is_file():
            paths = [item.resolve()]
        else:
            raise DataError(f"{item}: no such image file or folder")
        for p in paths:
            if p not in seen:
                seen.add(p)
                out.append(p)
    return out


def load_encoder(run_dir, runtime: str = "auto"):
    """:func:`mlrsir.inference.encoder.load_encoder` (looked up on its module at call time,
    so tests can replace it), refusing runs whose retrieval is not Hamming distance on
    binary codes (:func:`~mlrsir.inference.fingerprint.check_binary_codes`)."""
    import mlrsir.inference.encoder as encoder_module  # torch: imported only when encoding

    if runtime == "auto":
        encoder = encoder_module.load_encoder(run_dir)
    else:
        encoder = encoder_module.load_encoder(run_dir, runtime=runtime)
    check_binary_codes(encoder)
    return encoder


def read_labels(label_file: str | Path) -> tuple[list[str], dict[str, list[str]]]:
    """``(classes, {image name without extension: [labels]})`` from a label file
    (any format :func:`mlrsir.data.labels.read_label_file` reads; a UCM ``.mat`` by the
    implied release names, see :func:`mlrsir.data.labels.ucm_release_names`)."""
    from mlrsir.data.labels import read_label_file

    table = read_label_file(label_file)
    by_name = {name: [table.classes[j] for j in row.nonzero()[0]] for name, row in zip(table.names, table.labels)}
    return table.classes, by_name


def labels_for_path(path: Path, by_name: dict[str, list[str]] | None) -> list[str] | None:
    """Labels of an image matched by its file stem; None without a table or row."""
    if by_name is None:
        return None
    return by_name.get(path.stem)


def image_size(path: Path) -> tuple[int, int]:
    """``(width, height)`` from the file header (no full decode)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            return int(image.width), int(image.height)
    except Exception as exc:  # an image the encoder read but PIL cannot size: report, keep 0
        raise DataError(f"{path}: cannot read image size ({exc})") from None


def _reports_sizes(encoder) -> bool:
    """Whether ``encoder.encode_paths`` takes ``sizes=`` (the run's encoder does; stand-ins may not)."""
    import inspect

    try:
        return "sizes" in inspect.signature(encoder.encode_paths).parameters
    except (TypeError, ValueError):
        return False


def _rows_per_input(codes, ok, n: int, bits: int):
    """Codes with one row per input path: the encoder returns either that, or one row per
    readable file (``ok`` marks which); unreadable rows are left zero (never stored)."""
    import numpy as np

    codes = np.asarray(codes, dtype=np.uint8).reshape(-1, bits)
    ok = np.asarray(ok, dtype=bool)
    if codes.shape[0] == n:
        return codes
    if codes.shape[0] == int(ok.sum()):
        full = np.zeros((n, bits), dtype=np.uint8)
        full[ok] = codes
        return full
    raise ValueError(f"encoder returned {codes.shape[0]} codes for {n} paths ({int(ok.sum())} readable)")


def encode_into_index(
    index,
    encoder,
    paths: list[Path],
    *,
    labels_by_name=None,
    batch_size: int = 64,
    strict: bool = False,
    progress: bool = True,
    log=print,
) -> dict:
    """Encode ``paths`` not yet in ``index`` and add them, chunk by chunk.

    Returns:
        ``{"added", "already_present", "failed": [(path, message)], "unlabelled",
        "seconds", "images_per_s"}``.
    """
    from tqdm import tqdm

    present = index.ids_for_paths([str(p) for p in paths])
    todo = [p for p in paths if str(p) not in present]
    failed: list[tuple[str, str]] = []
    added = unlabelled = 0
    chunk = max(1, 4 * int(batch_size))
    start = time.perf_counter()
    bar = tqdm(total=len(todo), unit="img", disable=not progress, desc="encoding", dynamic_ncols=True)
    try:
        for offset in range(0, len(todo), chunk):
            part = todo[offset : offset + chunk]
            sizes: list = []  # (width, height) from the encoder's own decode: no second open
            codes, _outputs, ok, errors = encoder.encode_paths(
                [str(p) for p in part],
                batch_size=batch_size,
                progress=False,
                on_error="raise" if strict else "skip",
                **({"sizes": sizes} if _reports_sizes(encoder) else {}),
            )
            codes = _rows_per_input(codes, ok, len(part), encoder.bits)
            for path, message in errors:
                failed.append((str(path), str(message)))
                log(f"skipped {message}" if str(message).startswith(str(path)) else f"skipped {path}: {message}")
            records, keep = [], []
            for row, (path, good) in enumerate(zip(part, ok)):
                if not good:
                    continue
                try:
                    found = sizes[row] if row < len(sizes) else None
                    width, height = found if found is not None else image_size(path)
                except DataError as exc:
                    if strict:
                        raise
                    failed.append((str(path), str(exc)))
                    log(f"skipped {exc}")
                    continue
                labels = labels_for_path(path, labels_by_name)
                unlabelled += labels_by_name is not None and labels is None
                records.append({"path": str(path), "width": width, "height": height, "labels": labels})
                keep.append(row)
            if records:
                index.add(records, codes[keep])
                added += len(records)
            bar.update(len(part))
    finally:
        bar.close()
    seconds = time.perf_counter() - start
    return {
        "added": added,
        "already_present": len(paths) - len(todo),
        "failed": failed,
        "unlabelled": int(unlabelled),
        "seconds": seconds,
        "images_per_s": (len(todo) / seconds) if seconds > 0 and todo else 0.0,
    }
