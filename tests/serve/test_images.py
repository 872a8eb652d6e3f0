"""The vision path end to end (issue 8, criterion 5), on a small subset of Fashion-MNIST: `aiforge run` of an
images source with the cnn learner -> registered -> `aiforge serve` answers images sent as base64 JSON and as a
multipart upload (described in the OpenAPI document) -> the prediction log holds their pixels -> the drift
report covers them."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import EXE, FAST_CHECKS, running_server, serve_env

from aiforge.deep._datasets import FASHION_MNIST_CLASSES, FASHION_MNIST_DIR, load_fashion_mnist
from aiforge.monitor import read_predictions

pytest.importorskip("torch")
if not (FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file():
    if os.environ.get("CI") == "true":
        pytest.fail("Fashion-MNIST is missing: .ci installs dataset-fashion-mnist", pytrace=False)
    pytest.skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)", allow_module_level=True)

PROJECT = f"""name: fashion
problem: {{task: multiclass, target: label}}
kpis:
  - {{metric: accuracy, min: 0.15}}
data:
  sources:
    - name: train
      type: images
      format: idx
      path: {FASHION_MNIST_DIR}/t10k-images-idx3-ubyte.gz
      labels: {FASHION_MNIST_DIR}/t10k-labels-idx1-ubyte.gz
      shape: [28, 28]
      limit: 500
      label_names: {json.dumps(list(FASHION_MNIST_CLASSES))}
  split: {{test_size: 0.2, seed: 42}}
model:
  learners: [cnn]
  search: {{strategy: defaults, cv_strategy: holdout, refit: false, budget: {{seconds: 15}}}}
  ensemble: {{enabled: false}}
checks:
  importance: {{enabled: false}}
{FAST_CHECKS}
"""


def _png(pixels: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("fashion")
    (root / "aiforge.yaml").write_text(PROJECT)
    env = serve_env(root / "ws")
    proc = subprocess.run([str(EXE), "run", "--json", str(root / "aiforge.yaml")], capture_output=True, text=True,
                          env=env, cwd=root, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return root, env


def test_images_are_trained_registered_served_and_logged(registered: tuple[Path, dict[str, str]]) -> None:
    root, env = registered
    versions = subprocess.run([str(EXE), "models", "--json"], capture_output=True, text=True, env=env,
                              cwd=root, timeout=60)
    assert versions.returncode == 0, versions.stderr
    assert '"cnn"' in versions.stdout and '"accepted"' in versions.stdout
    images = load_fashion_mnist("train").images[:3]  # images the model never saw (it trained on test images)
    files = [_png(image) for image in images]
    with running_server([], env, root, root / "serve.log") as server:
        as_json = server.client.post("/v1/models/fashion/predict/images",
                                     json={"images": [base64.b64encode(f).decode() for f in files]})
        assert as_json.status_code == 200, as_json.text
        predictions = as_json.json()["predictions"]
        assert len(predictions) == 3
        assert all(p["label"] in FASHION_MNIST_CLASSES for p in predictions)
        assert all(abs(sum(p["probabilities"].values()) - 1) < 1e-5 for p in predictions)
        upload = server.client.post("/v1/models/fashion/versions/1/predict/images",
                                    files=[("images", (f"{i}.png", f, "image/png")) for i, f in enumerate(files)])
        assert upload.status_code == 200, upload.text
        assert [p["label"] for p in upload.json()["predictions"]] == [p["label"] for p in predictions]
        # the same image as the pixel record of /v1 predict: the same answer
        record = {f"pixel_{r}_{c}": int(images[0][r, c]) for r in range(28) for c in range(28)}
        tabular = server.client.post("/v1/models/fashion/predict", json={"records": [record]})
        assert tabular.json()["predictions"][0]["label"] == predictions[0]["label"]

        big = _png(np.zeros((32, 30), np.uint8))
        wrong_size = server.client.post("/v1/models/fashion/predict/images",
                                        files=[("images", ("big.png", big, "image/png"))])
        assert wrong_size.status_code == 422
        assert "28x28 pixels" in wrong_size.text and "found 30x32 pixels" in wrong_size.text
        not_an_image = server.client.post("/v1/models/fashion/predict/images",
                                          json={"images": [base64.b64encode(b"no image").decode()]})
        assert not_an_image.status_code == 422 and "cannot be decoded" in not_an_image.text
        not_base64 = server.client.post("/v1/models/fashion/predict/images", json={"images": ["@@@"]})
        assert not_base64.status_code == 422 and "not base64" in not_base64.text
        plain = server.client.post("/v1/models/fashion/predict/images", content=b"x",
                                   headers={"content-type": "text/plain"})
        assert plain.status_code == 422 and "multipart/form-data" in plain.text

        body = server.client.get("/openapi.json").json()["paths"]["/v1/models/{name}/predict/images"]["post"]
        content = body["requestBody"]["content"]
        assert content["application/json"]["schema"]["properties"]["images"]["type"] == "array"
        assert content["multipart/form-data"]["schema"]["properties"]["images"]["items"]["format"] == "binary"
    # the server wrote its log on shutdown: 3 + 3 + 1 answered predictions, with every pixel
    logged = read_predictions(root / "ws" / "predictions", "fashion")
    assert len(logged) == 7
    assert logged["in.pixel_14_14"].iloc[0] == images[0][14, 14]
    report = subprocess.run([str(EXE), "monitor", "report", "fashion", "--json"], capture_output=True, text=True,
                            env=env, cwd=root, timeout=120)
    assert report.returncode == 0, report.stderr
    assert "pixel_27_27" in report.stdout
