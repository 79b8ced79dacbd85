"""A task's report: one self-contained HTML page (inline SVG, no scripts, nothing fetched) under
``<home>/reports/<task>/index.html``, drawn from the evaluation's own arrays. Per head: the
scorers side by side (model, baseline and, on simulated data, the oracle), ROC and
precision-recall curves, the reliability diagram, the cumulative gain chart, the model's SHAP
summary and any task-specific distribution (churn reasons)."""

from __future__ import annotations

import html
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .metrics import reliability_table, threshold_curves
from .oracle import describe_oracle_lead, describe_reason_agreement

COLOURS = {"model": "#1f6feb", "baseline": "#d29922", "oracle": "#2da44e", "bg_nbd_expected_purchases": "#8250df",
           "bg_nbd_not_alive": "#8250df", "bg_nbd_no_purchase": "#bf3989", "reference": "#8b949e",
           "actual": "#1f2328", "seasonal_naive": "#d29922", "ets": "#bf3989", "croston_sba": "#8250df",
           "purchase propensity": "#d29922", "click rate": "#d29922", "random": "#8b949e"}   # uplift's targeting scores
WIDTH, HEIGHT, MARGIN = 360, 280, 44
MAX_POINTS = 300
METRICS = (("auc", "AUC"), ("skill", "skill"), ("pr_auc", "PR-AUC"), ("log_loss", "log loss"), ("ece", "calibration error"),
           ("top_decile_lift", "top-decile lift"))
STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1180px; color: #1f2328; }
h1 { font-size: 1.6em; margin-bottom: .2em } h2 { margin-top: 2em; border-bottom: 1px solid #d0d7de }
.meta { color: #57606a } .charts { display: flex; flex-wrap: wrap; gap: 12px }
figure { margin: 0; border: 1px solid #d0d7de; border-radius: 6px; padding: 6px }
figcaption { font-weight: 600; padding: 0 4px } table { border-collapse: collapse; margin: .8em 0 }
td, th { padding: 4px 12px; border-bottom: 1px solid #d0d7de; text-align: right }
th:first-child, td:first-child { text-align: left } .ratio { font-size: 1.15em; font-weight: 600 }
"""


def _thin(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(x) <= MAX_POINTS:
        return x, y
    keep = np.unique(np.r_[np.linspace(0, len(x) - 1, MAX_POINTS).astype(int), len(x) - 1])
    return x[keep], y[keep]


def _axes(x_label: str, y_label: str, y_max: float = 1.0) -> list[str]:
    parts = [f'<rect x="{MARGIN}" y="8" width="{WIDTH - MARGIN - 8}" height="{HEIGHT - MARGIN - 8}" '
             'fill="none" stroke="#d0d7de"/>']
    for tick in np.linspace(0, 1, 6):
        x = MARGIN + tick * (WIDTH - MARGIN - 8)
        y = HEIGHT - MARGIN - tick * (HEIGHT - MARGIN - 8)
        parts.append(f'<text x="{x:.0f}" y="{HEIGHT - MARGIN + 14}" font-size="10" text-anchor="middle">{tick:.1f}</text>')
        parts.append(f'<text x="{MARGIN - 4}" y="{y + 3:.0f}" font-size="10" text-anchor="end">{tick * y_max:.2g}</text>')
    parts.append(f'<text x="{(WIDTH + MARGIN) / 2:.0f}" y="{HEIGHT - 8}" font-size="11" text-anchor="middle">'
                 f'{html.escape(x_label)}</text>')
    parts.append(f'<text transform="translate(11,{(HEIGHT - MARGIN) / 2:.0f}) rotate(-90)" font-size="11" '
                 f'text-anchor="middle">{html.escape(y_label)}</text>')
    return parts


def line_chart(title: str, series: dict[str, tuple[np.ndarray, np.ndarray]], x_label: str, y_label: str,
               diagonal: bool = False, y_max: float = 1.0, markers: bool = False, palette: bool = False) -> str:
    """Lines in [0, 1] x [0, y_max], values outside drawn on the frame; ``diagonal`` draws y = x as
    the no-skill reference; ``palette`` colours the series in turn (else by their names in ``COLOURS``)."""
    def point(x, y):
        return (MARGIN + x * (WIDTH - MARGIN - 8), HEIGHT - MARGIN - min(max(y / y_max, 0), 1) * (HEIGHT - MARGIN - 8))

    parts = _axes(x_label, y_label, y_max)
    if diagonal:
        (x0, y0), (x1, y1) = point(0, 0), point(1, y_max)
        parts.append(f'<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y1}" stroke="{COLOURS["reference"]}" '
                     'stroke-dasharray="4 3"/>')
    for i, (name, (xs, ys)) in enumerate(series.items()):
        colour = GROUP_COLOURS[i % len(GROUP_COLOURS)] if palette else COLOURS.get(name, COLOURS["reference"])
        xs, ys = _thin(np.asarray(xs, float), np.asarray(ys, float))
        ok = ~(np.isnan(xs) | np.isnan(ys))
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py in (point(x, y) for x, y in zip(xs[ok], ys[ok])))
        if ok.sum() > 1:
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.8"/>')
        if markers:
            parts += [f'<circle cx="{px:.1f}" cy="{py:.1f}" r="2.5" fill="{colour}"/>'
                      for px, py in (point(x, y) for x, y in zip(xs[ok], ys[ok]))]
        parts.append(f'<text x="{MARGIN + 8}" y="{24 + 14 * i}" font-size="11" fill="{colour}">{html.escape(name)}</text>')
    return _figure(title, WIDTH, HEIGHT, parts)


def bar_chart(title: str, values: dict[str, float], value_format: str = "{:.3f}") -> str:
    """Horizontal bars, largest first as given."""
    label_width, bar_width, row = 290, 260, 18
    height = 10 + row * len(values)
    top = max(values.values(), default=1.0) or 1.0
    parts = []
    for i, (name, value) in enumerate(values.items()):
        y = 6 + i * row
        parts.append(f'<text x="{label_width - 6}" y="{y + 12}" font-size="11" text-anchor="end">'
                     f'{html.escape(name)}</text>')
        parts.append(f'<rect x="{label_width}" y="{y + 2}" width="{bar_width * value / top:.1f}" height="{row - 5}" '
                     f'fill="{COLOURS["model"]}"/>')
        parts.append(f'<text x="{label_width + bar_width * value / top + 4:.1f}" y="{y + 12}" font-size="10">'
                     f'{value_format.format(value)}</text>')
    return _figure(title, label_width + bar_width + 60, height, parts)


def forest_chart(title: str, rows: dict[str, tuple[float, float, float, float | None]], x_label: str) -> str:
    """One line per row: an estimate (dot) with its interval (whisker) and, where known, the
    truth (hollow ring), on a shared axis."""
    label_width, plot_width, row = 120, 360, 22
    values = [v for estimate, low, high, truth in rows.values() for v in (estimate, low, high, truth) if v is not None]
    lo, hi = min(values + [0.0]), max(values + [0.0])
    span = (hi - lo) or 1.0

    def x(value: float) -> float:
        return label_width + (value - lo) / span * plot_width

    height = 30 + row * len(rows)
    parts = [f'<line x1="{x(0):.1f}" y1="4" x2="{x(0):.1f}" y2="{height - 24}" stroke="#d0d7de"/>',
             f'<text x="{label_width + plot_width / 2}" y="{height - 6}" font-size="11" text-anchor="middle">'
             f'{html.escape(x_label)} ({lo:.2f} to {hi:.2f})</text>']
    for i, (name, (estimate, low, high, truth)) in enumerate(rows.items()):
        y = 14 + i * row
        parts += [f'<text x="{label_width - 8}" y="{y + 4}" font-size="11" text-anchor="end">{html.escape(name)}</text>',
                  f'<line x1="{x(low):.1f}" y1="{y}" x2="{x(high):.1f}" y2="{y}" stroke="{COLOURS["model"]}" stroke-width="2"/>',
                  f'<circle cx="{x(estimate):.1f}" cy="{y}" r="3.5" fill="{COLOURS["model"]}"/>']
        if truth is not None:
            parts.append(f'<circle cx="{x(truth):.1f}" cy="{y}" r="5" fill="none" stroke="{COLOURS["oracle"]}" '
                         'stroke-width="2"/>')
    return _figure(title, label_width + plot_width + 20, height, parts)


GROUP_COLOURS = ("#1f6feb", "#d29922", "#2da44e", "#bf3989", "#8250df", "#cf222e", "#0a7d8c", "#9a6700",
                 "#57606a", "#e16f24", "#116329", "#6639ba")
SCATTER_SIZE = 520


def scatter_chart(title: str, points: np.ndarray, groups: np.ndarray, names: dict[int, str]) -> str:
    """Points (rows, 2) coloured by group, e.g. users on two principal axes of their embedding."""
    points = np.asarray(points, float)
    low, high = points.min(axis=0), points.max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    inner = SCATTER_SIZE - 2 * 12
    xy = 12 + (points - low) / span * inner
    parts = [f'<rect x="12" y="12" width="{inner}" height="{inner}" fill="none" stroke="#d0d7de"/>']
    for (x, y), group in zip(xy, groups):
        colour = GROUP_COLOURS[int(group) % len(GROUP_COLOURS)]
        parts.append(f'<circle cx="{x:.1f}" cy="{SCATTER_SIZE - y:.1f}" r="1.8" fill="{colour}" fill-opacity="0.6"/>')
    legend = [f'<text x="{SCATTER_SIZE + 8}" y="{24 + 16 * i}" font-size="11" '
              f'fill="{GROUP_COLOURS[group % len(GROUP_COLOURS)]}">{html.escape(name)}</text>'
              for i, (group, name) in enumerate(sorted(names.items()))]
    return _figure(title, SCATTER_SIZE + 420, SCATTER_SIZE, parts + legend)


def _figure(title: str, width: int, height: int, parts: list[str]) -> str:
    return (f'<figure><figcaption>{html.escape(title)}</figcaption><svg xmlns="http://www.w3.org/2000/svg" '
            f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">{"".join(parts)}</svg></figure>')


def _scorer_table(metrics: dict, scorers: list[str]) -> str:
    header = "".join(f"<th>{label}</th>" for _, label in METRICS)
    rows = "".join(f"<tr><td style='color:{COLOURS.get(s, '')}'>{s}</td>"
                   + "".join(f"<td>{metrics[s][key]:.4f}</td>" if key in metrics[s] else "<td>–</td>"
                             for key, _ in METRICS) + "</tr>" for s in scorers)
    return f"<table><tr><th>scorer</th>{header}</tr>{rows}</table>"


def head_section(head: str, evaluation, metrics: dict) -> str:
    scorers = list(evaluation.scores)
    curves = {name: threshold_curves(evaluation.labels, p) for name, p in evaluation.scores.items()}
    base_rate = float(np.mean(evaluation.labels))
    reliability = {}
    for name, probabilities in evaluation.probabilities().items():
        table = [b for b in reliability_table(evaluation.labels, probabilities) if b.count]
        reliability[name] = (np.array([b.mean_predicted for b in table]), np.array([b.observed_rate for b in table]))
    top = max(max(float(x.max()), float(y.max())) for x, y in reliability.values())
    scale = min(1.0, float(np.ceil(top * 10) / 10) or 1.0)
    reliability = {name: (x / scale, y) for name, (x, y) in reliability.items()}
    charts = [
        line_chart("ROC curve", {n: (c.false_positive_rate, c.true_positive_rate) for n, c in curves.items()},
                   "false positive rate", "true positive rate", diagonal=True),
        line_chart("Precision-recall", {n: (c.true_positive_rate, c.precision) for n, c in curves.items()},
                   "recall", "precision"),
        line_chart(f"Reliability (x: predicted / {scale:g})", reliability, "mean predicted probability",
                   "observed rate", diagonal=True, y_max=scale, markers=True),
        line_chart("Cumulative gain", {n: (c.selected_share, c.true_positive_rate) for n, c in curves.items()},
                   "share of rows, best scored first", "share of positives found", diagonal=True),
    ]
    parts = [f"<h2>{html.escape(head)}</h2>",
             f"<p class='meta'>{len(evaluation.labels):,} test rows, positive rate {base_rate:.2%}</p>",
             _scorer_table(metrics, scorers)]
    if "model_skill" in metrics:
        parts.append(f"<p class='ratio'>skill (AUC − 0.5) / (oracle AUC − 0.5) = {metrics['model_skill']:.3f}"
                     f" · model / oracle AUC = {metrics['model_over_oracle_auc']:.3f}</p>")
    if lead := describe_oracle_lead(metrics):
        parts.append(f"<p>{html.escape(lead)}</p>")
    parts.append(f"<div class='charts'>{''.join(charts)}</div>")
    parts.append("<div class='charts'>" + bar_chart("SHAP summary: mean |contribution| per feature",
                                                    evaluation.importance))
    if "reasons_of_churned" in metrics:
        parts.append(bar_chart("Top reason of the churned test users", metrics["reasons_of_churned"], "{:.1%}"))
    parts.append("</div>")
    if "reason_agreement" in metrics:
        parts.append(f"<p>{html.escape(describe_reason_agreement(metrics))}</p>")
    return "".join(parts)


def _cell(value: float | str) -> str:
    if isinstance(value, str):
        return html.escape(value)
    return f"{value:,.0f}" if float(value).is_integer() and abs(value) >= 10 else f"{value:.4f}"


def table_section(name: str, rows: dict[str, dict[str, float]]) -> str:
    columns = list(next(iter(rows.values())))
    header = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(f"<tr><td>{html.escape(row)}</td>" + "".join(f"<td>{_cell(values[c])}</td>" for c in columns)
                   + "</tr>" for row, values in rows.items())
    return f"<h2>{html.escape(name)}</h2><table><tr><th></th>{header}</tr>{body}</table>"


def write_report(directory: Path, task: str, tag: str, feature_service: str, sections: str,
                 file_name: str = "index.html") -> Path:
    """Write ``file_name`` (default ``index.html``) around the evaluation kind's ``sections`` (replacing the previous report
    atomically) and return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    made = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    page = (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>shopml · {html.escape(task)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{html.escape(task)}</h1>"
            f"<p class='meta'>model {html.escape(tag)} · features from {html.escape(feature_service)} · "
            f"made {made}. Every figure is on the test rows: later cut-offs than the model was trained on.</p>"
            f"{sections}</body></html>")
    target = directory / file_name
    staging = directory / f".{file_name}.writing"
    staging.write_text(page, encoding="utf-8")
    staging.replace(target)
    return target
