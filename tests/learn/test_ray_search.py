"""The ray executor on a real local Ray cluster (a head and a worker node, each a `ray start` process with
one CPU): a search whose trials and folds run as Ray tasks gives the local executor's trials for a fixed
seed, and `aiforge run` / `aiforge predict` (Ray Data) under AIFORGE_EXECUTOR=ray give the local results.

One module (and one cluster, started once: about 10 s) holds the search and the batch-scoring tests.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from conftest import EXE, FAST_CHECKS, free_port, serve_env, write_income_project

from aiforge.errors import MissingDependency
from aiforge.evaluate import METRICS
from aiforge.learn import choose_features, resolve_task, select_and_fit
from aiforge.spec import Budget, EnsembleSpec, ModelSpec, ProblemSpec, SearchSpec, TaskKind, parse_project_text
from aiforge.workspace import Executor, ExecutorError, WorkspaceSettings

YAML = Path("aiforge.yaml")

if os.environ.get("CI") != "true":
    pytest.importorskip("ray")


def _node(args: list[str], folder: Path, name: str) -> subprocess.Popen[bytes]:
    """A `ray start --block` node in its own process group (stopped by that group's id at teardown)."""
    ray = Path(sys.executable).with_name("ray")
    ports = ["--node-manager-port", "--object-manager-port", "--metrics-export-port", "--runtime-env-agent-port",
             "--dashboard-agent-grpc-port", "--dashboard-agent-listen-port"]
    argv = [str(ray), "start", "--block", "--num-cpus=1", "--node-ip-address=127.0.0.1", "--disable-usage-stats",
            "--object-store-memory=100000000", *args]
    for flag in ports:
        argv += [flag, str(free_port())]
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "OMP_NUM_THREADS": "1"}
    with (folder / f"{name}.log").open("wb") as log:
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def _stop(nodes: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM to each node's process group, then SIGKILL to what is left of it after a few seconds."""
    for node in nodes:
        if node.poll() is None:
            os.killpg(node.pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    for node in nodes:
        try:
            node.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(node.pid, signal.SIGKILL)  # what the node started and left behind, in its process group
        except ProcessLookupError:
            pass
        node.wait(timeout=10)


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[str]:
    """A head and a worker node on free ports of 127.0.0.1, their files in a short temporary folder (Ray's
    socket paths must stay under 108 characters); yields the head's address, host:port."""
    import ray

    folder = Path(tempfile.mkdtemp(prefix="aiforge-ray-"))
    port = free_port()
    address = f"127.0.0.1:{port}"
    head = _node(["--head", f"--port={port}", f"--temp-dir={folder / 't'}", "--include-dashboard=false",
                  "--min-worker-port=0", "--max-worker-port=0"],
                 folder, "head")
    nodes = [head]
    try:
        deadline = time.monotonic() + 90
        while not (folder / "t").exists() or head.poll() is not None:
            assert head.poll() is None and time.monotonic() < deadline, (folder / "head.log").read_text()
            time.sleep(0.5)
        nodes.append(_node([f"--address={address}", "--min-worker-port=0", "--max-worker-port=0"], folder,
                           "worker"))
        while True:
            assert all(n.poll() is None for n in nodes) and time.monotonic() < deadline, \
                (folder / "head.log").read_text() + (folder / "worker.log").read_text()
            try:
                if not ray.is_initialized():
                    ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
                if ray.cluster_resources().get("CPU", 0) >= 2 and len(ray.nodes()) >= 2:
                    break
            except ConnectionError:
                pass
            time.sleep(0.5)
        yield address
    finally:
        ray.shutdown()
        _stop(list(reversed(nodes)))
        shutil.rmtree(folder, ignore_errors=True)


def _frame(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    colour = rng.choice(["red", "green", "blue"], size=n)
    signal_ = 2 * x1 + np.sin(3 * x2) + (colour == "red") * 1.5 + rng.normal(scale=0.7, size=n)
    return pd.DataFrame({"x1": x1, "x2": x2, "colour": colour, "noise": rng.normal(size=n),
                         "y": np.where(signal_ > 0.5, "yes", "no")})


def _search(frame: pd.DataFrame, executor: Executor | None, strategy: str = "bayesian") -> list[tuple]:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    task = resolve_task(ProblemSpec(task=TaskKind.BINARY, target="y"), table, where="test")
    spec = ModelSpec(learners=["linear", "lightgbm"], seed=5, n_jobs=1, ensemble=EnsembleSpec(enabled=False),
                     search=SearchSpec(strategy=strategy, cv=3, pruner="median", budget=Budget(trials=7)))
    _, report = select_and_fit(frame.drop(columns="y"), frame["y"], task, choose_features(table, "y"), spec,
                               METRICS["roc_auc"].objective(), executor=executor)
    return [(t.number, t.learner, t.params, t.status, t.fold_scores, t.score) for t in report.trials]


def test_a_search_on_ray_gives_the_local_trials_for_a_fixed_seed(ray_cluster: str) -> None:
    frame = _frame()
    local = _search(frame, None)
    on_ray = _search(frame, Executor("ray", ray_cluster, trials_in_flight=1))
    assert on_ray == local
    assert len(local) == 7 and {t[1] for t in local} == {"linear", "lightgbm"}
    # several trials in flight: another sequence of asks, but one fixed by the seed, whatever finishes first
    wide = Executor("ray", ray_cluster, trials_in_flight=3)
    first = _search(frame, wide, "random")
    assert [t[0] for t in first] == list(range(7)) and _search(frame, wide, "random") == first


def test_aiforge_run_and_predict_on_ray_match_the_local_executor(ray_cluster: str, tmp_path: Path) -> None:
    """Only the environment changes: the project file is the same, and so are the model and the scores."""
    import pyarrow.parquet as pq

    project = write_income_project(tmp_path / "income", rows=600, learners="[linear]", checks=FAST_CHECKS,
                                   kpis="  - {metric: roc_auc, min: 0.5}")
    local_env = serve_env(tmp_path / "ws-local")
    ray_env = serve_env(tmp_path / "ws-ray") | {"AIFORGE_EXECUTOR": "ray", "AIFORGE_RAY_ADDRESS": ray_cluster}
    from ray._private.state import jobs  # the drivers that joined the cluster (a debugging API of Ray's)

    models = []
    for env in (local_env, ray_env):
        joined = len(jobs())
        proc = subprocess.run([str(EXE), "run", str(project), "--json"], capture_output=True, text=True, env=env,
                              cwd=tmp_path, timeout=300)
        assert proc.returncode == 0, proc.stderr
        models.append(json.loads(proc.stdout)["model"])
        assert len(jobs()) == joined + (env is ray_env)  # the ray run's driver joined the cluster, the local one not
    same = ("artifact", "learner", "status")
    assert [{k: m[k] for k in same} for m in models][0] == {k: models[1][k] for k in same}  # the same model bytes
    assert models[0]["metrics"]["roc_auc"] == models[1]["metrics"]["roc_auc"]
    rows = pd.read_csv(tmp_path / "income" / "data" / "adult.csv").drop(columns="income")
    rows.insert(0, "id", range(len(rows)))
    source = tmp_path / "rows.parquet"
    rows.to_parquet(source, index=False)
    outputs = []
    for env, name in ((ray_env, "ray"), (ray_env | {"AIFORGE_EXECUTOR": "local"}, "local")):
        joined = len(jobs())
        out = tmp_path / f"scored-{name}.parquet"
        proc = subprocess.run([str(EXE), "predict", "--model", "income", "--input", str(source), "--output", str(out),
                               "--keep", "id", "--chunk-rows", "150"], capture_output=True, text=True, env=env,
                              cwd=tmp_path, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert len(jobs()) == joined + (name == "ray")
        outputs.append(pq.read_table(out))
    assert outputs[0].num_rows == len(rows) and outputs[0].column_names[:2] == ["id", "prediction"]
    assert outputs[0].equals(outputs[1])


def test_the_environment_chooses_the_executor_over_the_project_file() -> None:
    settings = WorkspaceSettings.resolve(env={"AIFORGE_EXECUTOR": "ray", "AIFORGE_RAY_ADDRESS": "10.0.0.5:6379"})
    assert Executor.choose(settings) == Executor("ray", "10.0.0.5:6379")
    assert Executor.choose(WorkspaceSettings.resolve(env={}), "ray", "auto", 2).trials_in_flight == 2
    local = WorkspaceSettings.resolve(env={"AIFORGE_EXECUTOR": "local"})
    assert Executor.choose(local, "ray", "auto") == Executor()
    with pytest.raises(ExecutorError, match="unknown executor 'spark'") as caught:
        Executor.choose(WorkspaceSettings.resolve(env={"AIFORGE_EXECUTOR": "spark"}))
    assert caught.value.where == "AIFORGE_EXECUTOR" and caught.value.code == "executor"


def test_an_unreachable_cluster_is_an_executor_error_at_once() -> None:
    """In a process of its own: this one may be connected to the module's cluster already."""
    pytest.importorskip("ray")
    port = free_port()
    code = ("import sys, time\n"
            "from aiforge.workspace import ExecutorError, connect_ray\n"
            "for address in sys.argv[1:]:\n"
            "    started = time.monotonic()\n"
            "    try:\n        connect_ray(address)\n"
            "    except ExecutorError as exc:\n"
            "        print(round(time.monotonic() - started), '|', exc.message, '|', exc.hint)\n")
    proc = subprocess.run([sys.executable, "-c", code, f"127.0.0.1:{port}", f"ray://127.0.0.1:{port}", "no-port-here"],
                          capture_output=True, text=True, timeout=120)
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 3, proc.stderr
    for line, message in zip(lines, [f"cannot reach the Ray cluster at 127.0.0.1:{port}",
                                     f"cannot reach the Ray cluster at ray://127.0.0.1:{port}",
                                     "'no-port-here' is not a Ray address"], strict=True):
        seconds, said, hint = line.split(" | ")
        assert int(seconds) < 10 and said == message and "ray start --head" in hint


def test_the_workspace_section_is_checked() -> None:
    text = "name: x\nproblem: {{task: binary, target: y}}\ndata: {{sources: [{{name: s, type: csv, path: a.csv}}]}}\n{}"
    spec = parse_project_text(text.format("workspace: {executor: ray, address: auto, trials_in_flight: 4}"), YAML)
    assert spec.spec.workspace.executor == "ray" and spec.spec.workspace.trials_in_flight == 4
    with pytest.raises(Exception, match="set executor: ray as well"):
        parse_project_text(text.format("workspace: {address: auto}"), YAML)
    with pytest.raises(Exception, match="executor"):
        parse_project_text(text.format("workspace: {executor: spark}"), YAML)


def test_without_ray_the_ray_executor_says_which_extra_to_install() -> None:
    code = ("import sys; sys.modules['ray'] = None\n"
            "from aiforge.workspace import connect_ray\n"
            "try:\n    connect_ray('auto')\n"
            "except Exception as exc:\n    print(type(exc).__name__, '|', exc.hint)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip().startswith(f"{MissingDependency.__name__} | pip install 'aiforge[ray]'"), proc.stderr
