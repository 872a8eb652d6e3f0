"""Turn the benchmark's JSONL records into RESULTS.md: what ran, scores, ranks, times, memory.

    .venv/bin/python benchmarks/automl/report.py                        # results/results.jsonl -> RESULTS.md
    .venv/bin/python benchmarks/automl/report.py --results results/quick.jsonl --out /tmp/QUICK.md

Every figure comes from the records; nothing is typed in. Scores are medians over the seeds that
ran; ranks are per data set and budget (1 = best, ties share the mean rank, a tool whose every
seed failed ranks last); the mean rank averages them over the data sets on which every tool was run.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import datasets  # noqa: E402
from run import TOOLS  # noqa: E402

FULL_BUDGETS = [30.0, 120.0]
FULL_SEEDS = [0, 1, 2]
TOOL_LABELS = {
    "aiforge": "aiforge", "flaml": "FLAML", "autogluon": "AutoGluon", "lightgbm": "LightGBM defaults",
    "optuna": "Optuna+LightGBM",
}
BUDGET_KNOBS = {
    "aiforge": "`model.search.budget.seconds` (+ `strategy: bayesian`), `n_jobs: 2`, CLI `aiforge run`",
    "flaml": "`AutoML.fit(time_budget=B, n_jobs=2, seed=S, metric=M)`, default estimator list",
    "autogluon": "`TabularPredictor(eval_metric=M).fit(time_limit=B, presets='medium_quality', num_cpus=2, "
                 "num_gpus=0)`; no seed argument (AutoGluon's internal seeds stay at their defaults)",
    "lightgbm": "`LGBMClassifier/LGBMRegressor(n_jobs=2, random_state=S)`; **ignores the budget**",
    "optuna": "TPE (`seed=S`) over 7 LightGBM parameters, `study.optimize(timeout=B)`, early stopping on a 20 % "
              "holdout of the training rows, first trial = LightGBM defaults, best refit on all training rows",
}


def load(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def fmt(value: float | None, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.{digits}f}"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def ranks(scores: dict[str, float | None], higher: bool) -> dict[str, float]:
    """1 = best; ties share the mean of their positions; missing scores (failed) tie for last."""
    scored = sorted((s if higher else -s, t) for t, s in scores.items() if s is not None)
    scored.reverse()
    out: dict[str, float] = {}
    i = 0
    while i < len(scored):
        j = i
        while j + 1 < len(scored) and scored[j + 1][0] == scored[i][0]:
            j += 1
        for k in range(i, j + 1):
            out[scored[k][1]] = (i + j) / 2 + 1
        i = j + 1
    failed = [t for t, s in scores.items() if s is None]
    for t in failed:
        out[t] = len(scored) + (len(failed) + 1) / 2
    return out


class Results:
    """The records, indexed by (budget, dataset, tool)."""

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = records
        self.by_key: dict[tuple[float, str, str], list[dict[str, Any]]] = defaultdict(list)
        for r in records:
            self.by_key[(float(r["budget"]), r["dataset"], r["tool"])].append(r)
        self.budgets = sorted({float(r["budget"]) for r in records})
        self.tools = [t for t in TOOLS if any(r["tool"] == t for r in records)]
        self.datasets = [d for d in datasets.LOADERS if any(r["dataset"] == d for r in records)]
        self.meta = {r["dataset"]: (r["task"], r["metric"]) for r in records}

    def seeds(self, budget: float, name: str) -> set[int]:
        """The seeds every tool ran (ok or failed) on this data set at this budget: medians and ranks compare
        tools on these only (a seed changes the test rows, so medians over other seeds do not compare)."""
        ran = [{int(r["seed"]) for r in self.by_key[(budget, name, t)]} for t in self.tools]
        return set.intersection(*ran) if ran else set()

    def ok(self, budget: float, name: str, tool: str) -> list[dict[str, Any]]:
        common = self.seeds(budget, name)
        return [r for r in self.by_key[(budget, name, tool)] if r["status"] == "ok" and int(r["seed"]) in common]

    def stat(self, budget: float, name: str, tool: str, field: str) -> float | None:
        return median([float(r[field]) for r in self.ok(budget, name, tool) if r.get(field) is not None])

    def complete_datasets(self, budget: float) -> list[str]:
        """Data sets on which every tool has at least one record (ok or failed) at this budget."""
        return [d for d in self.datasets if all(self.by_key[(budget, d, t)] for t in self.tools)]


def status_section(res: Results, source: Path) -> list[str]:
    planned_tools, planned_sets = list(TOOLS), list(datasets.LOADERS)
    planned = len(planned_tools) * len(planned_sets) * len(FULL_BUDGETS) * len(FULL_SEEDS)
    keys = {(r["tool"], r["dataset"], float(r["budget"]), int(r["seed"])) for r in res.records}
    ok = sum(1 for r in res.records if r["status"] == "ok")
    ran_budgets = sorted({k[2] for k in keys})
    ran_seeds = sorted({k[3] for k in keys})
    missing_budgets = [b for b in FULL_BUDGETS if b not in ran_budgets]
    partial = len(keys) < planned
    out = ["## What ran", ""]
    out.append(f"**{'PARTIAL' if partial else 'COMPLETE'}**: {len(keys)} of the {planned} runs of the full "
               f"configuration ({len(planned_tools)} tools × {len(planned_sets)} data sets × budgets "
               f"{', '.join(f'{b:g} s' for b in FULL_BUDGETS)} × seeds {', '.join(map(str, FULL_SEEDS))}) are "
               f"recorded in `{source.relative_to(HERE) if source.is_relative_to(HERE) else source}`; {ok} "
               f"succeeded, {len(res.records) - ok} failed or timed out.")
    out.append("")
    rows = []
    for b in sorted(set(FULL_BUDGETS) | set(ran_budgets)):
        for t in planned_tools:
            mine = [r for r in res.records if float(r["budget"]) == b and r["tool"] == t]
            seeds = sorted({int(r["seed"]) for r in mine})
            sets = {r["dataset"] for r in mine}
            rows.append([f"{b:g} s", TOOL_LABELS[t], ", ".join(map(str, seeds)) or "—",
                         f"{len(sets)} of {len(planned_sets)}", str(sum(r["status"] == "ok" for r in mine)),
                         str(sum(r["status"] != "ok" for r in mine))])
    out.append(table(["budget", "tool", "seeds run", "data sets run", "ok runs", "failed runs"], rows))
    out.append("")
    if partial:
        missing = []
        if missing_budgets:
            missing.append(("budget " if len(missing_budgets) == 1 else "budgets ")
                           + ", ".join(f"{b:g} s" for b in missing_budgets) + " (not run at all)")
        missing_seeds = [s for s in FULL_SEEDS if s not in ran_seeds]
        if missing_seeds:
            missing.append(("seed " if len(missing_seeds) == 1 else "seeds ") + ", ".join(map(str, missing_seeds))
                           + " (not run at all)")
        out.append("Missing from the full configuration: " + ("; ".join(missing) or "some (tool, data set) runs")
                   + ". Scores below are medians over the seeds that every tool ran on a data set (" + "; ".join(
                       f"{b:g} s: {len(set.intersection(*(res.seeds(b, d) for d in res.datasets)))} of "
                       f"{len(FULL_SEEDS)}" for b in ran_budgets)
                   + "): treat differences smaller than the seed-to-seed spread as noise. To complete the "
                   "benchmark (resumes, skipping the runs already recorded):")
        out += ["", "```", "bash benchmarks/automl/setup.sh", ".venv/bin/python benchmarks/automl/run.py "
                "--budgets 30,120 --seeds 0,1,2 --datasets all --tools all",
                ".venv/bin/python benchmarks/automl/report.py", "```"]
    return out


def machine_section(res: Results) -> list[str]:
    hardware = {json.dumps({k: v for k, v in r["machine"].items() if k != "aiforge_commit"}, sort_keys=True)
                for r in res.records}
    out = ["## Machine", ""]
    for m in map(json.loads, sorted(hardware)):
        out.append(f"- {m['cores']} cores, {m['cpu']}, {m['ram_gib']} GiB RAM; {m['os']}; Python {m['python']}")
    commits = Counter(r["machine"].get("aiforge_commit") or "unknown" for r in res.records)
    out.append("- aiforge: installed editable, so each run used the working tree as it was then; the checked-out "
               "commit when the runner started: " + ", ".join(f"`{c[:12]}` ({n} runs)" for c, n in commits.items()))
    loads = [r["loadavg_1m"][0] for r in res.records if r.get("loadavg_1m")]
    if loads:
        out.append(f"- 1-minute load average when each run started: median {statistics.median(loads):.2f}, "
                   f"max {max(loads):.2f} (2 cores; other work shared the machine whenever it is above ~1, "
                   "which slows every tool and makes time figures noisier)")
    first = min(r["finished_at"] for r in res.records)
    last = max(r["finished_at"] for r in res.records)
    wall = sum(float(r.get("wall_s", 0)) for r in res.records)
    out.append(f"- runs finished between {first} and {last} (UTC); {wall / 60:.0f} min of run wall time in all")
    return out


def versions_section(res: Results) -> list[str]:
    out = ["## Library versions", "", "As reported by each tool's own virtual environment during its runs.", ""]
    rows = []
    for t in res.tools:
        seen = {json.dumps(r["versions"], sort_keys=True) for r in res.records if r["tool"] == t and "versions" in r}
        for v in map(json.loads, sorted(seen)):
            rows.append([TOOL_LABELS[t], ", ".join(f"{k} {val}" for k, val in v.items())])
    out.append(table(["tool", "versions"], rows))
    return out


def method_section() -> list[str]:
    out = ["## Method", ""]
    out += [
        "- **Splits**: one seeded 80/20 split per (data set, seed), stratified for classification "
        "(`datasets.split`); every tool gets the same training rows and is scored on the same test rows.",
        "- **Scoring**: the harness scores every tool itself from its test-set predictions "
        "(`run.score`): binary `roc_auc` (higher is better), multiclass `log_loss` (lower; probability rows "
        "renormalised to sum 1 for every tool), regression `rmse` (lower). Each tool is told to optimise that metric.",
        "- **Budget**: each tool's own time-budget knob gets the budget; cores: 2 for every tool "
        "(`n_jobs`/`num_cpus`), `OMP_NUM_THREADS=2`, `OMP_WAIT_POLICY=PASSIVE` for every run.",
        "- **Process**: every (tool, data set, budget, seed) runs in a fresh subprocess of the tool's own "
        "virtual environment, killed after 3 × budget + 120 s (recorded as a time-out); tools take turns "
        "(the order rotates per data set).",
        "- **Fit time**: wall time of the tool's fit call; for aiforge, of the whole `aiforge run` command "
        "(data snapshot, profiling, selection, refit, evaluation, report, registration).",
        "- **Predict time**: median of 7 timed calls (after one warm-up) on the same 1000 test rows "
        "(sampled with replacement when the test split is smaller), in the worker process, probabilities "
        "for classification, values for regression; reported per 1000 rows.",
        "- **Peak memory**: the largest sum of RSS over the worker's process tree, sampled every 0.1 s "
        "(it includes the worker's own copy of the data; for aiforge also the `aiforge` CLI process).",
        "- **Ranks**: per data set and budget, tools ranked by their median score over seeds "
        "(1 = best; ties share the mean rank; a tool with no successful seed ranks last); mean rank over the "
        "data sets on which every tool has a record at that budget.",
        "- **aiforge vs FLAML win rate**: over the (data set, seed) pairs both finished at a budget, "
        "(wins + ½ ties) / pairs.",
        "",
        "Tool configurations:",
        "",
    ]
    out += [f"- {TOOL_LABELS[t]}: {BUDGET_KNOBS[t]}" for t in TOOLS]
    out += ["- aiforge project file per run: only the training rows as one Parquet source, `data.split.test_size: "
            "0.1` (aiforge's own held-out split, from the training rows), `model.search: {strategy: bayesian, "
            "metric: M, budget: {seconds: B}}`, `seed: S`, `n_jobs: 2`, `refit_full: true` (the evaluated "
            "configuration refit on all the training rows, as FLAML retrains on its full data), every check disabled "
            "(`checks.<name>.enabled: false`: peers run none), no "
            "KPIs; the registered model is loaded with `aiforge.ModelRegistry(...).load_model(...)` and scored "
            "by the harness on the benchmark's test split."]
    return out


def datasets_section(res: Results, split_cache: Path) -> list[str]:
    out = ["## Data sets", ""]
    rows = []
    for name in res.datasets:
        metas = sorted(split_cache.glob(f"{name}-seed*/meta.json"))
        m = json.loads(metas[0].read_text()) if metas else {"task": res.meta[name][0], "metric": res.meta[name][1]}
        balance = f"{m['classes']} classes, smallest {m['minority_pct']} %" if "classes" in m else "—"
        rows.append([name, m["task"], m["metric"], m.get("rows", "?"), m.get("features", "?"),
                     m.get("categorical", "?"), f"{m.get('missing_pct', '?')} %", balance, m.get("source", "")])
    out.append(table(["data set", "task", "metric", "rows", "features", "categorical", "missing", "classes",
                      "source"], rows))
    return out


def budget_section(res: Results, budget: float) -> list[str]:
    seeds = sorted(set.intersection(*(res.seeds(budget, d) for d in res.datasets)))
    out = [f"## Budget {budget:g} s (seeds every tool ran: {', '.join(map(str, seeds))})", ""]
    complete = res.complete_datasets(budget)
    tools = res.tools
    names = [TOOL_LABELS[t] for t in tools]

    rank_table: dict[str, dict[str, float]] = {}
    score_rows = []
    for d in res.datasets:
        task, metric = res.meta[d]
        higher = datasets.HIGHER_IS_BETTER[metric]
        scores = {t: res.stat(budget, d, t, "score") for t in tools if res.by_key[(budget, d, t)]}
        if d in complete:
            rank_table[d] = ranks(scores, higher)
        best = max((s for s in scores.values() if s is not None), key=lambda s: s if higher else -s, default=None)
        cells = []
        for t in tools:
            common = res.seeds(budget, d)  # the runs compared: those of the seeds every tool ran
            runs = [r for r in res.by_key[(budget, d, t)] if int(r["seed"]) in common] or res.by_key[(budget, d, t)]
            s = scores.get(t)
            n_ok = len(res.ok(budget, d, t))
            if not runs:
                cells.append("not run")
            elif s is None:
                cells.append("failed")
            else:
                text = fmt(s)
                text = f"**{text}**" if s == best else text
                cells.append(text + (f" ({n_ok}/{len(runs)} ok)" if n_ok != len(runs) else "")
                             + (f" [{d in rank_table and rank_table[d][t]:g}]" if d in rank_table else ""))
        score_rows.append([d, f"{metric} ({'↑' if higher else '↓'})", *cells])

    out += ["### Mean rank", ""]
    if rank_table:
        rows = []
        for t in tools:
            rs = [rank_table[d][t] for d in rank_table]
            failed = sum(1 for d in rank_table if res.stat(budget, d, t, "score") is None)
            rows.append([TOOL_LABELS[t], f"{statistics.mean(rs):.2f}", str(len(rs)), str(failed)])
        rows.sort(key=lambda r: float(r[1]))
        out.append(table(["tool", "mean rank", "data sets ranked", "data sets with no successful run"], rows))
        skipped = [d for d in res.datasets if d not in rank_table]
        out.append("")
        out.append(f"Ranked over {len(rank_table)} data sets" + (f"; not ranked (some tool not run): "
                                                                 f"{', '.join(skipped)}" if skipped else "") + ".")
    else:
        out.append("No data set has a record for every tool at this budget: no ranks.")
    out += ["", "### Scores (median over seeds; [rank]; best in bold)", "",
            table(["data set", "metric", *names], score_rows)]

    for field, title, digits in (("fit_s", "Fit time (s, median over seeds)", 1),
                                 ("predict_ms_per_1000", "Predict time per 1000 rows (ms, median)", 1),
                                 ("peak_rss_mb", "Peak memory (MB RSS of the run's process tree, median)", 0)):
        rows = [[d, *[fmt(res.stat(budget, d, t, field), digits) for t in tools]] for d in res.datasets]
        out += ["", f"### {title}", "", table(["data set", *names], rows)]

    out += ["", "### aiforge vs FLAML", ""]
    if "aiforge" in tools and "flaml" in tools:
        wins = ties = losses = 0
        for d in res.datasets:
            higher = datasets.HIGHER_IS_BETTER[res.meta[d][1]]
            a = {int(r["seed"]): r["score"] for r in res.ok(budget, d, "aiforge")}
            f = {int(r["seed"]): r["score"] for r in res.ok(budget, d, "flaml")}
            for s in a.keys() & f.keys():
                diff = (a[s] - f[s]) * (1 if higher else -1)
                if abs(diff) <= 1e-12:
                    ties += 1
                elif diff > 0:
                    wins += 1
                else:
                    losses += 1
        pairs = wins + ties + losses
        if pairs:
            out.append(f"- score: aiforge wins {wins}, ties {ties}, loses {losses} of {pairs} (data set, seed) "
                       f"pairs: **win rate {(wins + ties / 2) / pairs:.0%}**")
        ratios = []
        for d in res.datasets:
            a, f = res.stat(budget, d, "aiforge", "predict_ms_per_1000"), res.stat(budget, d, "flaml",
                                                                                    "predict_ms_per_1000")
            if a and f:
                ratios.append((d, a / f))
        if ratios:
            geo = math.exp(statistics.mean(math.log(r) for _, r in ratios))
            out.append(f"- predict latency per 1000 rows, aiforge / FLAML: geometric mean **{geo:.2f}×** over "
                       f"{len(ratios)} data sets (" + ", ".join(f"{d} {r:.2f}×" for d, r in ratios) + ")")
        fits = []
        for d in res.datasets:
            a, f = res.stat(budget, d, "aiforge", "fit_s"), res.stat(budget, d, "flaml", "fit_s")
            if a and f:
                fits.append(a / f)
        if fits:
            geo = math.exp(statistics.mean(map(math.log, fits)))
            out.append(f"- fit time, aiforge / FLAML: geometric mean {geo:.2f}×")
    else:
        out.append("aiforge or FLAML did not run at this budget.")
    return out


def notes_section(res: Results) -> list[str]:
    out = ["## Failures and notes", ""]
    bad = [r for r in res.records if r["status"] != "ok"]
    if bad:
        rows = []
        for r in bad:
            err = " ".join(str(r.get("error", "")).split())[-300:].replace("|", "\\|")
            rows.append([TOOL_LABELS[r["tool"]], r["dataset"], f"{r['budget']:g}", str(r["seed"]), r["status"], err])
        out += ["Failed or timed-out runs (the end of their error output):", "",
                table(["tool", "data set", "budget", "seed", "status", "error"], rows), ""]
    else:
        out += ["No run failed or timed out.", ""]
    over = [r for r in res.records if r["status"] == "ok" and r["tool"] != "lightgbm"
            and float(r["fit_s"]) > 1.25 * float(r["budget"])]
    if over:
        out.append(f"Fit time above 1.25 × budget in {len(over)} runs: " + ", ".join(
            f"{TOOL_LABELS[r['tool']]} {r['dataset']} {r['budget']:g}s/{r['seed']} ({float(r['fit_s']):.0f} s)"
            for r in over) + ".")
        out.append("")
    out.append("What each tool chose (best model or learner, over all its successful runs) and how many "
               "configurations it tried within the budget:")
    out.append("")
    rows = []
    for t in res.tools:
        mine = [r for r in res.records if r["tool"] == t and r["status"] == "ok"]
        best = Counter(str(r.get("best", "?")) for r in mine)
        for b in sorted({float(r["budget"]) for r in mine}):
            trials = [int(r["trials"]) for r in mine if float(r["budget"]) == b and r.get("trials") is not None]
            best_b = Counter(str(r.get("best", "?")) for r in mine if float(r["budget"]) == b)
            rows.append([TOOL_LABELS[t], f"{b:g} s", ", ".join(f"{k} ×{c}" for k, c in best_b.most_common()),
                         f"{min(trials)}–{max(trials)} (median {statistics.median(trials):g})" if trials else "—"])
        del best
    out.append(table(["tool", "budget", "chosen", "configurations tried"], rows))
    aiforge_runs = [r for r in res.records if r["tool"] == "aiforge" and r["status"] == "ok"]
    if aiforge_runs:
        out += ["", "aiforge's search, run by run (from `aiforge trials RUN --json`; learner and trial status "
                "counts, where recorded):", ""]
        rows = []
        for r in sorted(aiforge_runs, key=lambda r: (float(r["budget"]), res.datasets.index(r["dataset"]),
                                                      int(r["seed"]))):
            tried = r.get("tried")
            rows.append([r["dataset"], f"{r['budget']:g} s", str(r["seed"]), str(r.get("best", "?")),
                         str(r.get("trials", "?")), fmt(float(r["fit_s"]), 1),
                         ", ".join(f"{k} ×{v}" for k, v in sorted(tried.items())) if tried else "—"])
        out.append(table(["data set", "budget", "seed", "chosen", "trials", "fit s", "trials by learner and status"],
                         rows))
    notes = Counter(n for r in res.records for n in r.get("notes", []))
    if notes:
        out += ["", "Notes recorded by the runs: " + "; ".join(f"{n} (×{c})" for n, c in sorted(notes.items())) + "."]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=HERE / "results" / "results.jsonl")
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()
    records = load(args.results)
    if not records:
        raise SystemExit(f"no records in {args.results}")
    res = Results(records)
    lines = ["# AutoML benchmark: aiforge, FLAML, AutoGluon, LightGBM, Optuna+LightGBM", "",
             f"Generated by `benchmarks/automl/report.py` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC from "
             f"the run records; every figure below comes from them. How to run it: "
             "[README.md](README.md).", ""]
    lines += status_section(res, args.results.resolve()) + [""]
    for b in res.budgets:
        lines += budget_section(res, b) + [""]
    lines += datasets_section(res, HERE / "results" / "splits") + [""]
    lines += method_section() + [""]
    lines += machine_section(res) + [""]
    lines += versions_section(res) + [""]
    lines += notes_section(res) + [""]
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
