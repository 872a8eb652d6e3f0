"""The generated CLI reference: every visible command has its section, with its usage and every visible
option; hidden ones stay out."""

from __future__ import annotations

import re

import click

from aiforge.cli import cli
from aiforge.cli._reference import _walk, cli_reference


def _sections(text: str) -> dict[str, str]:
    parts = re.split(r"^## (.+)$", text, flags=re.M)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


def test_every_command_and_option_is_in_the_reference() -> None:
    sections = _sections(cli_reference(cli))
    contexts = list(_walk(cli, click.Context(cli, info_name="aiforge")))
    assert {"aiforge run", "aiforge schema", "aiforge completion", "aiforge keys create",
            "aiforge monitor watch"} <= {c.command_path for c in contexts}
    assert set(sections) == {"Commands"} | {c.command_path for c in contexts}
    for ctx in contexts:
        text = sections[ctx.command_path]
        usage = " ".join([ctx.command_path, *ctx.command.collect_usage_pieces(ctx)])
        assert f"```text\n{usage}\n```" in text
        for param in ctx.command.params:
            if isinstance(param, click.Option):
                shown = f"| `{param.opts[0]}`" in text
                assert shown != param.hidden, f"{ctx.command_path} {param.opts[0]}"


def test_options_show_type_default_and_help() -> None:
    serve = _sections(cli_reference(cli))["aiforge serve"]
    assert "| `--port` | integer ≥ 0, ≤ 65535 | `8000` | TCP port. |" in serve
    assert "| `--auth` | `required` \\| `off` | — |" in serve
    assert "| `--log-predictions`, `--no-log-predictions` | flag | `--log-predictions` |" in serve
    assert "--shared-socket" not in serve  # hidden
    promote = _sections(cli_reference(cli))["aiforge promote"]
    assert "| `--to` | `candidate` \\| `staging` \\| `production` \\| `archived` | *required* |" in promote
    assert "| `NAME` | text | *required* |" in promote


def test_help_paragraphs_marked_no_rewrap_become_code_blocks() -> None:
    top = _sections(cli_reference(cli))["aiforge"]
    assert "```text\nA session, from scratch:\n  aiforge init churn && cd churn" in top
