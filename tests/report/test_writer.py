"""Benchmark report writer: tables (hand-computed mean ± sample std), CSV, JSON, figures."""

from __future__ import annotations

import csv
import json
import math
import re

import pytest
from PIL import Image

from mlrsir.errors import DataError
from mlrsir.report.figures import mean_curve, row_curves
from mlrsir.report.paper import (
    TABLE1_MAP,
    TABLE1_MAP_WHDLD,
    TABLE2_P10,
    TABLE2_P100,
    TABLE3_P10,
    TABLE3_P100,
    paper_table_for,
    paper_tables_for,
)
from mlrsir.report.tables import MISSING, aggregate, format_stat, summarize
from mlrsir.report.writer import write_report

# known mAP values: (method, bits) -> one value per seed
MAP = {
    ("mlrsir", 12): [0.80, 0.82, 0.87],
    ("mlrsir", 32): [0.90, 0.91, 0.95],
    ("dch", 12): [0.70, 0.74, 0.75],
    ("dch", 32): [0.78, 0.80, 0.85],
}


def _curves(level: float, hamming: bool, num_db: int = 200) -> dict:
    n = [1, 5, 10, 20, 50, 100, 200]
    p = [max(0.0, level - 0.001 * k) for k in n]
    curves = {
        "precision_at_n": {"n": n, "precision": p, "precision_tie_aware": [v - 0.01 for v in p]},
        "pr_by_rank": {
            "n": n,
            "precision": p,
            "recall": [k / num_db for k in n],
            "precision_tie_aware": p,
            "recall_tie_aware": [k / num_db for k in n],
        },
        "pr_by_radius": None,
    }
    if hamming:
        curves["pr_by_radius"] = {
            "radius": [0, 1, 2, 3],
            "precision": [None, level, level - 0.1, 0.3],
            "recall": [0.0, 0.1, 0.5, 1.0],
            "num_queries_nothing_retrieved": [5, 0, 0, 0],
            "mean_retrieved": [0.0, 3.0, 40.0, 200.0],
        }
    return curves


def make_rows(curves_at_top_level_for=("dch",)) -> list[dict]:
    rows = []
    for (method, bits), values in MAP.items():
        for seed, v in enumerate(values):
            row = {
                "method": method,
                "bits": bits,
                "seed": seed,
                "dataset": "ucm",
                "map": v,
                "map_stable": v - 0.01,
                "map_at_100": v + 0.01,
                "map_at_100_stable": v,
                "precision_at_10": v + 0.02,
                "precision_at_100": v - 0.05,
                "ndcg_at_100": 0.5,
                "acg_at_100": 2.0 + seed,
                "num_queries": 630,
                "num_database": 1470,
                "train_seconds": 10.0 * (seed + 1),
                "encode_images_per_s": 100.0,
                "run_dir": f"runs/{method}-{bits}b-s{seed}",
            }
            curves = _curves(v, hamming=(method == "mlrsir"))
            if method in curves_at_top_level_for:
                row.update(curves)  # curves at the row's top level
            else:
                row["curves"] = curves
            rows.append(row)
    return rows


def hand_mean_std(values: list[float]) -> tuple[float, float]:
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((x - mean) ** 2 for x in values) / (n - 1))
    return mean, std


def table_after(md: str, heading: str) -> list[str]:
    """The Markdown table lines that follow ``heading``."""
    lines = md.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("#") and heading in line)
    out = []
    for line in lines[start + 1 :]:
        if line.startswith("|"):
            out.append(line)
        elif out:
            break
    return out


def cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    rows = make_rows()
    floors = {
        "random_ranking": {"mean": 0.4312, "std": 0.0021, "n": 3},
        "random_codes": {"12": {"mean": 0.4401, "std": 0.004}, "32": {"mean": 0.4388, "std": 0.003}},
    }
    ablations = [
        {"variant": "full", "bits": 32, "seed": s, "map": v, "map_stable": v} for s, v in enumerate([0.90, 0.92])
    ] + [{"variant": "without CBAM", "bits": 32, "seed": s, "map": v} for s, v in enumerate([0.85, 0.86])]
    settings = {"iterations": 300, "seeds": {12: 3, 32: 3}, "machine": "2 CPU", "git_revision": "abc1234"}
    paths = write_report(
        rows,
        out,
        floors=floors,
        ablations=ablations,
        dataset_note="UCM images with the Chaudhuri et al. 2018 multi-labels",
        settings=settings,
    )
    return out, rows, paths, (out / "report.md").read_text(encoding="utf-8")


def test_map_table_has_hand_computed_mean_and_sample_std(report):
    _, _, _, md = report
    lines = table_after(md, "Table 1: mAP@all (tie-aware")
    header = cells(lines[0])
    assert header[0] == "Method"
    col = {h: i for i, h in enumerate(header)}
    by_name = {cells(line)[0]: cells(line) for line in lines[2:]}
    for (method, bits), values in MAP.items():
        mean, std = hand_mean_std(values)
        name = {"mlrsir": "MLRSIR-NET", "dch": "DCH"}[method]
        assert by_name[name][col[f"{bits} bits"]] == f"{mean:.4f} ± {std:.4f}"
    # the spread is stated: sample std and n seeds per cell
    assert "sample standard deviation" in md and "n = 3 seeds in every cell" in md


def test_paper_values_beside_ours_and_missing_cells(report):
    _, _, _, md = report
    lines = table_after(md, "Table 1: mAP@all (tie-aware")
    header = cells(lines[0])
    assert header[1:] == ["12 bits", "24 bits", "32 bits", "48 bits"]  # ours (12, 32) ∪ paper's
    names = [cells(line)[0] for line in lines[2:]]
    paper_row = names.index("MLRSIR-NET (paper, DLRSD)")
    assert names[paper_row - 1] == "MLRSIR-NET"  # directly under ours
    assert cells(lines[2 + paper_row])[1:] == ["0.854", "0.872", "0.908", "0.929"]
    ours = cells(lines[2 + names.index("MLRSIR-NET")])
    assert ours[2] == MISSING and ours[4] == MISSING  # 24 and 48 bits were not run
    dch_paper = cells(lines[2 + names.index("DCH (paper, DLRSD)")])
    assert dch_paper[1:] == ["0.761", "0.803", "0.848", "0.873"]  # every published row, as printed
    assert names[names.index("MLRSIR-NET (paper, DLRSD)") + 1] == "MLRSIR-NET (paper, WHDLD)"
    whdld = cells(lines[2 + names.index("MLRSIR-NET (paper, WHDLD)")])
    assert whdld[1:] == ["0.938", "0.987", "0.919", "0.946"]  # the non-monotone row, not "fixed"
    assert "not monotone" in md and "copied cells" in md  # the footnote on the oddities
    # Tables 2-3 (P@10): paper bit lengths 12/36/48 plus ours, DLRSD (Table 2) and WHDLD (Table 3)
    t2 = table_after(md, "Tables 2-3: precision of the top 10")
    assert cells(t2[0])[1:] == ["12 bits", "32 bits", "36 bits", "48 bits"]
    t2_paper = next(cells(x) for x in t2 if x.startswith("| MLRSIR-NET (paper, DLRSD"))
    assert t2_paper[1:] == ["0.884", MISSING, "0.914", "0.935"]
    t3_paper = next(cells(x) for x in t2 if x.startswith("| DTQ (paper, WHDLD"))
    assert t3_paper[1:] == ["0.847", MISSING, "0.862", "0.861"]
    mean, std = hand_mean_std([v + 0.02 for v in MAP[("dch", 32)]])
    t2_dch = next(cells(x) for x in t2 if x.startswith("| DCH |"))
    assert t2_dch[2] == f"{mean:.4f} ± {std:.4f}"


def test_stable_map_floors_ablations_settings(report):
    _, _, _, md = report
    stable = table_after(md, "mAP@all (stable sort)")
    mean, std = hand_mean_std([v - 0.01 for v in MAP[("dch", 12)]])
    assert next(cells(x) for x in stable if x.startswith("| DCH |"))[1] == f"{mean:.4f} ± {std:.4f}"
    floors = table_after(md, "Floors")
    assert any(cells(x)[:4] == ["random ranking", "any", "0.4312 ± 0.0021", "3"] for x in floors)
    assert any(cells(x)[:3] == ["random codes", "32", "0.4388 ± 0.0030"] for x in floors)
    abl = table_after(md, "Ablations (MLRSIR-NET")
    mean, std = hand_mean_std([0.85, 0.86])
    assert cells(abl[3]) == ["without CBAM", f"{mean:.4f} ± {std:.4f}"]
    settings = table_after(md, "Settings")
    assert ["git revision", "abc1234"] in [cells(x) for x in settings]
    assert ["seeds", "12: 3, 32: 3"] in [cells(x) for x in settings]
    assert "Dataset caveat" in md and "Chaudhuri" in md
    assert "tie-aware" in md and "share at least one label" in md


def test_csv_json_and_figures(report):
    out, rows, paths, md = report
    with open(paths["results_csv"], newline="", encoding="utf-8") as fh:
        table = list(csv.reader(fh))
    header, body = table[0], table[1:]
    assert len(body) == 2 * 2 * 3
    scalar_keys = {k for r in rows for k, v in r.items() if not isinstance(v, (dict, list)) and v is not None}
    assert set(header) == scalar_keys and len(header) == len(scalar_keys)
    assert header[:3] == ["method", "bits", "seed"]
    assert not {"curves", "precision_at_n", "pr_by_rank", "pr_by_radius"} & set(header)
    assert all(len(line) == len(header) for line in body)
    assert float(body[0][header.index("map")]) == pytest.approx(rows[0]["map"])

    saved = json.loads(paths["results_json"].read_text())
    assert len(saved) == len(rows)
    assert saved[0]["curves"]["precision_at_n"]["n"] == rows[0]["curves"]["precision_at_n"]["n"]
    assert "pr_by_rank" in next(r for r in saved if r["method"] == "dch")  # top-level curves kept

    for name in (
        "figure_map_vs_bits",
        "figure_precision_at_n_12bits",
        "figure_pr_12bits",
        "figure_precision_at_n_32bits",
        "figure_pr_32bits",
    ):
        path = paths[name]
        with Image.open(path) as im:
            im.verify()
        with Image.open(path) as im:
            assert im.format == "PNG" and im.size[0] > 100 and im.size[1] > 100
        rel = path.relative_to(out).as_posix()
        assert f"]({rel})" in md  # embedded with a relative link
    assert re.search(r"!\[[^\]]*\]\(figures/map_vs_bits\.png\)", md)
    assert paths["report_md"].name == "report.md" and "ablations_csv" in paths


def test_mean_curve_pointwise_and_interpolated():
    a = {"n": [1, 2, 4], "precision": [1.0, 0.5, 0.25], "precision_tie_aware": [0.9, 0.6, None]}
    b = {"n": [1, 2, 4], "precision": [0.0, 0.5, 0.75], "precision_tie_aware": [0.7, 0.4, 0.5]}
    mc = mean_curve([a, b], "n", ("precision",))
    assert mc["keys"] == {"precision": "precision_tie_aware"}
    assert mc["x"].tolist() == [1, 2, 4]
    assert mc["precision"].tolist() == pytest.approx([0.8, 0.5, 0.5])  # None ignored at n=4
    c = {"n": [1, 3], "precision": [0.2, 0.6]}  # other grid: interpolated onto a's grid within [1, 3]
    mc = mean_curve([a, c], "n", ("precision",))
    assert mc["keys"] == {"precision": "precision"}
    assert mc["x"].tolist() == [1, 2]
    assert mc["precision"].tolist() == pytest.approx([(1.0 + 0.2) / 2, (0.5 + 0.4) / 2])
    assert mean_curve([{"n": [1, 2]}], "n", ("precision",)) is None
    assert row_curves({"curves": {"pr_by_rank": a}, "precision_at_n": b}) == {"pr_by_rank": a, "precision_at_n": b}


def test_single_seed_uneven_n_and_bad_rows(tmp_path):
    rows = [
        {"method": "mlrsir", "bits": 12, "seed": 0, "map": 0.5},
        {"method": "dqn", "bits": 12, "seed": 0, "map": 0.4},
        {"method": "dqn", "bits": 12, "seed": 1, "map": 0.6, "map_stable": float("nan")},
        {"method": "dqn", "bits": None, "seed": 2, "map": 0.9},
    ]  # no bit length: left out, warned
    paths = write_report(rows, tmp_path)
    md = paths["report_md"].read_text(encoding="utf-8")
    t1 = table_after(md, "Table 1")
    assert cells(next(x for x in t1 if x.startswith("| MLRSIR-NET |")))[1] == "0.5000 (n=1)"
    mean, std = hand_mean_std([0.4, 0.6])
    assert cells(next(x for x in t1 if x.startswith("| DQN |")))[1] == f"{mean:.4f} ± {std:.4f} (n=2)"
    assert "n = 1–2 seeds per cell" in md
    assert "1 of 4 result rows have no bit length" in md
    stable = table_after(md, "mAP@all (stable sort)")
    assert cells(next(x for x in stable if x.startswith("| DQN |")))[1] == MISSING  # NaN only: missing
    assert json.loads(paths["results_json"].read_text())[2]["map_stable"] is None
    assert "figure_map_vs_bits" in paths and "figure_pr_12bits" not in paths  # no curves, no PR figure
    with pytest.raises(DataError, match=r"rows\[1\]"):
        write_report([{"method": "x"}, 3], tmp_path / "bad")


def test_summary_helpers_and_paper_data():
    assert summarize([]) is None
    s = summarize([1.0, 2.0, 4.0])
    assert s.mean == pytest.approx(7 / 3) and s.std == pytest.approx(hand_mean_std([1.0, 2.0, 4.0])[1])
    assert format_stat(None) == MISSING
    assert aggregate([{"method": "a", "bits": "12", "map": 1.0}], "map") == {("a", 12): summarize([1.0])}
    assert TABLE1_MAP.value("mlrsir", 32) == 0.908 and TABLE1_MAP.value("dch", 32) == 0.848
    assert TABLE1_MAP_WHDLD.value("dqn", 48) == 0.826 and TABLE1_MAP_WHDLD.dataset == "WHDLD"
    assert TABLE2_P10.value("mlrsir", 36) == 0.914 and TABLE2_P10.value("mlrsir", 32) is None
    assert TABLE2_P100.value("dtq", 48) == 0.759 and TABLE3_P10.value("dhn", 12) == 0.585
    assert TABLE3_P100.value("mlrsir", 48) == 0.825 and TABLE3_P100.dataset == "WHDLD"
    # every published cell is known (5 methods x bits of each block)
    for t in (TABLE1_MAP, TABLE1_MAP_WHDLD, TABLE2_P10, TABLE2_P100, TABLE3_P10, TABLE3_P100):
        assert all(v is not None for m in t.values for v in t.values[m].values()) and len(t.values) == 5
    assert paper_table_for("map_stable") is TABLE1_MAP and paper_table_for("ndcg_at_100") is None
    assert paper_tables_for("precision_at_100") == [TABLE2_P100, TABLE3_P100]


def test_regime_variant_rows_get_their_own_names_and_one_paper_row():
    """``--methods dch:none``: its own row "DCH (frozen backbone)" after DCH, never merged with
    DCH's runs, and the published DCH row printed once (under the plain method when it ran)."""
    from mlrsir.report.paper import paper_tables_for
    from mlrsir.report.tables import base_method, method_sort_key, method_title, metric_table

    assert method_title("dch:none") == "DCH (frozen backbone)" and base_method("DCH:none") == "dch"
    assert sorted(["dqn", "dch:none", "mlrsir", "dch"], key=method_sort_key) == ["mlrsir", "dch", "dch:none", "dqn"]
    rows = [
        {"method": "dch", "bits": 32, "seed": 0, "map": 0.9},
        {"method": "dch:none", "bits": 32, "seed": 0, "map": 0.7},
        {"method": "dhn:none", "bits": 32, "seed": 0, "map": 0.6},
    ]
    papers = paper_tables_for("map")
    lines = metric_table(rows, "map", paper=papers[:1]).splitlines()
    assert any(line.startswith("| DCH (frozen backbone) |") and "0.7000" in line for line in lines)
    assert any(line.startswith("| DCH |") and "0.9000" in line for line in lines)
    dataset = papers[0].dataset
    assert sum(line.startswith(f"| DCH (paper, {dataset})") for line in lines) == 1
    # DHN ran only as a variant: its published row follows the variant, no empty "DHN" row
    assert sum(line.startswith(f"| DHN (paper, {dataset})") for line in lines) == 1
    assert not any(line.startswith("| DHN |") for line in lines)
