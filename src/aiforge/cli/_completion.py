"""`aiforge completion`: shell completion for bash, zsh and fish (click's), and completers for names in the
workspace (registered models, run ids)."""

from __future__ import annotations

from typing import Any

import click
from click.shell_completion import CompletionItem, get_completion_class

__all__ = ["COMPLETE_VARIABLE", "complete_model_names", "complete_run_ids", "completion"]

PROG = "aiforge"
COMPLETE_VARIABLE = "_AIFORGE_COMPLETE"  # click's protocol: the script calls aiforge with it set
SHELLS = ("bash", "zsh", "fish")


@click.command(epilog="""\b
Install (once; then open a new shell):
  bash  echo 'eval "$(aiforge completion bash)"' >> ~/.bashrc
        (bash 4.4 or later; or write the script to ~/.local/share/bash-completion/completions/aiforge)
  zsh   echo 'eval "$(aiforge completion zsh)"' >> ~/.zshrc
        (after 'autoload -Uz compinit && compinit'; or write it to a folder of $fpath as _aiforge)
  fish  aiforge completion fish > ~/.config/fish/completions/aiforge.fish

Then TAB completes commands, options, choices and files, and from the workspace (--workspace, or
AIFORGE_WORKSPACE) the names of registered models and run ids: aiforge show, then TAB.
""")
@click.argument("shell", type=click.Choice(SHELLS))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the completion script of SHELL (bash, zsh or fish) for aiforge."""
    completer = get_completion_class(shell)
    if completer is None:  # click ships all three; a missing one is a broken installation
        raise click.ClickException(f"this version of click has no completion for {shell}")
    click.echo(completer(ctx.find_root().command, {}, PROG, COMPLETE_VARIABLE).source())


def _open_workspace(ctx: click.Context) -> Any:
    """The workspace the command line names (--workspace, $AIFORGE_WORKSPACE, ./.aiforge), opened read-only in
    spirit: never created for a completion."""
    from aiforge.workspace import Workspace, WorkspaceSettings

    params = ctx.find_root().params
    return Workspace.open(WorkspaceSettings.resolve(params.get("workspace"), artifacts_url=params.get("artifacts_url")),
                          create=False)


def complete_model_names(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """The registered models whose names start with ``incomplete``; none where no workspace opens."""
    from aiforge.registry import ModelRegistry

    try:
        workspace = _open_workspace(ctx)
        try:
            versions = ModelRegistry(workspace).versions()
        finally:
            workspace.close()
    except Exception:  # no workspace, a locked or foreign database: offer nothing rather than a traceback
        return []
    counts: dict[str, int] = {}
    for v in versions:
        counts[v.name] = counts.get(v.name, 0) + 1
    return [CompletionItem(name, help=f"{n} version{'s' if n > 1 else ''}")
            for name, n in sorted(counts.items()) if name.startswith(incomplete)]


def complete_run_ids(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """The newest 50 run ids that start with ``incomplete`` (with project and status as help)."""
    from aiforge.pipeline import list_runs

    try:
        workspace = _open_workspace(ctx)
        try:
            runs = list_runs(workspace, limit=50)
        finally:
            workspace.close()
    except Exception:  # as above: a completion never prints a traceback into the command line
        return []
    return [CompletionItem(r.id, help=f"{r.project} {r.status}") for r in runs if r.id.startswith(incomplete)]
