"""The HTML report: self-contained, well-formed charts inside their frames, and the figures it
states are the evaluation's own."""

import re
import xml.etree.ElementTree as ET

import numpy as np

from training.evaluation import Evaluation, HeadEvaluation
from training.kinds import BINARY, ranking
from training.report import write_report


def evaluation() -> Evaluation:
    rng = np.random.default_rng(3)
    truth = rng.random(2000) * 0.4
    labels = (rng.random(2000) < truth).astype(np.int8)
    scores = {"model": np.clip(truth + rng.normal(0, 0.05, 2000), 0.001, 0.999), "baseline": np.full(2000, 0.2),
              "oracle": truth, "bg_nbd_expected_purchases": truth * 5}       # a count, not a probability
    head = HeadEvaluation(labels=labels, scores=scores, importance={"user_activity__views_7d": 0.4, "b": 0.1},
                          findings={"reasons_of_churned": {"inactive lately": 0.7, "other signals": 0.3}})
    return Evaluation({"churn": head})


def test_report_is_self_contained_and_its_charts_stay_in_frame(tmp_path):
    result = evaluation()
    metrics = result.metrics()
    path = write_report(tmp_path / "churn", "churn", "churn:abc", "churn_v1", BINARY.report_sections(result, metrics))
    page = path.read_text()
    assert path == tmp_path / "churn" / "index.html"
    assert "<script" not in page and "src=" not in page and "href=" not in page      # nothing fetched
    assert f"model / oracle AUC = {metrics['churn']['model_over_oracle_auc']:.3f}" in page
    assert f"{metrics['churn']['model']['auc']:.4f}" in page
    assert "inactive lately" in page and "user_activity__views_7d" in page
    assert "log_loss" not in metrics["churn"]["bg_nbd_expected_purchases"]          # counts are ranked only
    assert sum(b["count"] for b in metrics["churn"]["model_reliability"]) == 2000
    assert metrics["churn"]["bg_nbd_expected_purchases"]["auc"] == metrics["churn"]["oracle"]["auc"]
    charts = re.findall(r"<svg.*?</svg>", page, re.S)
    assert len(charts) == 6          # ROC, PR, reliability, gain, SHAP summary, reasons
    for chart in charts:
        svg = ET.fromstring(chart)
        width, height = float(svg.get("width")), float(svg.get("height"))
        for line in svg.iter("{http://www.w3.org/2000/svg}polyline"):
            points = np.array([p.split(",") for p in line.get("points").split()], dtype=float)
            assert len(points) > 1
            assert (points[:, 0] >= 0).all() and (points[:, 0] <= width).all()
            assert (points[:, 1] >= 0).all() and (points[:, 1] <= height).all()


def test_a_tabled_kind_reports_its_tables_with_counts_as_counts(tmp_path):
    table = {"popularity": {"ndcg_at_10": 0.0163, "searches": 2000.0}, "reranker": {"ndcg_at_10": 0.6171, "searches": 2000.0}}
    kind = ranking("search quality", model="reranker", reference="popularity")
    result = Evaluation(heads={}, tables={"search quality": table})
    page = write_report(tmp_path / "search", "search", "search:abc", "search_v1",
                        kind.report_sections(result, result.metrics())).read_text()
    assert "<h2>search quality</h2>" in page and "0.6171" in page and "2,000" in page
    assert kind.headline(result.metrics()).model == 0.6171 and kind.headline(result.metrics()).reference == 0.0163



def test_a_scatter_of_groups_stays_in_frame_with_its_legend(tmp_path):
    from training.report import scatter_chart

    rng = np.random.default_rng(0)
    points, groups = rng.normal(size=(300, 2)) * [100, 0.01], rng.integers(0, 3, 300)
    chart = scatter_chart("users", points, groups, {0: "segment 0: a", 1: "segment 1: b", 2: "segment 2: c"})
    svg = ET.fromstring(chart.split("</figcaption>")[1].removesuffix("</figure>"))
    width, height = float(svg.get("width")), float(svg.get("height"))
    circles = np.array([[float(c.get("cx")), float(c.get("cy"))] for c in svg.iter("{http://www.w3.org/2000/svg}circle")])
    assert len(circles) == 300
    assert (circles >= 0).all() and (circles[:, 0] <= width).all() and (circles[:, 1] <= height).all()
    assert [t.text for t in svg.iter("{http://www.w3.org/2000/svg}text")] == ["segment 0: a", "segment 1: b", "segment 2: c"]
