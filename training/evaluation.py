"""What evaluating a task yields: per head, the test labels and every scorer's probabilities
(the model, its simple baseline and, on simulated data, the oracle), the model's global feature
importance, and task-specific findings; tasks that are not binary (ranking) add tables of
figures. ``metrics`` turns it into the JSON that is saved with the model; the report draws its
charts from the same arrays."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import lightgbm as lgb
import numpy as np
import pandas as pd

from .metrics import auc_difference_se, auc_skill, binary_report, reliability_table

MODEL, BASELINE, ORACLE = "model", "baseline", "oracle"
RANK_FREE = ("log_loss", "ece")      # metrics that need probabilities, not just an order


SHAP_SAMPLE = 5000      # rows behind the SHAP summary: TreeSHAP costs trees x leaves x depth^2 per row


def shap_importance(booster: lgb.Booster, matrix: pd.DataFrame, top: int = 20, seed: int = 0) -> dict[str, float]:
    """Mean |SHAP contribution| per feature (the SHAP summary) over a seeded sample of at most
    SHAP_SAMPLE rows of ``matrix``, largest first."""
    if len(matrix) > SHAP_SAMPLE:
        matrix = matrix.iloc[np.sort(np.random.default_rng(seed).choice(len(matrix), SHAP_SAMPLE, replace=False))]
    contributions = np.abs(booster.predict(matrix, pred_contrib=True)[:, :-1]).mean(axis=0)
    order = np.argsort(-contributions)[:top]
    return {str(matrix.columns[i]): float(contributions[i]) for i in order}


@dataclass
class HeadEvaluation:
    labels: np.ndarray                        # 0/1 outcomes of the test rows
    scores: dict[str, np.ndarray]             # scorer (model, baseline, oracle) -> probabilities
    importance: dict[str, float]              # feature -> mean |SHAP| of the model
    findings: dict = field(default_factory=dict)   # task-specific figures, saved with the metrics

    def probabilities(self) -> dict[str, np.ndarray]:
        """The scorers whose scores are probabilities (BG/NBD's expected purchases is a count)."""
        return {name: p for name, p in self.scores.items() if p.min() >= 0 and p.max() <= 1}

    def metrics(self) -> dict:
        out: dict = {name: binary_report(self.labels, p) for name, p in self.scores.items()}
        for name in self.scores.keys() - self.probabilities().keys():     # ranks only
            out[name] = {k: v for k, v in out[name].items() if k not in RANK_FREE}
        for name in self.scores.keys() - {MODEL}:      # how far the model leads each reference, with its spread
            out[name]["model_auc_lead"] = out[MODEL]["auc"] - out[name]["auc"]
            out[name]["model_auc_lead_se"] = auc_difference_se(self.labels, self.scores[MODEL], self.scores[name])
        if ORACLE in out:           # skill: the share of the oracle's lead over a coin each scorer wins
            for name in self.scores:
                out[name]["skill"] = auc_skill(out[name]["auc"], out[ORACLE]["auc"])
            out["model_skill"] = out[MODEL]["skill"]
            out["model_over_oracle_auc"] = out[MODEL]["auc"] / out[ORACLE]["auc"]
        out["model_reliability"] = [asdict(b) for b in reliability_table(self.labels, self.scores[MODEL]) if b.count]
        return {**out, "importance": self.importance, **self.findings}


@dataclass
class Evaluation:
    heads: dict[str, HeadEvaluation]
    # tables of figures that are not one binary head: name -> row (e.g. a system) -> metric -> value
    tables: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    figures: list[str] = field(default_factory=list)      # task-specific charts for the report (inline SVG)

    def metrics(self) -> dict:
        return {**{head: evaluation.metrics() for head, evaluation in self.heads.items()}, **self.tables}
