"""The model card: every section from realistic check results, robustness to missing, skipped and
failed checks, escaping of user text, and well-formed Markdown tables."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

from aiforge.evaluate._card import SECTIONS, ModelCard, limitations, render_model_card
from aiforge.evaluate._checks import CheckResult
from aiforge.evaluate._gate import GateVerdict, KpiResult

TITLES = ("Intended use", "Data", "Performance", "KPI gate", "Fairness", "Robustness", "Privacy", "Energy",
          "Explainability", "Limitations", "Lineage")


def _checks() -> dict[str, dict[str, Any]]:
    fairness = CheckResult(
        "fairness", "ok",
        metrics={"demographic_parity_difference[sex]": 0.183, "demographic_parity_ratio[sex]": 0.342,
                 "equalized_odds_difference[sex]": 0.087, "demographic_parity_difference[race]": 0.061},
        details={
            "groups": [
                {"attribute": "sex", "group": "Female", "n": 1598, "selection_rate": 0.094, "tpr": 0.55,
                 "accuracy": 0.925},
                {"attribute": "sex", "group": "Male", "n": 3286, "selection_rate": 0.277, "tpr": 0.63,
                 "accuracy": 0.836},
                {"attribute": "race", "group": "Other", "n": 17, "selection_rate": 0.059, "tpr": 0.5,
                 "accuracy": 0.94},
                {"attribute": "race", "group": "A|B", "n": 401, "selection_rate": 0.2, "tpr": 0.6, "accuracy": 0.8},
            ],
            "min_group_size": 30,
            "tradeoff": [
                {"model": "unmitigated", "accuracy": 0.861, "demographic_parity_difference[sex]": 0.183},
                {"model": "exponentiated_gradient", "accuracy": 0.842, "demographic_parity_difference[sex]": 0.021},
            ],
        },
        method="fairlearn MetricFrame on the test split; mitigation compared by refitting", seconds=3.2,
    )
    robustness = CheckResult(
        "robustness", "ok", metrics={"attack_success_rate": 0.34, "accuracy_under_attack": 0.58},
        details={"epsilon": 0.1, "flips": 1, "by_feature": [{"feature": "capital_gain", "success": 0.21},
                                                           {"feature": "age", "success": 0.05}]},
        method="bounded perturbations (0.1 std) and one categorical flip; HopSkipJump (2000 queries)", seconds=8.1,
    )
    noise = CheckResult("label_noise", "ok", metrics={"label_issue_share": 0.046},
                        details={"flagged": [{"row": 12, "given": "<=50K", "suggested": ">50K", "confidence": 0.93}]},
                        method="cleanlab confident learning on 3-fold out-of-fold probabilities", seconds=4.4)
    privacy = CheckResult("privacy", "ok", metrics={"membership_inference_auc": 0.671, "membership_advantage": 0.29},
                          details={"rows": 2000, "attack": "loss threshold"},
                          method="membership inference: loss-threshold attack on 2000 train and 2000 test rows")
    energy = CheckResult(
        "energy", "ok", metrics={"training_energy_kwh": 0.0021, "training_co2e_g": 0.84},
        details={"stages": [{"stage": "train", "seconds": 12.1, "cpu_seconds": 20.3, "kwh": 0.00056}],
                 "grid_g_per_kwh": 400},
        method="cpu_model: CPU seconds x 10 W per core (estimate)",
    )
    explain = CheckResult(
        "explain", "ok", metrics={"explain_ms_per_row": 7.5},
        details={
            "global_kind": "shap", "space": "log_odds", "method": "lightgbm TreeSHAP (pred_contrib)",
            "global": [{"feature": "marital_status", "mean_abs": 0.81, "mean": -0.05, "share": 0.31},
                       {"feature": "capital_gain", "mean_abs": 0.44, "mean": -0.12, "share": 0.17},
                       {"feature": "age", "mean_abs": 0.39, "mean": 0.01, "share": 0.15}],
            "local": [{"row": 4211, "reason": "most confident positive", "prediction": ">50K", "actual": ">50K",
                       "base": -1.9, "output": 4.2, "space": "log-odds of '>50K'", "explained": ">50K",
                       "contributions": [{"feature": "capital_gain", "value": 15024, "contribution": 3.1},
                                         {"feature": "marital_status", "value": "Married-civ-spouse",
                                          "contribution": 1.2}],
                       "other": {"features": 11, "contribution": 1.8}}],
            "beeswarm": [{"feature": "age", "numeric": True, "points": [[0.1, -0.3], [0.9, 0.4]]}],
            "rows_explained": 1000, "additivity_error": 0.0,
        },
        method="global: mean |contribution| over 1000 test rows", seconds=0.6,
    )
    return {r.check: r.to_json() for r in (fairness, robustness, noise, privacy, energy, explain)}


def _gate() -> dict[str, Any]:
    return GateVerdict(False, [
        KpiResult("roc_auc", "roc_auc", 0.91, ">=", 0.9, True, 0.01, "roc_auc = 0.9100 >= 0.9 (margin +0.0100)"),
        KpiResult("demographic_parity_difference[sex]", "demographic_parity_difference", 0.183, "<=", 0.05, False,
                  -0.133, "demographic_parity_difference[sex] = 0.1830 is 0.1330 above the maximum 0.05: enable "
                  "mitigation: exponentiated_gradient (checks.fairness.mitigation)"),
    ]).to_json()


def _card(**changes: Any) -> ModelCard:
    fields: dict[str, Any] = {
        "name": "income", "version": "3", "status": "candidate", "learner": "lightgbm", "task": "binary",
        "target": "income", "positive_class": ">50K",
        "description": "Pre-screen loan applicants by whether income exceeds 50K.",
        "created_at": "2025-01-31T10:00:00Z",
        "data": {"snapshot": "f" * 64, "rows": 32561, "split": {"train": 26048, "test": 6513},
                 "columns_used": ["age", "workclass", "education", "sex", "race"],
                 "columns_ignored": {"fnlwgt": "a sampling weight, not a property of the person"}},
        "metrics": {"roc_auc": 0.91, "accuracy": 0.87, "log_loss": 0.29},
        "baseline": {"roc_auc": 0.5, "accuracy": 0.76, "log_loss": 0.55},
        "gate": _gate(), "checks": _checks(),
        "lineage": {"spec_hash": "abc123", "snapshot": "f" * 64, "code_version": "0.1.0",
                    "libraries": {"lightgbm": "4.7.0"}, "seeds": {"split": 42, "model": 42}},
    }
    return ModelCard(**{**fields, **changes})


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.ids: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self.ids += [v for k, v in attrs if k == "id" and v]


def _parse(html: str) -> _Tags:
    parser = _Tags()
    parser.feed(html)
    return parser


def test_a_full_card_has_every_section_with_its_figures() -> None:
    md, html = render_model_card(_card())
    assert _parse(html).ids == list(SECTIONS)
    headings = re.findall(r"^## (.+)$", md, flags=re.M)
    assert headings == list(TITLES)
    for text in ("Pre-screen loan applicants", "26,048", "fnlwgt", "0.91", "Gate failed: 1 of 2",
                 "enable mitigation: exponentiated_gradient", "Female", "exponentiated_gradient",
                 "attack_success_rate", "label_issue_share", "membership_inference_auc", "training_energy_kwh",
                 "marital_status", "most confident positive", "15,024", "spec_hash"):
        assert text in md, text
        assert text in html, text
    assert "<svg" in html and "<rect" in html  # the importance bars
    assert "beeswarm" not in md  # plot data stays out of the card
    section = md.split("## Limitations")[1].split("## Lineage")[0]
    for expected in ("KPI not met: demographic_parity_difference[sex]", "demographic_parity_difference[sex] = 0.183",
                     "demographic_parity_ratio[sex] = 0.342", "race=Other", "attack_success_rate = 0.34",
                     "label_issue_share = 0.046", "membership_inference_auc = 0.671 > 0.6",
                     "Trained without differential privacy", "estimates, not meter readings", "fnlwgt",
                     "one snapshot of historical data (32,561 rows)", "not causes"):
        assert expected in section, expected
    assert "was not assessed" not in section and "demographic_parity_difference[race]" not in section


def test_a_card_with_missing_skipped_failed_and_odd_checks_still_renders() -> None:
    checks = {
        "fairness": CheckResult("fairness", "skipped", reason="no sensitive columns declared (checks.fairness."
                                "sensitive)").to_json(),
        "privacy": CheckResult("privacy", "failed", reason="ValueError: the attack needs two classes").to_json(),
        "explain": CheckResult("explain", "ok", details={"global": "not a table", "local": [1, 2]}).to_json(),
        "drift": CheckResult("drift", "ok", metrics={"psi": 0.3}, details={"nested": {"a": [1, {"b": 2}]}}).to_json(),
    }
    card = _card(checks=checks, gate=None, data={}, metrics={}, baseline={}, lineage={}, description="",
                 positive_class=None)
    md, html = render_model_card(card)
    assert _parse(html).ids == [*SECTIONS[:-2], "other-checks", *SECTIONS[-2:]]
    assert "Skipped: no sensitive columns declared" in md
    assert "Failed to run: ValueError: the attack needs two classes" in md
    assert "not a table" in md and "psi" in md  # shown generically
    assert "No intended use was written" in md and "No KPIs were declared" in md
    found = limitations(card)
    assert any(s.startswith("Robustness (evasion) was not assessed") for s in found)
    assert any(s.startswith("Energy and carbon was not assessed") for s in found)
    assert any(s.startswith("Fairness was not assessed: no sensitive columns") for s in found)
    assert any(s.startswith("The privacy check failed to run") for s in found)
    assert not any("membership" in s for s in found)


def test_html_escapes_user_text_and_fetches_nothing() -> None:
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)> & "quotes"'
    checks = _checks()
    checks["fairness"]["reason"] = evil
    checks["fairness"]["details"]["groups"][0]["group"] = evil
    md, html = render_model_card(_card(name="inc<b>ome", description=evil, checks=checks))
    tags = _parse(html).tags
    assert {t for t, _ in tags} <= {"html", "head", "meta", "title", "style", "body", "main", "header", "h1", "h2",
                                    "h3", "div", "section", "p", "dl", "dt", "dd", "ul", "li", "table", "thead",
                                    "tbody", "tr", "th", "td", "svg", "text", "rect"}
    assert not any(k in ("src", "href", "onerror") for _, attrs in tags for k in attrs)
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html and "inc&lt;b&gt;ome" in html
    assert "http" not in html and "@import" not in html and "url(" not in html
    assert "<script" not in md and "<img" not in md and "&lt;script>alert" in md


def test_markdown_tables_are_well_formed() -> None:
    md, _ = render_model_card(_card())
    tables: list[list[str]] = []
    previous = ""
    for line in md.splitlines():
        if line.startswith("|"):
            if not previous.startswith("|"):
                tables.append([])
            tables[-1].append(line)
        previous = line
    assert len(tables) >= 10
    for table in tables:
        widths = {len(re.findall(r"(?<!\\)\|", row)) for row in table}
        assert len(widths) == 1, table
        assert re.fullmatch(r"\|(---:?\|)+", table[1]), table[1]
        assert len(table) >= 3
    assert "A\\|B" in md  # a pipe in a value is escaped, not a column break


def test_a_card_round_trips_through_json() -> None:
    card = _card()
    assert ModelCard.from_json(card.to_json()) == card
