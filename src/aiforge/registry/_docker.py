"""A Docker build context that serves a model bundle: ``aiforge package NAME VERSION --docker DIR``.

The image is built in two stages: the first installs the bundle's environment lock (every package at the version
the bundle was made with, aiforge from a wheel placed in the context or from the index) into a virtual
environment; the second copies that environment onto the same slim Python base, runs as an unprivileged user,
checks its own health over HTTP, and serves the bundle, verifying it first (and its signature, when the bundle is
signed: the public key goes into the context and the server requires it).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from aiforge.registry._bundle import LOCK_FILE, Bundle, BundleError

__all__ = ["dockerfile", "write_docker_context"]

BUNDLE_NAME = "model.aiforge.zip"
PUBLIC_KEY_NAME = "signing.pub"
PORT = 8000
UID = 10001


def _base_image(python: str) -> str:
    """The official slim image of the Python version the bundle was made with, pinned to that patch release."""
    return f"python:{python}-slim-bookworm"


def write_docker_context(bundle: Bundle, folder: Path, *, aiforge_wheel: Path | None = None,
                         public_key: bytes | None = None) -> list[str]:
    """Write the Dockerfile and its build context for ``bundle`` into ``folder`` (created; files there are
    replaced); returns the files written. ``aiforge_wheel``: install aiforge from this wheel instead of the index;
    ``public_key``: the key the server requires the bundle's signature to match (default: the key that signed it,
    when it is signed)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise BundleError("the Docker build context must be a folder", where=str(folder),
                          hint="choose a new folder for --docker")
    folder.mkdir(parents=True, exist_ok=True)
    written: list[str] = []

    def write(name: str, data: bytes) -> None:
        path = folder / name
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        written.append(name)

    shutil.copyfile(bundle.path, folder / f".{BUNDLE_NAME}.tmp")
    os.replace(folder / f".{BUNDLE_NAME}.tmp", folder / BUNDLE_NAME)
    written.append(BUNDLE_NAME)
    lock = bundle.files[LOCK_FILE].decode()
    wheels = folder / "wheels"
    wheels.mkdir(exist_ok=True)
    if aiforge_wheel is not None:
        shutil.copyfile(aiforge_wheel, wheels / aiforge_wheel.name)
        written.append(f"wheels/{aiforge_wheel.name}")
    write("wheels/.keep", b"")
    write("requirements.txt", lock.encode())
    key = public_key if public_key is not None else _signing_key_pem(bundle)
    if key is not None:
        write(PUBLIC_KEY_NAME, key)
    python = str(bundle.manifest.get("python") or "3.11")
    write("Dockerfile", dockerfile(python, signed=key is not None, name=bundle.name, version=bundle.version).encode())
    write(".dockerignore", b"*\n!Dockerfile\n!requirements.txt\n!wheels/\n!" + BUNDLE_NAME.encode()
          + (b"\n!" + PUBLIC_KEY_NAME.encode() if key is not None else b"") + b"\n")
    return written


HEALTH = ("import sys, urllib.request; sys.exit(0 if urllib.request.urlopen("
          f"'http://127.0.0.1:{PORT}/v2/health/ready', timeout=4).status == 200 else 1)")


def dockerfile(python: str, *, signed: bool, name: str, version: int) -> str:
    base = _base_image(python)
    trust = (f' "--trusted-key", "/srv/{PUBLIC_KEY_NAME}", "--require-signature",' if signed else "")
    key_copy = f"COPY --chown=root:root --chmod=0444 {PUBLIC_KEY_NAME} /srv/{PUBLIC_KEY_NAME}\n" if signed else ""
    return f"""# syntax=docker/dockerfile:1
# {name} v{version}, served by aiforge from its bundle. Written by 'aiforge package --docker'.
# Build: docker build -t {name}:v{version} .   Run: docker run -p {PORT}:{PORT} {name}:v{version}

# -- build: the bundle's environment lock, installed into a virtual environment --------------------------------
FROM {base} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/aiforge
COPY requirements.txt /build/requirements.txt
COPY wheels/ /build/wheels/
# every line of requirements.txt is name==version: the versions the bundle was made and tested with
RUN /opt/aiforge/bin/pip install --find-links /build/wheels --requirement /build/requirements.txt

# -- runtime: the environment, the bundle, an unprivileged user ----------------------------------------------
FROM {base}
RUN groupadd --system --gid {UID} aiforge \\
 && useradd --system --uid {UID} --gid aiforge --home-dir /srv --no-create-home --shell /usr/sbin/nologin aiforge \\
 && mkdir -p /srv/workspace && chown aiforge:aiforge /srv/workspace
COPY --from=build /opt/aiforge /opt/aiforge
COPY --chown=root:root --chmod=0444 {BUNDLE_NAME} /srv/{BUNDLE_NAME}
{key_copy}ENV PATH=/opt/aiforge/bin:$PATH AIFORGE_WORKSPACE=/srv/workspace PYTHONUNBUFFERED=1 OMP_WAIT_POLICY=PASSIVE
USER aiforge:aiforge
WORKDIR /srv
EXPOSE {PORT}
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \\
  CMD ["python", "-c", "{HEALTH}"]
# the bundle is verified (SHA-256 of every file{', and its signature' if signed else ''}) before anything is loaded
CMD ["aiforge", "serve", "--bundle", "/srv/{BUNDLE_NAME}",{trust} "--host", "0.0.0.0", "--port", "{PORT}"]
"""


def _signing_key_pem(bundle: Bundle) -> bytes | None:
    """The PEM public key that signed ``bundle``, if it is signed."""
    if bundle.signed_by is None:
        return None
    import base64
    import json
    import zipfile

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from aiforge.registry._bundle import SIGNATURE

    with zipfile.ZipFile(bundle.path) as zf:
        raw = base64.b64decode(json.loads(zf.read(SIGNATURE))["public_key"])
    return Ed25519PublicKey.from_public_bytes(raw).public_bytes(serialization.Encoding.PEM,
                                                                serialization.PublicFormat.SubjectPublicKeyInfo)
