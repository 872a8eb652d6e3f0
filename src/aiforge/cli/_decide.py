"""`aiforge decide`: a file of records decided by a registered version's decision policy."""

from __future__ import annotations

from pathlib import Path

import click

from aiforge.cli._common import handles_errors, json_option, settings
from aiforge.cli._completion import complete_model_names

__all__ = ["decide"]


@click.command()
@click.option("--model", "name", required=True, shell_complete=complete_model_names,
              help="The registered model whose decision policy decides (its project's decision: section).")
@click.option("--version", type=int, default=None,
              help="The version (default: the one that answers requests: production, else staging, else the "
              "newest accepted candidate). A rejected version never decides.")
@click.option("--input", "input_file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The records: a .csv or .parquet file with the model's input columns (and any other fact the "
              "rules read).")
@click.option("--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the decisions (.csv or .parquet, by suffix): --keep columns, action, "
              "expected_utility, why, model_only_action, rules_fired, forbidden, required_by, probability_<state>.")
@click.option("--keep", multiple=True, help="A column of the input to copy to the output (an id); repeatable.")
@click.option("--truth", default=None, help="A column holding each record's actual outcome state: the summary "
              "then adds the realised mean utility of the policy and of the model alone.")
@json_option
@click.pass_context
@handles_errors
def decide(ctx: click.Context, name: str, version: int | None, input_file: Path, output: Path, keep: tuple[str, ...],
           truth: str | None, as_json: bool) -> None:
    """Decide a file of records: model probabilities, rules, network posteriors and the utility matrix give each
    record an action with its expected utility; the summary compares the policy with the model alone.

    \b
      aiforge decide --model loan --input applicants.csv --output decisions.csv --keep id
      aiforge decide --model loan --input history.csv --output back.parquet --truth default --json
    """
    from aiforge.cli._console import err, out, print_json, table
    from aiforge.reason import Decider, decide_file
    from aiforge.registry import ModelRegistry
    from aiforge.serve._batch import scoring_version
    from aiforge.workspace import Workspace

    registry = ModelRegistry(Workspace.open(settings(ctx), create=False))
    chosen = scoring_version(registry, name, version)
    result = decide_file(Decider.load(registry, chosen), input_file, output, keep=list(keep), truth=truth)
    if as_json:
        print_json(result.to_json())
        return
    s = result.summary
    only = s.get("model_only")
    rows = [[a, str(s["actions"][a]), f"{s['shares'][a]:.1%}",
             f"{only['shares'][a]:.1%}" if only else ""] for a in s["actions"]]
    out.print(table(f"decisions of {chosen.name} v{chosen.version}: {result.rows:,} records",
                    ["action", "records", "share", "model alone"], rows))
    line = f"mean expected utility {s['mean_expected_utility']:.4g}"
    if only:
        line += f" (model alone {only['mean_expected_utility']:.4g}; same action for {only['agreement']:.0%})"
    if "realised_mean_utility" in s:
        line += f"; realised {s['realised_mean_utility']:.4g}"
        if only and "realised_mean_utility" in only:
            line += f" (model alone {only['realised_mean_utility']:.4g})"
    click.echo(line)
    fired = ", ".join(f"{r} {v:.0%}" for r, v in s["rule_firing_rates"].items())
    click.echo(f"rules fired: {fired or 'none'}")
    err.print(f"{result.rows:,} records decided in {result.seconds:.1f} s -> {output}", highlight=False)
