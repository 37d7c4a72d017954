"""Issue 16 additions to ``mlrsir index`` and ``mlrsir search`` (kept out of the busy modules).

* ``mlrsir index duplicates --index IDX --radius R [--json] [--limit N]``: groups of
  near-duplicate items (connected components of "Hamming distance <= R",
  :mod:`mlrsir.index.duplicates`).
* :func:`store_predictions`: after ``index build|add``, predicted label scores for the
  new items (label transfer from the run's training codes, :mod:`mlrsir.index.predicted`);
  skipped with a note when the run has neither ``label_scorer.npz`` (written by ``train``)
  nor ``codes.npz``, or no labels.
* ``mlrsir search --labels a,b [--all|--any]``: :func:`search_labels`.
"""

from __future__ import annotations

import json
import time

from mlrsir.text import printable


def register_duplicates(sub) -> None:
    for name in ("build", "add"):  # --max-cloud on the scene options of index build / add
        if name in sub.choices:
            sub.choices[name].add_argument(
                "--max-cloud",
                type=float,
                help="scene tiles: drop tiles whose cloud fraction (from the scene's BQA / QA_PIXEL / SCL band) "
                "exceeds this (0..1), counted; with --stac also skip Items whose eo:cloud_cover exceeds 100x this",
            )
    dup = sub.add_parser("duplicates", help="list groups of near-duplicate items (Hamming radius)")
    dup.add_argument("--index", required=True)
    dup.add_argument("--radius", type=int, default=0, help="Hamming radius R (default 0: identical codes)")
    dup.add_argument("--limit", type=int, default=50, help="groups printed (default 50; --json prints all)")
    dup.add_argument("--json", action="store_true")
    dup.set_defaults(func=run_duplicates)


def run_duplicates(args) -> int:
    from mlrsir.codes import pack_codes
    from mlrsir.index.duplicates import duplicate_groups
    from mlrsir.index.store import CodeIndex

    with CodeIndex.open(args.index, readonly=True, verify=False) as index:
        start = time.perf_counter()
        ids = index.ids()
        groups = duplicate_groups(ids, pack_codes(index.codes()), index.bits, args.radius)
        seconds = time.perf_counter() - start
        shown = groups if args.json else groups[: max(0, args.limit)]
        records = index.get_many([i for g in shown for i in g])
    if args.json:
        print(
            json.dumps([[{"id": i, "path": records[i]["path"]} for i in g if i in records] for g in groups], indent=2)
        )
        return 0
    covered = sum(len(g) for g in groups)
    print(
        f"{len(groups)} groups of near duplicates (Hamming radius {args.radius}) covering {covered} of "
        f"{len(ids)} items; {seconds:.2f} s"
    )
    for n, group in enumerate(shown, 1):
        print(f"group {n} ({len(group)} items):")
        for i in group:
            if i in records:
                print(f"  {i}  {printable(records[i]['path'])}")
    if len(groups) > len(shown):
        print(f"... {len(groups) - len(shown)} more groups (--limit, --json)")
    return 0


def after_fill(index, args, log=print) -> None:
    """Hooks run after ``index build|add``: cloud fractions of new scene tiles (and
    ``--max-cloud``), then predicted labels."""
    if index.geo_items():
        from mlrsir.index.tile_quality import remove_cloudy, update_cloud_fractions

        summary = update_cloud_fractions(index)
        stac = (
            f", {summary['from_stac']} of them from their STAC Item's eo:cloud_cover"
            if summary.get("from_stac")
            else ""
        )
        log(
            f"cloud fraction stored for {summary['computed']} tiles ({summary['no_band']} without a quality band{stac})"
        )
        max_cloud = getattr(args, "max_cloud", None)
        if max_cloud is not None:
            removed = remove_cloudy(index, max_cloud)
            log(f"skipped {removed} cloudy tiles (cloud fraction > {max_cloud}); {len(index)} items in the index")
    store_predictions(index, log=log)


def add_time_cloud_arguments(parser) -> None:
    group = parser.add_argument_group("scene tiles: acquisition time and clouds")
    group.add_argument("--after", help="only tiles acquired on/after this ISO date or datetime")
    group.add_argument("--before", help="only tiles acquired on/before this ISO date or datetime")
    group.add_argument("--max-cloud", type=float, help="only tiles with a cloud fraction <= this (0..1)")


def filter_rows(index, rows: list[dict], args) -> list[dict]:
    """Rows passing ``--after/--before/--max-cloud`` (ranks renumbered)."""
    from mlrsir.index.tile_quality import allowed_ids

    keep = allowed_ids(
        index,
        after=getattr(args, "after", None),
        before=getattr(args, "before", None),
        max_cloud=getattr(args, "max_cloud", None),
    )
    if keep is None:
        return rows
    out = [dict(row) for row in rows if row["id"] in keep]
    for n, row in enumerate(out, 1):
        row["rank"] = n
    return out


def store_predictions(index, log=print) -> int:
    """Predicted labels for items without them; 0 (and a note) when the run cannot predict."""
    from mlrsir.errors import MlrsirError
    from mlrsir.index.predicted import update_predictions

    try:
        n = update_predictions(index)
    except (MlrsirError, KeyError, ValueError) as exc:
        log(f"note: no predicted labels stored ({exc})")
        return 0
    if n:
        log(f"stored predicted labels for {n} items (label transfer from {index.run_dir})")
    return n


def add_label_search_arguments(parser, what) -> None:
    add_time_cloud_arguments(parser)
    what.add_argument("--labels", help="search by labels (no query image): comma-separated, e.g. ship,dock")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--all", dest="label_mode", action="store_const", const="all", help="items with all labels")
    mode.add_argument("--any", dest="label_mode", action="store_const", const="any", help="items with any label")
    parser.set_defaults(label_mode="all")


EXIT_NOTHING_FOUND = 1
"""Exit status of ``search`` when the answer is empty (it says why on standard error)."""


def checked_labels(index, labels, option: str) -> list[str]:
    """``labels`` as the index's vocabulary names; one ConfigError for ``--label`` and
    ``--labels`` alike when none is given, one is unknown (the known ones named) or the
    index has no labels at all (:class:`mlrsir.web.label_vocabulary.LabelVocabulary`)."""
    from mlrsir.errors import ConfigError
    from mlrsir.inference.label_availability import LabelsUnavailableError, labels_unavailable_message
    from mlrsir.web.label_vocabulary import LabelVocabulary

    wanted = [str(x).strip() for x in labels]
    if not any(wanted):
        raise ConfigError(f"{option}: no label given (e.g. {option} ship,dock)")
    vocabulary = LabelVocabulary(lambda fn: fn(index), list(index.classes or []))
    if not vocabulary.usable():  # no labels at all: say how to get them
        raise LabelsUnavailableError(f"{option}: {labels_unavailable_message(index.path, index.run_dir)}")
    return vocabulary.check([x for x in wanted if x], option)


def say_nothing_found(why: str) -> int:
    """An empty answer is never silent: say so on standard error, exit :data:`EXIT_NOTHING_FOUND`."""
    import sys

    print(f"mlrsir: no results: {why}", file=sys.stderr)
    return EXIT_NOTHING_FOUND


def search_labels(args) -> int:
    from mlrsir.index.predicted import rank_by_labels
    from mlrsir.index.store import CodeIndex

    with CodeIndex.open(args.index, readonly=True) as index:
        wanted = checked_labels(index, args.labels.split(","), "--labels")
        rows = rank_by_labels(index, wanted, mode=args.label_mode, k=args.k)
    rows = [row for row in rows if row["score"] > 0]  # an item scored 0 has none of the labels
    if args.json:
        print(json.dumps(rows, indent=2))
    if not rows:
        return say_nothing_found(f"no indexed item has {args.label_mode} of {', '.join(wanted)}")
    if args.json:
        return 0
    print(f"items ranked by {args.label_mode} of {', '.join(wanted)} (score: ground truth 1/0, else predicted)")
    print(f"{'rank':>4}  {'score':>6}  source        path  labels")
    for row in rows:
        labels = row["labels"] if row["labels"] is not None else row["predicted_labels"]
        print(
            f"{row['rank']:>4}  {row['score']:>6.3f}  {row['label_source']:<12}  {printable(row['path'])}  "
            f"{printable(', '.join(labels or [])) or '-'}"
        )
    return 0


def label_filter_note(index, labels) -> str | None:
    """The line saying which labels the filter used (None without a filter)."""
    if not labels:
        return None
    from mlrsir.index.predicted import label_filter_ids

    _, source = label_filter_ids(index, labels)
    return f"label filter {', '.join(labels)}: {source.replace('_', ' ')} labels"
