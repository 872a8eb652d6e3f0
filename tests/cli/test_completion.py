"""Shell completion through click's real protocol: the `aiforge` executable called with _AIFORGE_COMPLETE,
COMP_WORDS and COMP_CWORD set, as the scripts `aiforge completion SHELL` prints do (and, for bash, through
that script itself in a real bash)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import EXE, registered_income


def _complete(words: str, *, shell: str = "bash", env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    """What aiforge answers for the command line ``words`` (the cursor at its end)."""
    parts = words.split(" ")
    variables = {**(env or os.environ), "_AIFORGE_COMPLETE": f"{shell}_complete", "COMP_WORDS": words,
                 # bash and zsh pass the index of the word under the cursor; fish passes that word itself
                 "COMP_CWORD": parts[-1] if shell == "fish" else str(len(parts) - 1)}
    proc = subprocess.run([str(EXE)], capture_output=True, text=True, env=variables, cwd=cwd, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "", proc.stderr
    return proc.stdout


def _values(bash_answer: str) -> list[str]:
    """bash_complete answers one 'type,value' line per completion."""
    return [line.split(",", 1)[1] for line in bash_answer.splitlines() if line.startswith("plain,")]


@pytest.mark.parametrize(("shell", "marker"), [
    ("bash", "complete -o nosort -F _aiforge_completion aiforge"),
    ("zsh", "#compdef aiforge"),
    ("fish", "complete --no-files --command aiforge"),
])
def test_completion_prints_the_script_of_each_shell(shell: str, marker: str) -> None:
    proc = subprocess.run([str(EXE), "completion", shell], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert marker in proc.stdout and "_AIFORGE_COMPLETE" in proc.stdout


def test_an_unknown_shell_is_refused_with_the_choices() -> None:
    proc = subprocess.run([str(EXE), "completion", "tcsh"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "'tcsh' is not one of 'bash', 'zsh', 'fish'" in proc.stderr


def test_help_says_how_to_install_it() -> None:
    proc = subprocess.run([str(EXE), "completion", "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    for line in ('eval "$(aiforge completion bash)"', 'eval "$(aiforge completion zsh)"',
                 "aiforge completion fish > ~/.config/fish/completions/aiforge.fish"):
        assert line in proc.stdout, proc.stdout


def test_commands_options_and_choices_complete() -> None:
    commands = _values(_complete("aiforge "))
    assert {"init", "validate", "run", "runs", "show", "models", "serve", "schema", "completion", "keys",
            "deploy", "monitor", "data"} <= set(commands)
    assert _values(_complete("aiforge sche")) == ["schedule", "schema"]
    assert {"--force", "--json", "--help"} <= set(_values(_complete("aiforge run --")))
    assert _values(_complete("aiforge keys c")) == ["create"]
    assert _values(_complete("aiforge promote income 1 --to ")) == ["candidate", "staging", "production",
                                                                     "archived"]
    assert _values(_complete("aiforge completion ")) == ["bash", "zsh", "fish"]
    assert _complete("aiforge validate ").splitlines() == ["file,"]  # the shell completes file names


def test_zsh_and_fish_get_each_completion_with_its_help() -> None:
    zsh = _complete("aiforge run --f", shell="zsh").splitlines()
    assert zsh == ["plain", "--force", "Redo every stage instead of reusing cached results."]
    fish = _complete("aiforge run --f", shell="fish").splitlines()
    assert fish == ["plain,--force\tRedo every stage instead of reusing cached results."]


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_the_bash_script_completes_in_a_real_bash() -> None:
    script = subprocess.run([str(EXE), "completion", "bash"], capture_output=True, text=True, timeout=60).stdout
    probe = (f"{script}\nCOMP_WORDS=(aiforge mo); COMP_CWORD=1; _aiforge_completion aiforge; "
             'printf "%s\\n" "${COMPREPLY[@]}"')
    env = {**os.environ, "PATH": f"{EXE.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(["bash", "--norc", "-c", probe], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["models", "monitor"]


@pytest.fixture(scope="module")
def workspace_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A workspace holding one run that registered `income` v1."""
    return registered_income(tmp_path_factory.mktemp("completion"), rows=300, learners="[linear]")


def test_model_names_and_run_ids_complete_from_the_workspace(workspace_env: dict[str, str], tmp_path: Path) -> None:
    assert _values(_complete("aiforge models ", env=workspace_env)) == ["income"]
    assert _values(_complete("aiforge predict --model i", env=workspace_env)) == ["income"]
    assert _values(_complete("aiforge deploy ", env=workspace_env)) == ["income"]
    assert _values(_complete("aiforge monitor report ", env=workspace_env)) == ["income"]
    assert _values(_complete("aiforge models x", env=workspace_env)) == []
    assert _complete("aiforge card ", shell="zsh", env=workspace_env).splitlines() == ["plain", "income",
                                                                                     "1 version"]
    [run_id] = _values(_complete("aiforge show ", env=workspace_env))
    assert _values(_complete(f"aiforge trials {run_id[:6]}", env=workspace_env)) == [run_id]
    assert _complete("aiforge report ", shell="zsh", env=workspace_env).splitlines() == [
        "plain", run_id, "income succeeded"]
    # --workspace on the command line wins over the environment, as for the command itself
    elsewhere = {**workspace_env, "AIFORGE_WORKSPACE": str(tmp_path / "empty")}
    assert _values(_complete("aiforge models ", env=elsewhere)) == []
    named = _complete(f"aiforge --workspace {workspace_env['AIFORGE_WORKSPACE']} models ", env=elsewhere)
    assert _values(named) == ["income"]
    assert not (tmp_path / "empty").exists()  # completing never creates a workspace


def test_without_a_workspace_names_complete_to_nothing_and_nothing_is_created(tmp_path: Path) -> None:
    env = {**os.environ, "AIFORGE_WORKSPACE": str(tmp_path / "ws")}
    assert _complete("aiforge show ", env=env, cwd=tmp_path).strip() == ""
    assert _complete("aiforge models ", env=env, cwd=tmp_path).strip() == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == []
