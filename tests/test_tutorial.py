"""The tutorial (docs/tutorial/, in mkdocs.yml's nav order) is run as written, so it cannot rot.

The commands and files are taken from the Markdown itself; the conventions (docs/tutorial/index.md says them to
the reader too):

- A ```console block holds commands and their output. A line starting with ``$ `` is a command (a line ending in
  ``\\`` continues on the next); the lines after it, up to the next command, are what it prints. Every command
  runs, in page order, in one bash session (so ``export`` and ``VAR=$(...)`` carry on to later commands), from a
  temporary folder that stands for the root of a clone (``examples/`` is there), with ``pipefail``; each must
  exit 0. A command that is expected to fail shows its exit code itself: ``aiforge run ...; echo "exit $?"``.
- A command ending in `` &`` runs in the background (the server): the test waits until the output shown under
  it has appeared, and stops it (SIGTERM) when the tutorial ends. The port 8000 of the pages (``--port 8000``,
  ``localhost:8000``) is replaced by a free one.
- Output shown is checked line by line, not byte for byte: numbers (and words holding digits: ids, hashes),
  box-drawing characters and white space (line breaks too) are normalised away on both sides, so each shown
  line must still appear in what the command printed; ``…`` in a line stands for anything, and a line that is
  only ``…`` or ``...`` marks output left out.
- A block after a line ending in a path in backticks and a colon (``Write `tutorial/traffic.py`:``) is a file
  the reader writes: the test writes it there. A ```diff block in that place is an edit of that file: its
  context lines (starting with a space) and ``-`` lines must be found in the file once, and become the context
  and ``+`` lines.

Set AIFORGE_TUTORIAL_TRANSCRIPT=FILE to write every command with its whole output to FILE (for editing pages).
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from conftest import REPO, free_port

FENCE = re.compile(r"^```(\S*)\s*$")
FILE_LINE = re.compile(r"`([^`\s]+)`:\s*$")
BOX = re.compile(r"[\u2500-\u257f]")
# a number, or an id or hash holding digits, with its later parts ('0.9074', '4,000', '1.3e-68', '12:03:44',
# '20261127-135259-aaba', a UUID): each becomes '#'
FIGURE = re.compile(r"[0-9a-f]*\d[0-9a-f]*(?:[.,:-][0-9a-f]+)*")
ELIDED = {"…", "..."}


@dataclass
class Command:
    where: str  # page:line, for messages
    text: str
    shown: list[str] = field(default_factory=list)

    @property
    def background(self) -> bool:
        return self.text.rstrip().endswith("&")


@dataclass
class WriteFile:
    where: str
    path: str
    content: str


@dataclass
class EditFile:
    where: str
    path: str
    old: str
    new: str


Step = Command | WriteFile | EditFile


def tutorial_pages() -> list[Path]:
    """The tutorial's pages in the order of mkdocs.yml's nav."""
    nav = yaml.safe_load((REPO / "mkdocs.yml").read_text(encoding="utf-8"))["nav"]

    def pages(item: object) -> Iterator[str]:
        if isinstance(item, str):
            yield item
        elif isinstance(item, list):
            for sub in item:
                yield from pages(sub)
        elif isinstance(item, dict):
            for sub in item.values():
                yield from pages(sub)

    return [REPO / "docs" / p for p in pages(nav) if p.startswith("tutorial/")]


def parse_page(text: str, name: str) -> list[Step]:
    """The steps of one page, in order (see the module's docstring for the conventions)."""
    lines = text.splitlines()
    steps: list[Step] = []
    i = 0
    previous = ""  # the last non-blank line outside a block
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if not fence:
            if lines[i].strip():
                previous = lines[i]
            i += 1
            continue
        start, lang = i + 1, fence.group(1)
        end = start
        while end < len(lines) and lines[end].rstrip() != "```":
            end += 1
        assert end < len(lines), f"{name}:{i + 1}: a code block that is never closed"
        body = lines[start:end]
        target = FILE_LINE.search(previous)
        if lang == "console":
            steps.extend(_commands(body, name, start))
        elif lang == "diff":
            assert target, f"{name}:{start}: a diff block follows a line that ends with the file it edits: `PATH`:"
            steps.append(_edit(body, f"{name}:{start}", target.group(1)))
        elif target:
            steps.append(WriteFile(f"{name}:{start}", target.group(1), "\n".join(body) + "\n"))
        previous = ""
        i = end + 1
    return steps


def _commands(body: list[str], name: str, start: int) -> list[Command]:
    commands: list[Command] = []
    continued = False
    for n, line in enumerate(body):
        if continued:
            commands[-1].text += "\n" + line
            continued = line.endswith("\\")
        elif line.startswith("$ "):
            commands.append(Command(f"{name}:{start + n + 1}", line[2:]))
            continued = line.endswith("\\")
        else:
            assert commands, f"{name}:{start + n + 1}: output before the first command of a console block"
            commands[-1].shown.append(line)
    return commands


def _edit(body: list[str], where: str, path: str) -> EditFile:
    old, new = [], []
    for line in body:
        mark, rest = line[:1], line[1:]
        assert mark in {" ", "-", "+"} or not line, f"{where}: a diff line starts with ' ', '-' or '+': {line!r}"
        if mark != "+":
            old.append(rest)
        if mark != "-":
            new.append(rest)
    return EditFile(where, path, "\n".join(old) + "\n", "\n".join(new) + "\n")


def normalise(text: str) -> str:
    text = BOX.sub(" ", text)
    text = FIGURE.sub("#", text)
    return " ".join(text.split())


def missing_lines(shown: list[str], output: str) -> list[str]:
    """The lines of ``shown`` that ``output`` does not hold (after normalising both; ``…`` matches anything)."""
    actual = normalise(output)
    missing = []
    for line in shown:
        if not line.strip() or line.strip() in ELIDED:
            continue
        parts = [re.escape(normalise(part)) for part in line.split("…")]
        if not re.search(r".*?".join(parts), actual):
            missing.append(line)
    return missing


class Shell:
    """One bash session: commands run in it one after another, each with its output in its own file."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.cwd = cwd
        self.logs = cwd.parent / "logs"
        self.logs.mkdir()
        self.process = subprocess.Popen(["bash", "--noprofile", "--norc"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=cwd,
                                        env=env)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.background: list[int] = []
        self.count = 0
        self._send("set -o pipefail")

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def _send(self, script: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(script + "\n")
        self.process.stdin.flush()

    def _marker(self, tag: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no answer from the shell in {timeout:.0f} s") from None
            if line.startswith(tag):
                return line[len(tag):].strip()

    def run(self, text: str, timeout: float = 300) -> tuple[int, Path]:
        """Run ``text`` and return its exit code and the file holding its output (stdout and stderr)."""
        self.count += 1
        out = self.logs / f"{self.count:03d}.log"
        if text.rstrip().endswith("&"):
            self._send(f"{text.rstrip()[:-1]} > {out} 2>&1 < /dev/null &\necho __bg__ $!")
            self.background.append(int(self._marker("__bg__", 30)))
            return 0, out
        self._send(f"{{ {text}\n}} > {out} 2>&1 < /dev/null; echo __rc__ $?")
        return int(self._marker("__rc__", timeout)), out

    def close(self) -> None:
        for pid in self.background:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        deadline = time.monotonic() + 15
        for pid in self.background:
            while time.monotonic() < deadline and _alive(pid):
                time.sleep(0.1)
            if _alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


def _alive(pid: int) -> bool:
    """Whether ``pid`` (a child of the shell, which reaps it) still runs."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _output(path: Path) -> str:
    """What a command printed so far (a background command's file may not exist yet)."""
    return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


def _transcript(path: str | None, command: Command, output: str, seconds: float) -> None:
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(f"### {command.where} ({seconds:.1f} s)\n$ {command.text}\n{output}\n")


# -- the parser, on small pages --------------------------------------------------------------------------------------

SAMPLE = """# A page

```console
$ aiforge validate tutorial/aiforge.yaml
tutorial/aiforge.yaml: valid
…
$ aiforge serve --port 8000 \\
    --workers 1 &
Uvicorn running on http://127.0.0.1:8000
```

Write `tutorial/x.yaml`:

```yaml
a: 1
b: 2
```

Then change `tutorial/x.yaml`:

```diff
 a: 1
-b: 2
+b: 3
```

```yaml
not: written (no file named before it)
```
"""


def test_the_parser_finds_commands_their_output_files_and_edits() -> None:
    steps = parse_page(SAMPLE, "sample.md")
    assert [type(s).__name__ for s in steps] == ["Command", "Command", "WriteFile", "EditFile"]
    first, serve, write, edit = steps
    assert isinstance(first, Command) and first.text == "aiforge validate tutorial/aiforge.yaml"
    assert first.shown == ["tutorial/aiforge.yaml: valid", "…"] and not first.background
    assert isinstance(serve, Command) and serve.background and serve.text.endswith("--workers 1 &")
    assert serve.where == "sample.md:7"
    assert isinstance(write, WriteFile) and (write.path, write.content) == ("tutorial/x.yaml", "a: 1\nb: 2\n")
    assert isinstance(edit, EditFile) and (edit.old, edit.new) == ("a: 1\nb: 2\n", "a: 1\nb: 3\n")


def test_shown_output_is_matched_by_its_words_not_its_figures() -> None:
    output = ("✓ train      12.63s  best lightgbm (roc_auc 0.9074 in CV,\n 4 trials)\n"
              "│ roc_auc │ 0.9151 │ >= 0.88 │ pass │\nrun:    20261127-135259-aaba\n")
    assert missing_lines(["✓ train 9.1s  best lightgbm (roc_auc 0.9120 in CV, 4 trials)",
                          "│ roc_auc │ 0.9 │ >= 0.88 │ pass │", "run: 20260101-000000-b9c1", "…",
                          "✓ train … (roc_auc … trials)"], output) == []
    assert missing_lines(["best linear", "│ roc_auc │ 0.9 │ FAIL │"], output) == ["best linear",
                                                                            "│ roc_auc │ 0.9 │ FAIL │"]


# -- the tutorial ----------------------------------------------------------------------------------------------------


def test_the_tutorial_runs_as_written(tmp_path: Path) -> None:
    pages = tutorial_pages()
    assert len(pages) >= 8, "mkdocs.yml's nav lists the tutorial's pages"
    steps = [step for page in pages for step in parse_page(page.read_text(encoding="utf-8"),
                                                           page.relative_to(REPO / "docs").as_posix())]
    commands = [s for s in steps if isinstance(s, Command)]
    assert len(commands) >= 30, "the tutorial's commands were not found: see the conventions above"
    root = tmp_path / "clone"
    root.mkdir()
    (root / "examples").symlink_to(REPO / "examples", target_is_directory=True)
    if not (Path(sys.prefix) / "bin" / "activate").is_file():
        pytest.skip("the tutorial activates the virtual environment aiforge is installed in (make install)")
    (root / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)  # 'source .venv/bin/activate'
    port = str(free_port())
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIFORGE_")}
    env |= {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}", "COLUMNS": "120",
            "OMP_WAIT_POLICY": "PASSIVE", "PYTHONUNBUFFERED": "1"}
    transcript = os.environ.get("AIFORGE_TUTORIAL_TRANSCRIPT")
    if transcript:
        Path(transcript).unlink(missing_ok=True)
    shell = Shell(root, env)
    try:
        for step in steps:
            if isinstance(step, WriteFile):
                target = root / step.path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(step.content, encoding="utf-8")
                continue
            if isinstance(step, EditFile):
                target = root / step.path
                text = target.read_text(encoding="utf-8")
                assert text.count(step.old) == 1, (
                    f"{step.where}: the diff's old lines are not in {step.path} exactly once:\n{step.old}")
                target.write_text(text.replace(step.old, step.new), encoding="utf-8")
                continue
            text = step.text.replace("--port 8000", f"--port {port}").replace("localhost:8000", f"localhost:{port}")
            started = time.monotonic()
            code, out = shell.run(text)
            if step.background:
                deadline = time.monotonic() + 90
                while missing_lines(step.shown, _output(out)):
                    assert time.monotonic() < deadline, (
                        f"{step.where}: '{step.text}' did not print what the page shows in 90 s:\n{_output(out)}")
                    time.sleep(0.1)
            output = _output(out)
            _transcript(transcript, step, output, time.monotonic() - started)
            assert code == 0, f"{step.where}: '{step.text}' exited {code}:\n{output}"
            missing = missing_lines(step.shown, output)
            assert not missing, (f"{step.where}: '{step.text}' no longer prints these lines the page shows:\n"
                                 + "\n".join(missing) + f"\n--- it printed:\n{output}")
    finally:
        shell.close()
