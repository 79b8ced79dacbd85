"""Churn: among users active in the last 30 days, who has no event at all in the next 30 days,
and why. Reasons are the model's own SHAP contributions grouped into named reasons
(``shopml.reasons``). On simulated data the top reason's agreement with the cause the simulator
recorded is reported for the churned test users beside two references on the same users: always
naming the most common cause of the validation churners (the majority baseline), and the oracle,
the cause with the largest true hazard on the day the churn was drawn (``oracle_churn_causes``).
The reasons' one choice, each cause's offset (``shopml.reasons.choose_cause_offsets``), is made
on the validation churners.

Served as ``POST /churn``: P(churn) per user with the reasons, largest share first (TreeSHAP over
every tree, most of a request's time; ``explain: false`` skips them)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np
import polars as pl
from pydantic import BaseModel

from feature_repo.definitions import names
from shopml.reasons import REASONS, Pushes, choose_cause_offsets, explain
from shopml.serving import UNKNOWN_USER, Endpoint, OnlineReader, SavedModel, UsersRequest
from shopml.settings import Settings
from shopml.warehouse.database import connect, has_truth

from ..bg_nbd import NO_PURCHASE, NOT_ALIVE
from ..evaluation import Evaluation
from ..kinds import BINARY
from ..labels import CUTOFF
from ..oracle import describe_reason_agreement, oracle_churn_causes
from ..user_outcomes import Head, ServedUserOutcomes, UserOutcomeConfig, UserOutcomeData, UserOutcomeTask

# the simulator's churn causes, as the reasons a model can give
CAUSE_REASONS = {
    "natural_decay": "inactive lately", "bad_experience": "bad item experiences",
    "price_rise": "price rises in favourite categories", "failed_search": "searches without results",
    "push_fatigue": "too many notifications",
}


log = logging.getLogger(__name__)
REASON_SAMPLE = 20_000      # churned test users whose reasons are summarised (a seeded sample beyond)


@dataclass(frozen=True)
class ChurnConfig(UserOutcomeConfig):
    horizon_days: int = 30            # no event at all within this many days of the cut-off
    # Shallow trees: every reason is a TreeSHAP pass, whose cost grows with depth squared, and a
    # /churn request pays for it (bench.serving measures it).
    num_leaves: int = 16
    max_depth: int = 4
    # log-odds added to each cause's push before the strongest is named (shopml.reasons); None: the
    # offsets that agree best with the validation churners' recorded causes (simulated data), else 0
    cause_offsets: dict[str, float] | None = None


def _true_causes(settings: Settings, rows: pl.DataFrame, horizon_days: int) -> np.ndarray | None:
    """Per row, the simulator's cause when the user churned before the horizon ended."""
    with connect(settings.warehouse_path) as con:
        if not has_truth(con):
            return None
        con.register("wanted_rows", rows.select(names.USER_ID, CUTOFF).with_row_index("row").to_arrow())
        causes = con.execute(f"""
            SELECT r.row, u.churn_cause FROM wanted_rows r JOIN truth.users u USING ({names.USER_ID})
            WHERE u.churn_ts < r.{CUTOFF} + INTERVAL {horizon_days} DAY ORDER BY r.row""").fetchall()
    out = np.full(rows.height, None, dtype=object)
    for row, cause in causes:
        out[row] = cause
    return out


def churned_sample(split: pl.DataFrame, config: ChurnConfig) -> pl.DataFrame:
    """The split's churned rows, a seeded sample of REASON_SAMPLE beyond (TreeSHAP is costly per row)."""
    churned = split.filter(pl.col("will_churn"))
    return churned.sample(REASON_SAMPLE, seed=config.seed) if churned.height > REASON_SAMPLE else churned


def recorded_causes(settings: Settings, churned: pl.DataFrame, config: ChurnConfig) -> np.ndarray | None:
    """Per churned row, the cause the simulator recorded, as a reason (None where the user did not
    churn within the horizon); None for imported data."""
    causes = _true_causes(settings, churned, config.horizon_days)
    return None if causes is None else np.array([CAUSE_REASONS.get(c) for c in causes], dtype=object)


@dataclass
class ChurnedUsers:
    """The churned users of a split whose cause the simulator recorded (within the horizon)."""

    rows: pl.DataFrame
    causes: np.ndarray          # as reasons (CAUSE_REASONS)

    @classmethod
    def of(cls, split: pl.DataFrame, settings: Settings, config: ChurnConfig) -> ChurnedUsers | None:
        churned = churned_sample(split, config)
        causes = recorded_causes(settings, churned, config)
        if causes is None:
            return None
        known = causes != None  # noqa: E711 - elementwise on an object array
        return cls(churned.filter(pl.Series(known)), causes[known])


class ChurnRequest(UsersRequest):
    explain: bool = True                 # false: probabilities only, without the (costly) reasons


class Reason(BaseModel):
    reason: str
    share: float                         # share of the positive push towards churn


class ChurnScore(BaseModel):
    user_id: int
    probability: float                   # P(no event at all within the horizon)
    top_reason: str | None               # None for an unknown user, or when reasons were not asked for
    reasons: list[Reason]                # largest share first; zero shares left out but the top reason's
    known_user: bool


class ChurnResponse(BaseModel):
    model: str
    horizon_days: int
    scores: list[ChurnScore]


def _reasons(shares: np.ndarray, top: str | None) -> list[Reason]:
    """The reasons by share; the top reason is always among them, even with no share: a cause every
    user carries can be the likeliest one while it pushes this user less than the average user
    (``shopml.reasons``)."""
    order = np.argsort(-shares, kind="stable")
    return [Reason(reason=REASONS[i], share=round(float(shares[i]), 4)) for i in order
            if shares[i] > 0 or REASONS[i] == top]


class ChurnAnswers(ServedUserOutcomes):
    def __init__(self, models: dict[str, SavedModel], online: OnlineReader):
        super().__init__(models["churn"], online, names.CHURN_V1)
        self.cause_offsets = self.model.config.get("cause_offsets")   # chosen on validation when trained

    def answer(self, request: ChurnRequest) -> ChurnResponse:
        user_ids = request.user_ids
        features, known = self.features(user_ids)
        probability = np.full(len(user_ids), self.model.prior("churn"))
        top = np.full(len(user_ids), None, dtype=object)
        shares = np.zeros((len(user_ids), len(REASONS)))
        if known.any() and request.explain:
            reasons = explain(self.model.boosters["churn"], self.model.layout.array(features)[known],
                              self.cause_offsets)
            probability[known] = reasons.probability
            top[known], shares[known] = reasons.top, reasons.shares
        elif known.any():
            probability[known] = self.model.predict("churn", features)[known]
        return ChurnResponse(model=self.model.saved.tag, horizon_days=self.horizon_days, scores=[
            ChurnScore(user_id=u, probability=float(p), top_reason=t, reasons=_reasons(s, t), known_user=bool(k))
            for u, p, t, s, k in zip(user_ids, probability, top, shares, known)])


class ChurnTask(UserOutcomeTask):
    name = "churn"
    question = "Who is about to leave, and why?"
    family = "users"
    feature_service = names.CHURN_V1
    config_type = ChurnConfig
    evaluation = BINARY
    heads = {"churn": Head(label="will_churn", oracle="no_event", bg_nbd=(NOT_ALIVE, NO_PURCHASE), if_departed=1.0)}
    endpoint = Endpoint(
        path="/churn", request=ChurnRequest, response=ChurnResponse, models=("churn",), start=ChurnAnswers,
        example=lambda shop: {"user_ids": [shop.active_user, UNKNOWN_USER]},
        doc="P(no event at all within the horizon), per user, with the reasons unless `explain` is false.")

    @staticmethod
    def describe(metrics: dict) -> list[str]:
        """The reasons' lines after the binary summary."""
        churn = metrics.get("churn", {})
        lines = []
        if "reasons_of_churned" in churn:
            lines.append("top reasons of the churned: " + ", ".join(
                f"{reason} {share:.0%}" for reason, share in churn["reasons_of_churned"].items()))
        if "reason_agreement" in churn:
            lines.append(describe_reason_agreement(churn))
        return lines

    def choose(self, config: ChurnConfig, model, data: UserOutcomeData, settings: Settings) -> ChurnConfig:
        """``cause_offsets``, when left to None: those whose top reasons agree best with the
        recorded causes of the validation churners; 0 for every cause where none are recorded."""
        if config.cause_offsets is not None:
            return config
        churned = ChurnedUsers.of(data.splits["validation"], settings, config)
        if churned is None or churned.rows.is_empty():
            return replace(config, cause_offsets={})
        offsets = choose_cause_offsets(Pushes.of(model["churn"], data.layout.matrix(churned.rows)), churned.causes)
        log.info("cause offsets on %d validation churners: %s", churned.rows.height, offsets)
        return replace(config, cause_offsets=offsets)

    def evaluate(self, config: ChurnConfig, model, data: UserOutcomeData, settings: Settings) -> Evaluation:
        evaluation = super().evaluate(config, model, data, settings)
        findings = evaluation.heads["churn"].findings
        churned = churned_sample(data.splits["test"], config)             # reasons are asked of the churned
        reasons = explain(model["churn"], data.layout.matrix(churned), config.cause_offsets)
        distribution = pl.Series(reasons.top).value_counts(normalize=True).sort("proportion", descending=True)
        findings["reasons_of_churned"] = dict(distribution.iter_rows())
        causes = recorded_causes(settings, churned, config)
        if causes is not None and (known := causes != None).any():  # noqa: E711 - elementwise
            test = ChurnedUsers(churned.filter(pl.Series(known)), causes[known])
            findings |= reason_agreement(reasons.top[known], test, data, settings, config)
        return evaluation


def oracle_reasons(settings: Settings, churned: pl.DataFrame, as_of_cutoff: bool = False) -> np.ndarray:
    """``training.oracle.oracle_churn_causes`` of churned rows of simulated data, as reasons."""
    return np.array([CAUSE_REASONS[c] for c in oracle_churn_causes(settings, churned, as_of_cutoff)], dtype=object)


def reason_agreement(top: np.ndarray, test: ChurnedUsers, data: UserOutcomeData, settings: Settings,
                     config: ChurnConfig) -> dict:
    """How often ``top`` (the top reason per churned test user) names the recorded cause, beside
    the majority baseline (the validation churners' most common cause) and the oracle; skill is
    (model - baseline) / (oracle - baseline), as for a loss (../shared/EVALUATION.md)."""
    validation = ChurnedUsers.of(data.splits["validation"], settings, config)
    reference = validation if validation is not None and len(validation.causes) else test
    majority = pl.Series(reference.causes).mode().sort()[0]
    model_agreement, baseline, best = (float(np.mean(guess == test.causes))
                                       for guess in (top, majority, oracle_reasons(settings, test.rows)))
    return {"reason_agreement": model_agreement, "reason_agreement_rows": test.rows.height,
            "reason_majority_cause": majority, "reason_agreement_majority": baseline,
            "reason_agreement_oracle": best,
            "reason_agreement_over_oracle": model_agreement / best if best else float("nan"),
            "reason_agreement_skill": (model_agreement - baseline) / (best - baseline) if best > baseline
            else float("nan")}
