"""Evaluation kinds: what a task is judged by. A kind owns how its metrics (``training.metrics.<kind>``)
are shown: the headline figure that ``shopml tasks`` and the README's task table show next to its
reference, the lines ``shopml train`` prints, and its sections of the task's HTML report.

Binary tasks evaluate heads (``HeadEvaluation``: the model, its baseline, the oracle where there
is truth); every other kind evaluates tables of figures, one row per system (``Evaluation.tables``:
e.g. the reranker beside embedding retrieval and popularity). A kind names the table, the model's
row, the reference row and the headline metric, so a task's headline is one declaration.
"""

from __future__ import annotations

from dataclasses import dataclass

from .evaluation import Evaluation
from .oracle import describe_oracle_lead
from .report import head_section, table_section

MODEL, BASELINE = "model", "baseline"


@dataclass(frozen=True)
class Headline:
    metric: str               # as shown, e.g. "AUC"
    model: float
    reference: float | None   # the baseline's figure on the same test rows
    reference_name: str
    skill: float | None = None  # share of the oracle's lead over the reference (simulated data)


def _figure(value) -> str:
    return f"{value:,.0f}" if isinstance(value, float) and value >= 100 else (
        f"{value:.3f}" if isinstance(value, float) else str(value))


@dataclass(frozen=True)
class Binary:
    """Binary outcomes (will buy, will churn, will click): AUC of the primary head, its baseline
    and its skill against the oracle."""

    name: str = "binary"

    def headline(self, metrics: dict) -> Headline | None:
        head = next((m for m in metrics.values() if isinstance(m, dict) and MODEL in m), None)
        if head is None:
            return None
        return Headline("AUC", head[MODEL]["auc"], head[BASELINE]["auc"] if BASELINE in head else None, BASELINE,
                        head.get("model_skill"))

    def summary(self, metrics: dict) -> list[str]:
        lines = []
        for head, scores in metrics.items():
            if not (isinstance(scores, dict) and MODEL in scores):
                continue
            aucs = ", ".join(f"{who} AUC {value['auc']:.3f}" for who, value in scores.items()
                             if isinstance(value, dict) and "auc" in value)
            skill = (f", skill {scores['model_skill']:.3f} (model/oracle AUC {scores['model_over_oracle_auc']:.3f})"
                     if "model_skill" in scores else "")
            lines.append(f"{head}: {aucs}{skill}")
            if lead := describe_oracle_lead(scores):
                lines.append(lead)
        return lines

    def report_sections(self, evaluation: Evaluation, metrics: dict) -> str:
        """Per head: the scorers side by side, ROC, precision-recall, reliability, gain, SHAP."""
        return "".join(head_section(head, evaluation.heads[head], metrics[head]) for head in evaluation.heads)


@dataclass(frozen=True)
class Tabled:
    """A kind judged by a table of systems: ranking (NDCG@k, HR@k, MRR), multiclass (accuracy,
    macro-F1), regression (MAE, RMSE, WAPE), forecast (MASE, WAPE, coverage), uplift (Qini, AUUC,
    uplift@k%), clustering and embedding (silhouette, ARI/NMI, probe R²)."""

    name: str
    table: str                # the evaluation table
    model: str                # its row of the task's model
    reference: str            # the row the model is measured against
    metric: str               # the headline column
    label: str                # the headline as shown, e.g. "NDCG@10"
    skill: str | None = None  # the model row's column holding its skill against the oracle, if any

    def headline(self, metrics: dict) -> Headline | None:
        rows = metrics.get(self.table, {})
        if self.metric not in rows.get(self.model, {}):      # e.g. a figure only the truth gives, on real data
            return None
        reference = rows.get(self.reference, {}).get(self.metric)
        skill = rows[self.model].get(self.skill) if self.skill else None
        return Headline(self.label, rows[self.model][self.metric], reference, self.reference, skill)

    def summary(self, metrics: dict) -> list[str]:
        lines = []
        for table, rows in metrics.items():
            if isinstance(rows, dict) and rows and all(isinstance(r, dict) for r in rows.values()):
                lines.append(f"{table}:")
                lines += [f"  {row}: " + ", ".join(f"{k} {_figure(v)}" for k, v in values.items())
                          for row, values in rows.items()]
        return lines

    def report_sections(self, evaluation: Evaluation, metrics: dict) -> str:
        """One table per evaluation table, a row per system, then the task's own charts."""
        tables = "".join(table_section(name, rows) for name, rows in evaluation.tables.items())
        return tables + (f"<div class='charts'>{''.join(evaluation.figures)}</div>" if evaluation.figures else "")


def ranking(table: str, model: str, reference: str, metric: str = "ndcg_at_10", label: str = "NDCG@10") -> Tabled:
    return Tabled("ranking", table, model, reference, metric, label)


BINARY = Binary()
