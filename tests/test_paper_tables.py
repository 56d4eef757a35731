"""The paper's Tables 1 and 2, shipped in effobj/apps/data/, to the printed precision (regression tests)."""

from __future__ import annotations

import pytest

from effobj import EfficiencySpec, accuracy_to_compute_ratio, normalized_ratio
from effobj.apps import paper_table_records


def rows(name: str) -> list[dict[str, str]]:
    return paper_table_records(name)


def at(printed: str, value: float) -> bool:
    decimals = len(printed.split(".")[1]) if "." in printed else 0
    return f"{value:.{decimals}f}" == printed


@pytest.mark.parametrize("row", rows("paper_table1_kinetics400.csv"), ids=lambda r: r["name"])
def test_table1_kinetics400(row):
    spec = EfficiencySpec(beta2=1.0, perf_ref=83.1, cost_ref=4218.0)
    perf, cost = float(row["perf"]), float(row["cost"])
    a, c = spec.normalize(perf, cost)
    assert at(row["printed_e_beta@1"], spec.score(perf, cost))
    assert at(row["printed_perf_per_cost"], accuracy_to_compute_ratio(perf, cost))
    assert at(row["printed_a_per_c"], normalized_ratio(a, c))


@pytest.mark.parametrize("row", rows("paper_table2_glue.csv"), ids=lambda r: r["name"])
def test_table2_glue_with_25_gflops(row):
    perf, cost = float(row["perf"]), float(row["cost"])
    for b in ("0.5", "1", "100"):
        spec = EfficiencySpec(beta2=float(b), perf_ref=78.3, cost_ref=25.0)  # 25 GFLOPs, not TFLOPs
        assert at(row[f"printed_e_beta@{b}"], spec.score(perf, cost))
    assert at(row["printed_perf_per_cost"], accuracy_to_compute_ratio(perf, cost))


def test_table2_caption_value_25_tflops_does_not_reproduce():
    spec = EfficiencySpec(beta2=0.5, perf_ref=78.3, cost_ref=25_000.0)
    assert not at("0.143", spec.score(78.3, 22.5))
