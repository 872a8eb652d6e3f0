"""`aiforge schema`: the project file's JSON Schema, for editors and other tools."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from aiforge.cli._common import handles_errors

__all__ = ["schema"]


@click.command(epilog="""\b
Examples:
  aiforge schema --output aiforge.schema.json   # beside aiforge.yaml, whose first line then reads:
  # yaml-language-server: $schema=aiforge.schema.json
  aiforge schema | jq '.["$defs"].Kpi'          # one section's rules
""")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the schema to this file (replaced whole, never half-written) instead of stdout.")
@handles_errors
def schema(output: Path | None) -> None:
    """Print the JSON Schema (draft-07) of the project file.

    Editors complete and check aiforge.yaml while it is typed when its first line names the schema:
    VS Code (the YAML extension) and JetBrains IDEs read '# yaml-language-server: $schema=PATH', PATH relative
    to the YAML file. 'aiforge init' writes both. The schema checks keys, types and closed sets of values;
    'aiforge validate' checks the rest (rules between fields, learner and metric names, the data).
    """
    from aiforge.spec import project_json_schema, write_json_schema

    if output is None:
        sys.stdout.write(json.dumps(project_json_schema(), indent=2, ensure_ascii=False) + "\n")
        return
    write_json_schema(output)
    click.echo(f"wrote {output}", err=True)
