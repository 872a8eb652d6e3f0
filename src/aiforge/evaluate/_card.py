"""The model card of a registered version: Markdown and one self-contained HTML page.

A card only renders what the run measured (metrics, the KPI gate, the checks' ``CheckResult``s); it
never recomputes a figure. Each check section knows the layout of its check where it can, and falls
back to a generic rendering of any ``CheckResult`` (status, method, metrics, details as tables), so a
card never breaks when a check's details change. Limitations are derived from the results.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from html import escape
from typing import Any

from aiforge.evaluate._checks import CHECK_METRICS
from aiforge.evaluate._metrics import METRICS

__all__ = ["ModelCard", "limitations", "render_model_card"]

SECTIONS = ("intended-use", "data", "performance", "kpi-gate", "fairness", "robustness", "privacy", "energy",
            "explainability", "limitations", "lineage")
# which checks each section shows, in order
SECTION_CHECKS = {
    "fairness": ("fairness",),
    "robustness": ("robustness", "label_noise"),
    "privacy": ("privacy",),
    "energy": ("energy",),
    "explainability": ("explain",),
}
CHECK_TITLES = {"fairness": "Fairness", "robustness": "Robustness (evasion)",
                "label_noise": "Label noise and poisoning", "privacy": "Privacy", "energy": "Energy and carbon",
                "explain": "Explainability"}
MAX_TABLE_ROWS = 15
MAX_TABLE_COLUMNS = 8
MAX_CELL = 80
SMALL_GROUP = 30  # a group with fewer rows than this gives unreliable fairness figures
PARITY_GAP = 0.1  # fairness differences above this are named as limitations
ATTACK_SUCCESS = 0.2
MEMBERSHIP_AUC = 0.6
SUSPICIOUS_SHARE = 0.02
_DASH = "—"
_SIZE_KEYS = ("n", "count", "size", "rows", "support")
_GROUP_KEYS = ("attribute", "group", "value", "name")
_BULKY_DETAILS = {"beeswarm"}  # plot data: the report draws it; a card's table would be noise

_CSS = """
body{font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2937;margin:0;background:#f8fafc}
main{max-width:980px;margin:0 auto;padding:24px}
header h1{margin:0 0 4px;font-size:24px}
.meta{color:#4b5563}
section{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:14px 20px;margin:14px 0}
h2{font-size:18px;margin:4px 0 10px}h3{font-size:15px;margin:14px 0 6px}
table{border-collapse:collapse;margin:6px 0 10px;font-size:13px}
th,td{border-bottom:1px solid #e5e7eb;padding:4px 10px;text-align:left;vertical-align:top}
th{background:#f3f4f6}td.num{text-align:right;font-variant-numeric:tabular-nums}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:6px 0}dt{color:#4b5563}dd{margin:0}
.ok{color:#15803d;font-weight:600}.bad{color:#b91c1c;font-weight:600}.skip{color:#92400e;font-weight:600}
.bar{fill:#2563eb}.muted{color:#6b7280}
"""


@dataclass(frozen=True)
class ModelCard:
    """What a model card says about one registered version.

    ``data``: ``snapshot`` (id), ``rows``, ``columns_used`` (list), ``columns_ignored`` (column -> why),
    ``split`` (e.g. ``{"train": n, "test": n}``). ``gate`` is ``GateVerdict.to_json()``; ``checks`` maps
    a check's name to ``CheckResult.to_json()``; ``lineage`` is the run's record (spec hash, snapshot,
    code version, libraries, seeds).
    """

    name: str
    version: str
    status: str
    learner: str
    task: str
    target: str
    description: str = ""
    created_at: str = ""
    positive_class: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    baseline: dict[str, float] = field(default_factory=dict)
    gate: dict[str, Any] | None = None
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)
    lineage: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelCard:
        return cls(**data)


# -- a card as blocks, rendered twice --------------------------------------------------------------


@dataclass(frozen=True)
class _Para:
    text: str
    tone: str = ""  # ok | bad | skip: the HTML colours it


@dataclass(frozen=True)
class _Heading:
    text: str


@dataclass(frozen=True)
class _Table:
    head: list[str]
    rows: list[list[str]]
    numeric: tuple[int, ...] = ()


@dataclass(frozen=True)
class _Items:
    items: list[str]


@dataclass(frozen=True)
class _Pairs:
    pairs: list[tuple[str, str]]


@dataclass(frozen=True)
class _Bars:  # HTML only: a horizontal bar chart (the Markdown has the same figures as a table)
    label: str
    bars: list[tuple[str, float]]


_Block = _Para | _Heading | _Table | _Items | _Pairs | _Bars


def render_model_card(card: ModelCard) -> tuple[str, str]:
    """The card as (Markdown, self-contained HTML with inline CSS and no external assets)."""
    sections: list[tuple[str, str, list[_Block]]] = [
        ("intended-use", "Intended use", _intended_use(card)),
        ("data", "Data", _data(card)),
        ("performance", "Performance", _performance(card)),
        ("kpi-gate", "KPI gate", _gate(card)),
        *[(ident, title, _checks(card, SECTION_CHECKS[ident])) for ident, title in (
            ("fairness", "Fairness"), ("robustness", "Robustness"), ("privacy", "Privacy"), ("energy", "Energy"),
            ("explainability", "Explainability"))],
        ("limitations", "Limitations", [_Items(limitations(card))]),
        ("lineage", "Lineage", _lineage(card)),
    ]
    shown = {c for names in SECTION_CHECKS.values() for c in names}
    others = [n for n in card.checks if n not in shown]
    if others:
        sections.insert(-2, ("other-checks", "Other checks", _checks(card, tuple(others))))
    return _markdown(card, sections), _html(card, sections)


def _title(card: ModelCard) -> str:
    return f"Model card: {card.name} v{card.version}"


def _subtitle(card: ModelCard) -> str:
    parts = [f"status {card.status}", f"learner {card.learner}", f"{card.task} on '{card.target}'"]
    if card.created_at:
        parts.append(f"registered {card.created_at}")
    return " · ".join(parts)


# -- sections --------------------------------------------------------------------------------------


def _intended_use(card: ModelCard) -> list[_Block]:
    described = card.description.strip()
    blocks: list[_Block] = [_Para(described or "No intended use was written: set problem.description in the "
                                               "project file.", "" if described else "skip")]
    pairs = [("task", card.task), ("target", card.target)]
    if card.positive_class is not None:
        pairs.append(("positive class", str(card.positive_class)))
    pairs += [("learner", card.learner), ("status", card.status)]
    blocks.append(_Pairs(pairs))
    blocks.append(_Para("Out of scope: decisions about individuals without human review, and populations or "
                        "periods unlike the training data."))
    return blocks


def _data(card: ModelCard) -> list[_Block]:
    data = card.data
    if not data:
        return [_Para("No data record was kept for this version.", "skip")]
    pairs: list[tuple[str, str]] = [(k, _cell(data[k])) for k in ("snapshot", "rows") if k in data]
    split = data.get("split")
    if isinstance(split, dict):
        pairs.append(("split", ", ".join(f"{k} {_num(v)}" for k, v in split.items())))
    used = data.get("columns_used")
    if isinstance(used, list | tuple):
        pairs.append((f"columns used ({len(used)})", ", ".join(str(c) for c in used)))
    pairs += [(str(k), _cell(v)) for k, v in data.items()
              if k not in ("snapshot", "rows", "split", "columns_used", "columns_ignored")]
    blocks: list[_Block] = [_Pairs(pairs)]
    ignored = data.get("columns_ignored")
    if isinstance(ignored, dict) and ignored:
        rows = [[str(k), _cell(v)] for k, v in ignored.items()]
        blocks += [_Heading("Columns ignored"), _Table(["column", "why"], rows)]
    elif isinstance(ignored, list | tuple) and ignored:
        blocks.append(_Para("Columns ignored: " + ", ".join(str(c) for c in ignored)))
    return blocks


def _performance(card: ModelCard) -> list[_Block]:
    if not card.metrics:
        return [_Para("No test metrics were recorded.", "skip")]
    rows = []
    for name, value in card.metrics.items():
        metric = METRICS.get(name)
        rows.append([name, _num(value), _num(card.baseline.get(name)),
                     ("higher" if metric.higher_is_better else "lower") + " is better" if metric else "",
                     metric.description if metric else ""])
    baseline = ("copies the source text" if card.task == "text_generation" else
                "predicts class priors (classification) or the training mean (regression)")
    return [_Para(f"Measured on the held-out test split; the baseline {baseline}."),
            _Table(["metric", "model", "baseline", "direction", "meaning"], rows, numeric=(1, 2))]


def _gate(card: ModelCard) -> list[_Block]:
    gate = card.gate
    results = gate.get("results", []) if isinstance(gate, dict) else []
    if not results:
        return [_Para("No KPIs were declared: nothing gated this version (add kpis: to the project file).", "skip")]
    passed = bool(gate and gate.get("passed"))
    head = _Para(f"Gate {'passed' if passed else 'failed'}: "
                 f"{sum(bool(r.get('passed')) for r in results)} of {len(results)} KPI bound(s) met.",
                 "ok" if passed else "bad")
    rows = [[str(r.get("kpi", r.get("metric", ""))), _num(r.get("value")),
             f"{r.get('bound', '')} {_num(r.get('threshold'))}", _num(r.get("margin")),
             "pass" if r.get("passed") else "FAIL", _cell(r.get("message", ""), 240)] for r in results]
    return [head, _Table(["KPI", "value", "bound", "margin", "result", "message"], rows, numeric=(1, 3))]


def _checks(card: ModelCard, names: tuple[str, ...]) -> list[_Block]:
    blocks: list[_Block] = []
    for name in names:
        if len(names) > 1:
            blocks.append(_Heading(CHECK_TITLES.get(name, name)))
        result = card.checks.get(name)
        if not isinstance(result, dict):
            blocks.append(_Para(f"Not assessed: this version has no '{name}' check result.", "skip"))
            continue
        try:
            blocks += _check_blocks(name, result)
        except Exception:  # a layout that does not fit this result's details: show it generically
            blocks += _generic_check(name, result)
    return blocks


def _check_blocks(name: str, result: dict[str, Any]) -> list[_Block]:
    if name == "explain" and result.get("status") == "ok":
        return _explain_check(result)
    return _generic_check(name, result)


def _status(name: str, result: dict[str, Any]) -> _Para:
    status = str(result.get("status", "unknown"))
    reason = str(result.get("reason") or "")
    text = {"ok": "Ran", "skipped": "Skipped", "failed": "Failed to run"}.get(status, f"Status {status}")
    seconds = result.get("seconds")
    timing = f" in {_num(seconds)} s" if status == "ok" and _is_number(seconds) and float(seconds or 0) > 0 else ""
    return _Para(f"{text}{timing}" + (f": {reason}" if reason else "."),
                 {"ok": "ok", "skipped": "skip"}.get(status, "bad"))


def _generic_check(name: str, result: dict[str, Any]) -> list[_Block]:
    blocks: list[_Block] = [_status(name, result)]
    if result.get("method"):
        blocks.append(_Para(f"Method: {result['method']}"))
    metrics = result.get("metrics") or {}
    if isinstance(metrics, dict) and metrics:
        rows = []
        for key, value in metrics.items():
            known = CHECK_METRICS.get(str(key).split("[")[0])
            rows.append([str(key), _num(value), known.description if known else ""])
        blocks.append(_Table(["metric", "value", "meaning"], rows, numeric=(1,)))
    details = result.get("details") or {}
    if isinstance(details, dict):
        shown = {str(k): v for k, v in details.items() if str(k) not in _BULKY_DETAILS}
        scalars = [(k.replace("_", " "), _cell(v, 240)) for k, v in shown.items()
                   if not isinstance(v, list | dict) and v is not None and v != ""]
        if scalars:
            blocks.append(_Pairs(scalars))
        for key, value in shown.items():
            if isinstance(value, list | dict):
                blocks += _detail(key, value)
    elif details:
        blocks.append(_Para(f"Details: {_cell(details, 240)}"))
    return blocks


def _detail(key: str, value: Any) -> list[_Block]:
    """One entry of a check's details, whatever its shape: a table, pairs or a line."""
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        columns: list[str] = []
        for row in value:
            columns += [str(k) for k in row if str(k) not in columns]
        columns = columns[:MAX_TABLE_COLUMNS]
        rows = [[_cell(row.get(c)) for c in columns] for row in value[:MAX_TABLE_ROWS]]
        more = [_Para(f"({len(value) - MAX_TABLE_ROWS} more rows not shown)")] if len(value) > MAX_TABLE_ROWS else []
        numeric = tuple(i for i, c in enumerate(columns) if all(_is_number(r.get(c)) for r in value[:MAX_TABLE_ROWS]))
        return [_Heading(key.replace("_", " ")), _Table(columns, rows, numeric), *more]
    if isinstance(value, dict) and value and all(isinstance(v, list) and v and all(isinstance(r, dict) for r in v)
                                                 for v in value.values()):
        # e.g. fairness groups: one table per attribute
        return [block for k, rows in list(value.items())[:10] for block in _detail(f"{key}: {k}", rows)]
    if isinstance(value, dict) and value:
        return [_Heading(key.replace("_", " ")), _Pairs([(str(k), _cell(v)) for k, v in list(value.items())[:30]])]
    if value is None or value == [] or value == {} or value == "":
        return []
    return [_Pairs([(key.replace("_", " "), _cell(value, 240))])]


def _explain_check(result: dict[str, Any]) -> list[_Block]:
    details = result["details"]
    blocks: list[_Block] = [_status("explain", result), _Para(f"Method: {result.get('method', '')}")]
    ranked = details.get("global") or []
    if details.get("global_kind") == "shap":
        space = details.get("space", "")
        blocks.append(_Heading(f"Global importance: mean |contribution| ({space.replace('_', '-')} space)"))
        rows = [[r["feature"], _num(r["mean_abs"]), _num(r.get("mean")), _num(r.get("share"))]
                for r in ranked[:MAX_TABLE_ROWS]]
        bars = [(r["feature"], float(r["mean_abs"])) for r in ranked[:MAX_TABLE_ROWS]]
        blocks += [_Bars("mean |contribution|", bars),
                   _Table(["input", "mean |contribution|", "mean contribution", "share"], rows, numeric=(1, 2, 3))]
    else:
        metric = details.get("global_metric", "the primary metric")
        blocks.append(_Heading(f"Global importance: drop in {metric} when the input is shuffled"))
        rows = [[r["feature"], _num(r["importance"]), _num(r.get("std"))] for r in ranked[:MAX_TABLE_ROWS]]
        bars = [(r["feature"], max(0.0, float(r["importance"]))) for r in ranked[:MAX_TABLE_ROWS]]
        blocks += [_Bars("importance", bars),
                   _Table(["input", "importance", "std"], rows, numeric=(1, 2))]
    for row in details.get("local") or []:
        title = f"Row {row.get('row')}: {row.get('reason', '')}"
        blocks.append(_Heading(title))
        blocks.append(_Para(f"prediction {_cell(row.get('prediction'))}, actual {_cell(row.get('actual'))}; "
                            f"{row.get('space', '')}: base {_num(row.get('base'))} → output {_num(row.get('output'))}"))
        contributions = [[c["feature"], _cell(c.get("value")), _num(c["contribution"])]
                         for c in row.get("contributions", [])[:5]]
        blocks.append(_Table(["input", "value", "contribution"], contributions, numeric=(2,)))
    if details.get("note"):
        blocks.append(_Para(f"Note: {details['note']}"))
    return blocks


def _lineage(card: ModelCard) -> list[_Block]:
    if not card.lineage:
        return [_Para("No lineage was recorded.", "skip")]
    return [_Pairs([(str(k), _cell(v, 400)) for k, v in card.lineage.items()])]


# -- limitations -----------------------------------------------------------------------------------


def limitations(card: ModelCard) -> list[str]:
    """What the results say this model should not be trusted with, then what holds for any tabular model."""
    found: list[str] = []
    for section in SECTION_CHECKS.values():
        for name in section:
            result = card.checks.get(name)
            title = CHECK_TITLES.get(name, name)
            if not isinstance(result, dict):
                found.append(f"{title} was not assessed for this version.")
            elif result.get("status") == "skipped":
                found.append(f"{title} was not assessed: {result.get('reason') or 'the check was skipped'}.")
            elif result.get("status") == "failed":
                found.append(f"The {name} check failed to run ({result.get('reason') or 'no reason recorded'}): "
                             "its risk is unknown.")
    gate = card.gate if isinstance(card.gate, dict) else {}
    results = gate.get("results") or []
    if not results:
        found.append("No KPIs were declared, so no release gate vouches for this version.")
    found += [f"KPI not met: {r.get('message') or r.get('kpi')}" for r in results if not r.get("passed")]
    for name, value in card.metrics.items():
        metric, base = METRICS.get(name), card.baseline.get(name)
        if metric is None or not _is_number(value) or base is None or not _is_number(base):
            continue
        if value <= base if metric.higher_is_better else value >= base:
            found.append(f"On {name} the model does no better than the trivial baseline "
                         f"({_num(value)} vs {_num(base)}).")
    found += _fairness_limits(_ok(card, "fairness"))
    found += _security_limits(_ok(card, "robustness"), _ok(card, "label_noise"))
    found += _privacy_limits(card, _ok(card, "privacy"))
    energy = _ok(card, "energy")
    if energy is not None:
        found.append("Energy and carbon figures are estimates, not meter readings"
                      + (f" ({energy['method']})." if energy.get("method") else "."))
    explain = _ok(card, "explain")
    if explain is not None and "sampling" in str(explain.get("details", {}).get("method", "")):
        found.append("Per-row explanations are sampled SHAP estimates: small contributions may be noise.")
    ignored = card.data.get("columns_ignored")
    if ignored:
        names = ", ".join(str(c) for c in ignored)
        found.append(f"Columns not used by the model: {names}; whatever they carry is not reflected.")
    rows = card.data.get("rows")
    found += [
        f"Learned from one snapshot of historical data{f' ({_num(rows)} rows)' if rows else ''}: it carries that "
        "data's patterns and biases, and its accuracy decays when the inputs drift; monitor it in production.",
        "Inputs outside the ranges and categories seen in training (unseen categories are read as unknown) get "
        "less reliable predictions.",
        "Contributions and importances describe the model's associations, not causes: do not use them to "
        "reason about interventions.",
    ]
    return found


def _ok(card: ModelCard, name: str) -> dict[str, Any] | None:
    result = card.checks.get(name)
    return result if isinstance(result, dict) and result.get("status") == "ok" else None


def _metrics_of(result: dict[str, Any] | None) -> dict[str, float]:
    metrics = (result or {}).get("metrics") or {}
    return {str(k): float(v) for k, v in metrics.items() if _is_number(v)}


def _fairness_limits(result: dict[str, Any] | None) -> list[str]:
    if result is None:
        return []
    found = [f"{name} = {_num(value)}: outcomes differ between groups by more than {PARITY_GAP:g}."
             for name, value in _metrics_of(result).items()
             if name.split("[")[0].endswith("difference") and value > PARITY_GAP]
    found += [f"{name} = {_num(value)}: one group's rate is under 80% of another's."
              for name, value in _metrics_of(result).items() if name.split("[")[0].endswith("ratio") and value < 0.8]
    details = result.get("details") or {}
    minimum = details.get("min_group_size", SMALL_GROUP) if isinstance(details, dict) else SMALL_GROUP
    small = sorted(set(_small_groups(details, minimum if _is_number(minimum) else SMALL_GROUP)))
    if small:
        shown = ", ".join(small[:8]) + (f" and {len(small) - 8} more" if len(small) > 8 else "")
        found.append(f"Groups with fewer than {_num(minimum)} test rows ({shown}): their fairness figures are "
                     "unreliable.")
    return found


def _small_groups(details: Any, minimum: float) -> list[str]:
    """Names of groups in any table of the details whose size is under ``minimum`` (or listed as small)."""
    found: list[str] = []
    if isinstance(details, dict):
        for key, value in details.items():
            if "small" in str(key) and isinstance(value, list):
                found += [_cell(v) for v in value if not isinstance(v, dict)]
                found += [_group_name(v) for v in value if isinstance(v, dict)]
            else:
                found += _small_groups(value, minimum)
    elif isinstance(details, list):
        for row in details:
            if isinstance(row, dict):
                size = next((row[k] for k in _SIZE_KEYS if k in row and _is_number(row[k])), None)
                if size is not None and size < minimum and any(k in row for k in _GROUP_KEYS):
                    found.append(_group_name(row))
                else:
                    found += _small_groups(row, minimum)
    return found


def _group_name(row: dict[str, Any]) -> str:
    parts = [str(row[k]) for k in _GROUP_KEYS if k in row]
    return "=".join(parts[:2]) if parts else _cell(row)


def _security_limits(robustness: dict[str, Any] | None, noise: dict[str, Any] | None) -> list[str]:
    found = [f"{name} = {_num(value)}: an attacker can change {value:.0%} of the decisions attacked."
             for name, value in _metrics_of(robustness).items() if "success" in name and value > ATTACK_SUCCESS]
    found += [f"{name} = {_num(value)}: a share of the training labels looks wrong (label noise or poisoning); "
              "review the flagged rows." for name, value in _metrics_of(noise).items()
              if any(w in name for w in ("issue", "suspicious", "noise")) and 0 < value < 1
              and value > SUSPICIOUS_SHARE]
    return found


def _privacy_limits(card: ModelCard, privacy: dict[str, Any] | None) -> list[str]:
    found = [f"{name} = {_num(value)} > {MEMBERSHIP_AUC:g}: an attacker can tell training records from others; "
             "the model leaks membership." for name, value in _metrics_of(privacy).items()
             if "membership" in name and "auc" in name and value > MEMBERSHIP_AUC]
    if not _mentions_epsilon(privacy) and not _mentions_epsilon(card.lineage):
        found.append("Trained without differential privacy: nothing bounds what the model reveals about one "
                     "training record.")
    return found


def _mentions_epsilon(value: Any) -> bool:
    if isinstance(value, dict):
        return any(("epsilon" in str(k) and v is not None) or _mentions_epsilon(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_mentions_epsilon(v) for v in value)
    return False


# -- formatting ------------------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _num(value: Any) -> str:
    if value is None:
        return _DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        if value.is_integer() and abs(value) < 1e15:
            return f"{int(value):,}"
        return f"{value:.4g}"
    return str(value)


def _cell(value: Any, limit: int = MAX_CELL) -> str:
    """Any JSON value as one short line of text."""
    if value is None or _is_number(value) or isinstance(value, bool):
        return _num(value)
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- Markdown --------------------------------------------------------------------------------------


def _md(text: str) -> str:
    """User text as inert Markdown on one line: ``<`` as an entity, so that no text opens an HTML tag."""
    return " ".join(text.replace("<", "&lt;").split())


def _md_cell(text: str) -> str:
    return _md(text).replace("|", "\\|") or " "


def _markdown(card: ModelCard, sections: list[tuple[str, str, list[_Block]]]) -> str:
    lines = [f"# {_md(_title(card))}", "", f"*{_md(_subtitle(card))}*", ""]
    for _ident, title, blocks in sections:
        lines += [f"## {title}", ""]
        for block in blocks:
            lines += _md_block(block)
    return "\n".join(lines).rstrip() + "\n"


def _md_block(block: _Block) -> list[str]:
    if isinstance(block, _Para):
        return [_md(block.text), ""]
    if isinstance(block, _Heading):
        return [f"### {_md(block.text)}", ""]
    if isinstance(block, _Items):
        return [*(f"- {_md(item)}" for item in block.items), ""]
    if isinstance(block, _Pairs):
        return [*(f"- **{_md(k)}**: {_md(v)}" for k, v in block.pairs), ""]
    if isinstance(block, _Table):
        if not block.rows:
            return ["(none)", ""]
        width = len(block.head)
        out = ["| " + " | ".join(_md_cell(h) for h in block.head) + " |",
               "|" + "|".join("---:" if i in block.numeric else "---" for i in range(width)) + "|"]
        out += ["| " + " | ".join(_md_cell(c) for c in (row + [""] * width)[:width]) + " |" for row in block.rows]
        return [*out, ""]
    return []  # bars: the table beside them holds the figures


# -- HTML ------------------------------------------------------------------------------------------


def _h(text: Any) -> str:
    return escape(str(text), quote=True)


def _html(card: ModelCard, sections: list[tuple[str, str, list[_Block]]]) -> str:
    body = [f"<header><h1>{_h(_title(card))}</h1><div class=\"meta\">{_h(_subtitle(card))}</div></header>"]
    for ident, title, blocks in sections:
        inner = "".join(_html_block(b) for b in blocks)
        body.append(f'<section id="{ident}"><h2>{_h(title)}</h2>{inner}</section>')
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
            f"<title>{_h(_title(card))}</title><style>{_CSS}</style></head>"
            f"<body><main>{''.join(body)}</main></body></html>\n")


def _html_block(block: _Block) -> str:
    if isinstance(block, _Para):
        cls = f' class="{block.tone}"' if block.tone else ""
        return f"<p{cls}>{_h(block.text)}</p>"
    if isinstance(block, _Heading):
        return f"<h3>{_h(block.text)}</h3>"
    if isinstance(block, _Items):
        return "<ul>" + "".join(f"<li>{_h(i)}</li>" for i in block.items) + "</ul>"
    if isinstance(block, _Pairs):
        return "<dl>" + "".join(f"<dt>{_h(k)}</dt><dd>{_h(v)}</dd>" for k, v in block.pairs) + "</dl>"
    if isinstance(block, _Table):
        if not block.rows:
            return '<p class="muted">(none)</p>'
        head = "".join(f"<th>{_h(h)}</th>" for h in block.head)
        rows = "".join("<tr>" + "".join(
            f'<td class="num">{_h(c)}</td>' if i in block.numeric else f"<td>{_h(c)}</td>"
            for i, c in enumerate(row)) + "</tr>" for row in block.rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
    return _bars_svg(block)


def _bars_svg(block: _Bars) -> str:
    if not block.bars:
        return ""
    top = max(v for _, v in block.bars) or 1.0
    row, label_w, bar_w = 18, 170, 360
    height = row * len(block.bars) + 6
    parts = [f'<svg role="img" aria-label="{_h(block.label)}" '
             f'width="{label_w + bar_w + 70}" height="{height}" font-size="12">']
    for i, (name, value) in enumerate(block.bars):
        y = i * row + 3
        width = max(0.0, value) / top * bar_w
        parts.append(f'<text x="{label_w - 6}" y="{y + 12}" text-anchor="end">{_h(_cell(name, 28))}</text>'
                     f'<rect class="bar" x="{label_w}" y="{y + 2}" width="{width:.1f}" height="{row - 6}"/>'
                     f'<text x="{label_w + width + 4:.1f}" y="{y + 12}">{_h(_num(value))}</text>')
    parts.append("</svg>")
    return "".join(parts)
