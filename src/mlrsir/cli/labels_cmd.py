"""``mlrsir labels evaluate|predict``: predicted labels by label transfer.

* ``evaluate --run RUN [--val-run VRUN] [--out reports/ucm]``: choose ``k``, the
  weighting and the threshold of label transfer on the validation split (queries = val,
  database = train; from ``VRUN``, a run trained on ``train`` only (``mlrsir train
  --eval-split val``), when given, else from ``RUN``'s own codes), compare with a linear
  classification head on the codes and the label-frequency baseline on validation, then
  measure on the test split (queries = test, database = the items ``RUN`` was trained
  on): per-label and macro F1 at the validation threshold and the label-score mAP. Writes
  ``OUT/label_prediction.md`` + ``.json`` and ``RUN/label_transfer.json`` (the chosen
  parameters, used by ``index build|add``).
* ``predict --index IDX [--recompute]``: (re)compute the stored predicted labels of an
  index (``index build|add`` do it for new items when the run has ``codes.npz``).
"""

from __future__ import annotations

import json
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser("labels", help="predicted labels (label transfer): evaluate, predict")
    sub = parser.add_subparsers(dest="labels_command", metavar="ACTION", required=True)
    ev = sub.add_parser("evaluate", help="choose label transfer's k on validation, measure F1/mAP on test")
    ev.add_argument("--run", required=True, help="encoded run (mlrsir encode) trained on train+val")
    ev.add_argument("--val-run", help="encoded run trained on train only (--eval-split val) for the choice")
    ev.add_argument("--out", default="reports/ucm", help="report folder (default reports/ucm)")
    ev.set_defaults(func=run_evaluate)
    pr = sub.add_parser("predict", help="store predicted label scores for the items of an index")
    pr.add_argument("--index", required=True)
    pr.add_argument("--recompute", action="store_true", help="recompute every item (default: missing ones)")
    pr.set_defaults(func=run_predict)


def evaluate(run: str, val_run: str | None = None) -> dict:
    """The figures of ``labels evaluate`` (see the module doc) as a JSON-able dict."""
    import numpy as np

    from mlrsir.inference import label_prediction as lp

    data = lp.run_codes(run)
    choice_data = lp.run_codes(val_run) if val_run else data
    c, y = choice_data["codes"], choice_data["labels"]
    val, train = choice_data["val"], choice_data["train"]
    if len(val) == 0:
        from mlrsir.errors import DataError

        raise DataError(f"{val_run or run}: split.json has no validation part to choose k on")
    params = lp.choose_parameters(c[val], y[val], c[train], y[train])
    head = lp.fit_linear_head(c[train], y[train])
    head_val = head(c[val])
    t_head, f1_head = lp.best_threshold(head_val, y[val])
    freq_val = lp.frequency_scores(y[train], len(val))
    t_freq, f1_freq = lp.best_threshold(freq_val, y[val])
    best = next(r for r in params["grid"] if r["k"] == params["k"] and r["weighting"] == params["weighting"])
    validation = {
        "codes_from": str(val_run or run),
        "unbiased": bool(val_run) or choice_data["eval_split"] == "val",
        "num_queries": int(len(val)),
        "num_database": int(len(train)),
        "label_transfer": best,
        "linear_head_on_codes": {
            "threshold": t_head,
            "macro_f1": f1_head,
            "map": lp.label_metrics(head_val, y[val], t_head, range(y.shape[1]))["map"],
        },
        "frequency_baseline": {
            "threshold": t_freq,
            "macro_f1": f1_freq,
            "map": lp.label_metrics(freq_val, y[val], t_freq, range(y.shape[1]))["map"],
        },
        "grid": params["grid"],
    }
    c, y, classes = data["codes"], data["labels"], data["classes"]
    db, test = data["trained_on"], data["test"]
    scores = lp.knn_label_scores(c[test], c[db], y[db], params["k"], params["weighting"])
    test_head = lp.fit_linear_head(c[db], y[db])(c[test])
    knn_val = (round(best["map"], 4), round(best["macro_f1"], 4))
    head_val = (round(validation["linear_head_on_codes"]["map"], 4), round(f1_head, 4))
    scorer = "linear" if head_val > knn_val else "knn"
    chosen = {k: params[k] for k in ("k", "weighting", "threshold")}
    chosen.update(scorer=scorer, threshold=t_head if scorer == "linear" else params["threshold"])
    result = {
        "run": str(run),
        "bits": int(c.shape[1]),
        "method": "label transfer: kNN over the training codes in Hamming space",
        "chosen": chosen,
        "validation": validation,
        "test": {
            "num_queries": int(len(test)),
            "num_database": int(len(db)),
            "label_transfer": lp.label_metrics(scores, y[test], params["threshold"], classes),
            "linear_head_on_codes": lp.label_metrics(test_head, y[test], t_head, classes),
            "frequency_baseline": lp.label_metrics(lp.frequency_scores(y[db], len(test)), y[test], t_freq, classes),
        },
    }
    result["test"]["label_frequency_train"] = {c_: float(v) for c_, v in zip(classes, np.asarray(y[db]).mean(0))}
    return result


SCORER_NAMES = {"knn": "label transfer (kNN over training codes)", "linear": "linear head on the codes"}


def markdown(result: dict) -> str:
    v, t = result["validation"], result["test"]
    lt, hd, fb = t["label_transfer"], t["linear_head_on_codes"], t["frequency_baseline"]
    trained = "model trained on train only" if v["unbiased"] else "model also trained on val: optimistic"
    lines = [
        "# Predicted labels (label transfer) on UCM multi-label",
        "",
        f"Run `{result['run']}` ({result['bits']} bits). Generated by `mlrsir labels evaluate`.",
        "",
        "Method: the score of label j for an image = weighted fraction of its k nearest training",
        "items (Hamming distance between codes, ties by training index) carrying j; weights 1",
        "(uniform) or 1/(1+d) (inverse). Predicted when score >= threshold.",
        "",
        "## Choice on the validation split",
        "",
        f"Queries = val ({v['num_queries']}), database = train ({v['num_database']}), codes of "
        f"`{v['codes_from']}` ({trained}).",
        "",
        "| scorer | k | weighting | threshold | macro F1 | label mAP |",
        "|---|---|---|---|---|---|",
    ]
    for r in v["grid"]:
        lines.append(
            f"| label transfer | {r['k']} | {r['weighting']} | {r['threshold']:.2f} | "
            f"{r['macro_f1']:.4f} | {r['map']:.4f} |"
        )
    h, f = v["linear_head_on_codes"], v["frequency_baseline"]
    lines += [
        f"| linear head on codes | - | - | {h['threshold']:.2f} | {h['macro_f1']:.4f} | {h['map']:.4f} |",
        f"| label frequencies | - | - | {f['threshold']:.2f} | {f['macro_f1']:.4f} | {f['map']:.4f} |",
        "",
        f"Label transfer's best: k = {result['chosen']['k']}, weighting = {result['chosen']['weighting']} "
        "(criterion: validation label mAP, then macro F1).",
        "",
        f"**Stored predictor: {SCORER_NAMES[result['chosen']['scorer']]}** (the better of the two on "
        f"validation label mAP, then macro F1), threshold {result['chosen']['threshold']:.2f}.",
        "",
        "## Test split",
        "",
        f"Queries = test ({t['num_queries']}), database = the run's training items ({t['num_database']}); "
        "thresholds from validation.",
        "",
        "| scorer | macro F1 | micro F1 | label mAP |",
        "|---|---|---|---|",
        f"| label transfer | {lt['macro_f1']:.4f} | {lt['micro_f1']:.4f} | {lt['map']:.4f} |",
        f"| linear head on codes | {hd['macro_f1']:.4f} | {hd['micro_f1']:.4f} | {hd['map']:.4f} |",
        f"| label frequencies (baseline) | {fb['macro_f1']:.4f} | {fb['micro_f1']:.4f} | {fb['map']:.4f} |",
        "",
        "Per label (label transfer vs baseline):",
        "",
        "| label | test support | F1 | precision | recall | AP | baseline F1 | baseline AP |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, row in lt["per_label"].items():
        b = fb["per_label"][name]
        ap = "-" if row["ap"] is None else f"{row['ap']:.4f}"
        bap = "-" if b["ap"] is None else f"{b['ap']:.4f}"
        lines.append(
            f"| {name} | {row['support']} | {row['f1']:.4f} | {row['precision']:.4f} | {row['recall']:.4f} | "
            f"{ap} | {b['f1']:.4f} | {bap} |"
        )
    return "\n".join(lines) + "\n"


def run_evaluate(args) -> int:
    from mlrsir.inference.label_prediction import save_parameters
    from mlrsir.io_atomic import write_text_atomic

    result = evaluate(args.run, args.val_run)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "label_prediction.json", json.dumps(result, indent=2) + "\n")
    write_text_atomic(out / "label_prediction.md", markdown(result))
    chosen = dict(result["chosen"], chosen_on=result["validation"]["codes_from"])
    save_parameters(args.run, chosen)
    t = result["test"]
    print(
        f"chosen on validation: {chosen['scorer']} (kNN k={chosen['k']} {chosen['weighting']}), "
        f"threshold={chosen['threshold']:.2f}; test (label transfer): "
        f"macro F1 {t['label_transfer']['macro_f1']:.4f} (baseline {t['frequency_baseline']['macro_f1']:.4f}), "
        f"label mAP {t['label_transfer']['map']:.4f} (baseline {t['frequency_baseline']['map']:.4f})"
    )
    print(f"wrote {out / 'label_prediction.md'} and {out / 'label_prediction.json'}")
    return 0


def run_predict(args) -> int:
    from mlrsir.index.predicted import update_predictions
    from mlrsir.index.store import CodeIndex

    with CodeIndex.open(args.index) as index:
        n = update_predictions(index, recompute=args.recompute)
    print(f"stored predicted labels for {n} items of {args.index}")
    return 0
