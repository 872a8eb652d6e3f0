"""Packaging a registered version: bundles (verified, refused when altered or signed by an untrusted key before
any byte is unpickled, served by `aiforge serve --bundle`), their Docker build context, and the MLflow model
format both ways (exported for mlflow.pyfunc, imported back; a scikit-learn MLflow model imported and served)."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import pickle
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import ADULT, EXE, registered_income, running_server

from aiforge.registry import (
    BundleError,
    ModelRegistry,
    make_signing_key,
    verify_bundle,
    write_bundle,
)
from aiforge.registry._bundle import MANIFEST, MODEL_FILE, SIGNATURE
from aiforge.workspace import Workspace, WorkspaceSettings

NUMERIC = {"age", "education_num", "capital_gain", "capital_loss", "hours_per_week"}


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """`income` v1 (linear) in a workspace; its bundle unsigned and signed with key A; keys A and B."""
    root = tmp_path_factory.mktemp("bundle")
    env = registered_income(root, rows=600, learners="[linear]")
    made = subprocess.run([str(EXE), "keygen", "--output", str(root / "a"), "--json"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    assert (root / "a.key").stat().st_mode & 0o777 == 0o600 and json.loads(made.stdout)["key_id"]
    private, public = make_signing_key()
    (root / "b.pub").write_bytes(public)
    keys = {"a": ((root / "a.key").read_bytes(), (root / "a.pub").read_bytes()), "b": (private, public)}
    ws = Workspace.open(WorkspaceSettings(root=root / "ws"), create=False)
    try:
        registry = ModelRegistry(ws)
        version = registry.get("income", 1)
        write_bundle(registry, version, root / "unsigned.zip")
        model = registry.load_model(version)
    finally:
        ws.close()
    proc = subprocess.run([str(EXE), "package", "income", "1", "--sign-key", str(root / "a.key"), "--output",
                           str(root / "signed.zip"), "--docker", str(root / "ctx"), "--json"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return {"root": root, "env": env, "keys": keys, "model": model, "package": json.loads(proc.stdout)}


def _rewrite(source: Path, target: Path, change: dict[str, Any], *, manifest: bool = False) -> Path:
    """A copy of a bundle with entries replaced (bytes), removed (None), added, or with their last byte changed
    ("flip"); ``manifest``: the attacker also rewrites manifest.json with the new hashes (the signature, if any,
    is kept)."""
    with zipfile.ZipFile(source) as zf:
        entries = {i.filename: zf.read(i) for i in zf.infolist()}
    for name, data in change.items():
        if data is None:
            entries.pop(name, None)
        elif data == "flip":
            entries[name] = entries[name][:-1] + bytes([entries[name][-1] ^ 1])
        else:
            entries[name] = data
    if manifest:
        listed = json.loads(entries[MANIFEST])
        listed["files"] = {n: {"sha256": hashlib.sha256(d).hexdigest(), "bytes": len(d)}
                           for n, d in entries.items() if n not in (MANIFEST, SIGNATURE)}
        entries[MANIFEST] = json.dumps(listed).encode()
    with zipfile.ZipFile(target, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return target


class _Payload:
    """A pickle that creates a file when it is loaded: the proof that a refused bundle was never unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.mkdir, (str(self.marker),))


def test_a_bundle_holds_every_file_under_its_hash_and_is_reproducible(packaged: dict[str, Any], tmp_path: Path) -> None:
    root = packaged["root"]
    bundle = verify_bundle(root / "unsigned.zip")
    assert (bundle.name, bundle.version, bundle.signed_by, bundle.trusted) == ("income", 1, None, False)
    expected = {MODEL_FILE, "schema.json", "requirements.lock", "model-card.md", "documents/card_md",
                "documents/card_html", "documents/background", "documents/reference"}
    assert expected <= set(bundle.files)
    for name, entry in bundle.manifest["files"].items():
        assert hashlib.sha256(bundle.files[name]).hexdigest() == entry["sha256"]
    schema = json.loads(bundle.files["schema.json"])
    assert [c["name"] for c in schema["columns"]] == packaged["model"].input_columns
    assert {c["name"]: c["kind"] for c in schema["columns"]}["age"] == "number" and schema["task"] == "binary"
    lock = bundle.files["requirements.lock"].decode().splitlines()
    assert lock[0].startswith("# python 3.") and all("==" in line for line in lock[1:])
    assert {line.split("==")[0].lower() for line in lock[1:]} >= {"aiforge", "scikit-learn", "numpy", "pandas"}
    assert bundle.manifest["model"]["gate"]["passed"] and bundle.manifest["model"]["status"] == "accepted"
    ws = Workspace.open(WorkspaceSettings(root=root / "ws"), create=False)
    try:
        registry = ModelRegistry(ws)
        again = write_bundle(registry, registry.get("income", 1), tmp_path / "again.zip")
    finally:
        ws.close()
    assert again.path.read_bytes() == (root / "unsigned.zip").read_bytes()


@pytest.mark.parametrize(("change", "manifest", "message"), [
    ({MODEL_FILE: b"not the model"}, False, "is 13 bytes, the manifest says"),
    ({MODEL_FILE: "flip"}, False, "does not match its SHA-256"),
    ({"extra.py": b"print('hi')"}, False, "files its manifest does not list"),
    ({"schema.json": None}, False, "lacks 'schema.json'"),
    ({MANIFEST: b"{}"}, False, "not a bundle manifest"),
])
def test_an_altered_bundle_is_refused(packaged: dict[str, Any], tmp_path: Path, change: dict[str, Any],
                                      manifest: bool, message: str) -> None:
    altered = _rewrite(packaged["root"] / "unsigned.zip", tmp_path / "altered.zip", change, manifest=manifest)
    with pytest.raises(BundleError, match=message):
        verify_bundle(altered)


def test_signatures_are_checked_against_the_trusted_keys(packaged: dict[str, Any], tmp_path: Path) -> None:
    root, keys = packaged["root"], packaged["keys"]
    signed = verify_bundle(root / "signed.zip", trusted_keys=[keys["a"][1]])
    assert signed.trusted and signed.signed_by is not None
    assert verify_bundle(root / "signed.zip").signed_by == signed.signed_by  # integrity only: no key trusted
    with pytest.raises(BundleError, match="not trusted here"):
        verify_bundle(root / "signed.zip", trusted_keys=[keys["b"][1]])
    with pytest.raises(BundleError, match="not signed, and a signature by a trusted key is required"):
        verify_bundle(root / "unsigned.zip", trusted_keys=[keys["a"][1]])
    # the attacker swaps the model and rewrites the manifest's hashes: only the signature can tell
    forged = _rewrite(root / "signed.zip", tmp_path / "forged.zip", {MODEL_FILE: b"other"}, manifest=True)
    with pytest.raises(BundleError, match="signature does not match the manifest"):
        verify_bundle(forged, trusted_keys=[keys["a"][1]])
    with pytest.raises(BundleError, match="not an Ed25519 public key|not a PEM public key"):
        verify_bundle(root / "signed.zip", trusted_keys=[b"-----BEGIN PUBLIC KEY-----\nxx\n-----END PUBLIC KEY-----\n"])


def _adult_records(n: int) -> list[dict[str, Any]]:
    with ADULT.open(encoding="utf-8") as fh:
        rows = [r for _, r in zip(range(1000 + n), csv.DictReader(fh), strict=False)][1000:]
    return [{k: int(v) if k in NUMERIC else v for k, v in r.items() if k != "income"} for r in rows]


def test_serve_bundle_verifies_then_serves_and_refuses_a_forged_one_unloaded(packaged: dict[str, Any],
                                                                              tmp_path: Path) -> None:
    import pandas as pd

    root = packaged["root"]
    env = {**packaged["env"], "AIFORGE_WORKSPACE": str(tmp_path / "served")}
    marker = tmp_path / "unpickled"
    evil = pickle.dumps(_Payload(marker))
    forged = _rewrite(root / "signed.zip", tmp_path / "forged.zip", {MODEL_FILE: evil}, manifest=True)
    proc = subprocess.run([str(EXE), "serve", "--bundle", str(forged), "--trusted-key", str(root / "a.pub"),
                           "--require-signature"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "signature does not match the manifest" in proc.stderr, proc.stderr
    assert not marker.exists()  # refused before a byte was unpickled
    with pytest.raises(BundleError, match="does not match its SHA-256"):  # unsigned: the hashes catch it
        verify_bundle(_rewrite(root / "unsigned.zip", tmp_path / "t.zip", {MODEL_FILE: "flip"}))
    records = _adult_records(20)
    with running_server(["--bundle", str(root / "signed.zip"), "--trusted-key", str(root / "a.pub"),
                         "--require-signature", "--no-log-predictions"], env, tmp_path, tmp_path / "log") as server:
        response = server.client.post("/v1/models/income/predict", json={"records": records})
        assert response.status_code == 200, response.text
        body = response.json()
        assert "verified" in server.log.read_text()
    proba = packaged["model"].predict_proba(pd.DataFrame(records))[:, 1]
    served = np.array([p["probabilities"][">50K"] for p in body["predictions"]])
    np.testing.assert_allclose(served, proba, atol=1e-5)
    ws = Workspace.open(WorkspaceSettings(root=tmp_path / "served"), create=False)
    try:
        [version] = ModelRegistry(ws).versions()
    finally:
        ws.close()
    assert version.alias is not None and version.alias.value == "production"
    assert version.lineage["bundle"]["version"] == 1 and version.lineage["bundle"]["signed_by"]


def test_docker_context_is_multi_stage_non_root_with_a_health_check_and_pinned(packaged: dict[str, Any]) -> None:
    root = packaged["root"]
    ctx = root / "ctx"
    assert set(packaged["package"]["docker"]["files"]) >= {"Dockerfile", "requirements.txt", "model.aiforge.zip",
                                                           "signing.pub", ".dockerignore"}
    dockerfile = (ctx / "Dockerfile").read_text()
    froms = [line.split()[1] for line in dockerfile.splitlines() if line.startswith("FROM ")]
    assert len(froms) == 2 and froms[0] == froms[1] and froms[0].count(".") == 2  # python:3.X.Y-slim-...
    assert f"FROM {froms[0]} AS build" in dockerfile
    assert "COPY --from=build /opt/aiforge /opt/aiforge" in dockerfile
    assert "USER aiforge:aiforge" in dockerfile and "useradd --system --uid 10001" in dockerfile
    assert "HEALTHCHECK" in dockerfile and "/v2/health/ready" in dockerfile
    cmd = json.loads(dockerfile.split("\nCMD ", 1)[1].splitlines()[0])
    assert cmd[:4] == ["aiforge", "serve", "--bundle", "/srv/model.aiforge.zip"] and "--require-signature" in cmd
    lines = [x for x in (ctx / "requirements.txt").read_text().splitlines() if not x.startswith("#")]
    assert lines and all(len(x.split("==")) == 2 for x in lines)
    checked = subprocess.run([str(EXE), "verify", str(ctx / "model.aiforge.zip"), "--trusted-key",
                              str(ctx / "signing.pub"), "--json"], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0 and json.loads(checked.stdout)["trusted"], checked.stderr
    assert (ctx / "model.aiforge.zip").read_bytes() == (root / "signed.zip").read_bytes()


def _docker_engine() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0


@pytest.mark.skipif(not _docker_engine(), reason="no Docker engine here")
def test_the_docker_image_builds(packaged: dict[str, Any], tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    wheel = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w",
                            str(tmp_path / "w"), str(repo)], capture_output=True, text=True, timeout=300)
    assert wheel.returncode == 0, wheel.stderr
    [built] = (tmp_path / "w").glob("aiforge-*.whl")
    proc = subprocess.run([str(EXE), "package", "income", "1", "--output", str(tmp_path / "b.zip"), "--docker",
                           str(tmp_path / "ctx"), "--aiforge-wheel", str(built)], env=packaged["env"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    build = subprocess.run(["docker", "build", "-q", "-t", "aiforge-test-bundle:v1", str(tmp_path / "ctx")],
                           capture_output=True, text=True, timeout=1800)
    assert build.returncode == 0, build.stderr


# -- the MLflow model format, both ways ------------------------------------------------------------------------


def _quiet_mlflow() -> Any:
    """mlflow, imported with its import-time warnings silenced (pytest turns warnings into errors)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import mlflow.pyfunc
        import mlflow.sklearn
    return mlflow


def test_an_exported_version_loads_in_mlflow_pyfunc_and_imports_back_whole(packaged: dict[str, Any],
                                                                             tmp_path: Path) -> None:
    import warnings

    import pandas as pd

    from aiforge.registry import export_mlflow, import_mlflow

    mlflow = _quiet_mlflow()
    root = packaged["root"]
    ws = Workspace.open(WorkspaceSettings(root=root / "ws"), create=False)
    try:
        registry = ModelRegistry(ws)
        original = registry.get("income", 1)
        folder = export_mlflow(registry, original, tmp_path / "mlflow-model")
        with pytest.raises(Exception, match="exists already"):
            export_mlflow(registry, original, folder)
    finally:
        ws.close()
    frame = pd.DataFrame(_adult_records(25))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = mlflow.pyfunc.load_model(str(folder))
        predicted = loaded.predict(frame)
        signature = mlflow.models.Model.load(str(folder)).signature
    assert signature.inputs.input_names() == packaged["model"].input_columns
    proba = packaged["model"].predict_proba(frame)
    np.testing.assert_allclose(predicted["probability_>50K"].to_numpy(), proba[:, 1], atol=1e-12)
    assert list(predicted["prediction"]) == [str(x) for x in packaged["model"].predict(frame)]

    fresh = Workspace.open(WorkspaceSettings(root=tmp_path / "fresh"))
    try:
        registry = ModelRegistry(fresh)
        imported = import_mlflow(registry, folder)
        assert (imported.name, imported.version, imported.status.value) == ("income", 1, "accepted")
        assert imported.metrics == original.metrics and imported.gate == original.gate
        assert set(imported.documents) == set(original.documents)
        assert imported.lineage["mlflow_import"]["version"] == 1
        np.testing.assert_allclose(registry.load_model(imported).predict_proba(frame), proba, atol=0)
    finally:
        fresh.close()
    (folder / "model" / "model.joblib").write_bytes(b"changed")
    with warnings.catch_warnings(), pytest.raises(Exception, match="does not match the SHA-256"):
        warnings.simplefilter("ignore")
        mlflow.pyfunc.load_model(str(folder))


def test_a_scikit_learn_mlflow_model_is_imported_and_served(tmp_path: Path) -> None:
    import warnings

    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    from aiforge.registry import import_mlflow
    from aiforge.serve._models import ModelCache

    mlflow = _quiet_mlflow()
    frame = pd.read_csv(ADULT, nrows=800)
    X, y = frame[["age", "hours_per_week", "sex", "education"]], frame["income"]
    sk = make_pipeline(ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"), ["sex", "education"])],
                                         remainder="passthrough"), LogisticRegression(max_iter=500)).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        signature = mlflow.models.infer_signature(X, sk.predict(X))
        mlflow.sklearn.save_model(sk, str(tmp_path / "sk"), signature=signature, pip_requirements=["scikit-learn"],
                                  serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE)
    ws = Workspace.open(WorkspaceSettings(root=tmp_path / "ws"))
    try:
        registry = ModelRegistry(ws)
        with pytest.raises(Exception, match="needs a name"):
            import_mlflow(registry, tmp_path / "sk")
        version = import_mlflow(registry, tmp_path / "sk", name="adult-sk", target="income")
        assert (version.status.value, version.alias.value if version.alias else None) == ("accepted", "candidate")
        assert version.learner == "mlflow:Pipeline" and version.gate["results"] == []
        served = ModelCache(registry).serving("adult-sk")
        assert served.schema.names == ["age", "hours_per_week", "sex", "education"]
        rows = X.iloc[:50]
        out = served.predict(rows)
        np.testing.assert_allclose(out.probabilities, sk.predict_proba(rows), atol=1e-12)
        assert out.labels == list(sk.predict(rows))
        (tmp_path / "other").mkdir()
        (tmp_path / "other" / "MLmodel").write_text("flavors:\n  pytorch: {}\n")
        with pytest.raises(Exception, match="flavors cannot be imported"):
            import_mlflow(registry, tmp_path / "other", name="x")
    finally:
        ws.close()


def test_the_bundle_schema_names_free_text_columns_text(tmp_path: Path) -> None:
    """A text learner's input is ``text`` in schema.json (as the served model's metadata has it), not ``category``."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    from aiforge.learn import TabularModel, choose_features
    from aiforge.registry._bundle import input_schema
    from aiforge.spec import TaskKind

    reviews = [f"review {i}: the plot was slow but the acting carried it {'well' if i % 2 else 'badly'}"
               for i in range(60)]
    rows = pa.table({"review": reviews, "stars": [i % 5 for i in range(60)], "shop": ["ab"[i % 2] for i in range(60)],
                     "liked": [i % 2 for i in range(60)]})
    features = choose_features(rows, "liked")
    assert features.text == ("review",)
    model = TabularModel(None, TaskKind.BINARY, [0, 1], features, "tfidf", "liked")
    background = io.BytesIO()
    pq.write_table(rows.drop(["liked"]), background)
    schema = input_schema(model, background.getvalue())
    assert {c["name"]: (c["kind"], c["type"]) for c in schema["columns"]} == {
        "stars": ("number", "int64"), "shop": ("category", "string"), "review": ("text", "string")}


def test_a_learner_from_an_extra_locks_what_the_extra_installs() -> None:
    from importlib import metadata

    from aiforge.learn import LEARNERS
    from aiforge.registry._bundle import environment_lock, extra_distributions

    pytest.importorskip("transformers")
    assert LEARNERS["transformer"].extra == LEARNERS["seq2seq"].extra == "transformers"
    needed = {n.lower() for n in extra_distributions("transformers")}
    assert {"torch", "transformers", "tokenizers"} <= needed  # not transformers alone: it cannot run without them
    locked = {line.split("==")[0].lower(): line.split("==")[1] for line in environment_lock(sorted(needed))}
    assert locked["torch"] == metadata.version("torch") and "tokenizers" in locked
    assert extra_distributions("no-such-extra") == []
