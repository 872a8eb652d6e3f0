"""Model bundles: one file that holds a registered version and everything needed to serve it again, verifiably.

A bundle is a zip file with a fixed layout and fixed timestamps (the same version packaged twice gives the same
bytes, unsigned):

    manifest.json        format, the version's record (metrics, gate, lineage), and the SHA-256 and size of
                         every other file
    model/model.joblib   the fitted model (a pickle: read only after its hash is verified)
    documents/<kind>     the version's documents: model card (card_md, card_html), ONNX model, background rows,
                         reference statistics
    schema.json          the input columns and their types
    requirements.lock    the installed versions of the packages the model needs (aiforge's dependencies, and the
                         optional ones its learner and serving path use)
    model-card.md        the model card, readable without unpacking anything else
    signature.json       optional: an Ed25519 signature of manifest.json, and the public key that made it

``verify_bundle`` reads every entry, refuses any whose hash or size differs from the manifest, any entry the
manifest does not list, and (given trusted public keys) a bundle that is unsigned or signed by another key.
Only a verified bundle reaches ``import_bundle``, which stores its files in a workspace and registers the version.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import sys
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from aiforge.errors import AiforgeError
from aiforge.registry._registry import Alias, ModelRegistry, ModelVersion, VersionStatus

__all__ = ["BUNDLE_FORMAT", "Bundle", "BundleError", "environment_lock", "import_bundle", "make_signing_key",
           "public_key_id", "verify_bundle", "write_bundle"]

BUNDLE_FORMAT = "aiforge-bundle/1"
MANIFEST = "manifest.json"
SIGNATURE = "signature.json"
MODEL_FILE = "model/model.joblib"
DOCUMENTS = "documents/"
SCHEMA_FILE = "schema.json"
LOCK_FILE = "requirements.lock"
CARD_FILE = "model-card.md"
MAX_ENTRY_BYTES = 4 << 30  # a declared size beyond this is refused before anything is read
_EPOCH = (1980, 1, 1, 0, 0, 0)
_ONNX_DISTRIBUTIONS = ("onnx", "onnxruntime", "onnxmltools", "skl2onnx")


class BundleError(AiforgeError):
    """A model bundle is malformed, altered since it was made, unsigned where a signature is required, or signed
    by a key that is not trusted."""

    code = "bundle"
    http_status = 400


@dataclass(frozen=True)
class Bundle:
    """A verified bundle: its manifest, the bytes of each file, and who signed it (``None``: unsigned)."""

    path: Path
    manifest: dict[str, Any]
    files: dict[str, bytes]
    signed_by: str | None  # the signing key's id
    trusted: bool  # the signature was checked against a trusted public key

    @property
    def name(self) -> str:
        return str(self.manifest["model"]["name"])

    @property
    def version(self) -> int:
        return int(self.manifest["model"]["version"])

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "format": self.manifest["format"], "name": self.name,
                "version": self.version, "learner": self.manifest["model"]["learner"],
                "files": {k: v["sha256"] for k, v in self.manifest["files"].items()},
                "signed_by": self.signed_by, "trusted": self.trusted}


def write_bundle(registry: ModelRegistry, version: ModelVersion, output: Path, *,
                 signing_key: bytes | None = None) -> Bundle:
    """Package ``version`` into ``output`` (written atomically); ``signing_key``: an Ed25519 private key in PEM
    to sign the manifest with. A version rejected by its KPI gate is refused: it may never serve."""
    if version.status is VersionStatus.REJECTED:
        failed = [r["message"] for r in version.gate.get("results", []) if not r.get("passed")]
        raise BundleError(f"{version.name} v{version.version} failed its KPI gate: a bundle holds a version that may "
                          "serve", found="; ".join(failed) or "rejected",
                          hint="package an accepted version ('aiforge models' lists them)")
    files: dict[str, bytes] = {MODEL_FILE: registry.workspace.artifacts.get_bytes(version.artifact)}
    for kind in sorted(version.documents):
        files[DOCUMENTS + kind] = registry.document(version, kind)
    model = registry.load_model(version)  # from the workspace's own verified store
    files[SCHEMA_FILE] = _json_bytes(input_schema(model, files.get(DOCUMENTS + "background")))
    files[LOCK_FILE] = "\n".join([f"# python {sys.version.split()[0]}", *environment_lock(
        _optional_needs(version))]).encode() + b"\n"
    if DOCUMENTS + "card_md" in files:
        files[CARD_FILE] = files[DOCUMENTS + "card_md"]
    manifest = {
        "format": BUNDLE_FORMAT,
        "aiforge": _installed("aiforge"),
        "python": sys.version.split()[0],
        "model": {"name": version.name, "version": version.version, "learner": version.learner,
                  "task": getattr(getattr(model, "task", None), "value", None), "run_id": version.run_id,
                  "status": version.status.value, "created_at": version.created_at.isoformat(),
                  "metrics": version.metrics, "gate": version.gate, "lineage": version.lineage},
        "files": {name: {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
                  for name, data in sorted(files.items())},
    }
    manifest_bytes = _json_bytes(manifest)
    entries = {MANIFEST: manifest_bytes, **files}
    signed_by = None
    if signing_key is not None:
        signature = _sign(manifest_bytes, signing_key)
        entries[SIGNATURE] = _json_bytes(signature)
        signed_by = signature["key_id"]
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, entries[name])
    os.replace(tmp, output)
    return Bundle(output, manifest, files, signed_by, trusted=False)


def verify_bundle(path: Path, *, trusted_keys: Sequence[bytes] = ()) -> Bundle:
    """Read and verify the bundle at ``path``: every file's SHA-256 and size against the manifest, no entry the
    manifest does not list. With ``trusted_keys`` (Ed25519 public keys in PEM) the bundle must be signed by one
    of them; without, a signature present is checked against the key it names (integrity, not origin)."""
    path = Path(path)
    where = str(path)
    if not path.is_file():
        raise BundleError("no bundle at this path", where=where, hint="make one with 'aiforge package NAME VERSION'")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise BundleError("the file is not a model bundle (not a zip file)", where=where, found=str(exc),
                          hint="make one with 'aiforge package NAME VERSION'") from exc
    with zf:
        infos = {i.filename: i for i in zf.infolist()}
        if MANIFEST not in infos:
            raise BundleError("the bundle has no manifest.json", where=where, found=", ".join(sorted(infos)[:8]),
                              hint="make bundles with 'aiforge package NAME VERSION'")
        manifest_bytes = _read(zf, infos[MANIFEST], where)
        try:
            manifest = json.loads(manifest_bytes)
            listed = manifest["files"]
            manifest["model"]["name"], manifest["model"]["version"]  # noqa: B018  (present)
        except (ValueError, KeyError, TypeError) as exc:
            raise BundleError("the bundle's manifest.json is not a bundle manifest", where=where,
                              found=f"{type(exc).__name__}: {exc}") from exc
        if manifest.get("format") != BUNDLE_FORMAT:
            raise BundleError("unknown bundle format", where=f"{where}: manifest.json", expected=BUNDLE_FORMAT,
                              found=str(manifest.get("format")), hint="package the version again with this aiforge")
        unlisted = sorted(set(infos) - set(listed) - {MANIFEST, SIGNATURE})
        if unlisted:
            raise BundleError("the bundle holds files its manifest does not list: it was altered after it was made",
                              where=where, found=", ".join(unlisted), hint="package the version again")
        files: dict[str, bytes] = {}
        for name, entry in sorted(listed.items()):
            info = infos.get(name)
            if info is None:
                raise BundleError(f"the bundle lacks '{name}', which its manifest lists", where=where,
                                  hint="package the version again")
            if info.file_size != entry["bytes"] or info.file_size > MAX_ENTRY_BYTES:
                raise BundleError(f"'{name}' is {info.file_size} bytes, the manifest says {entry['bytes']}: the "
                                  "bundle was altered after it was made", where=where, hint="package the version again")
            data = _read(zf, info, where)
            digest = hashlib.sha256(data).hexdigest()
            if digest != entry["sha256"]:
                raise BundleError(f"'{name}' does not match its SHA-256 in the manifest: the bundle was altered after "
                                  "it was made", where=where, expected=entry["sha256"], found=digest,
                                  hint="package the version again; do not load this file")
            files[name] = data
        signature = json.loads(_read(zf, infos[SIGNATURE], where)) if SIGNATURE in infos else None
    signed_by, trusted = _check_signature(manifest_bytes, signature, trusted_keys, where)
    if MODEL_FILE not in files:
        raise BundleError("the bundle holds no model", where=where, expected=MODEL_FILE)
    return Bundle(path, manifest, files, signed_by, trusted)


def import_bundle(registry: ModelRegistry, bundle: Bundle, *, to: Alias | None = Alias.PRODUCTION) -> ModelVersion:
    """Store a verified bundle's model and documents in ``registry``'s workspace and register the version (under
    the bundle's name; the number is the workspace's next unless the same model is there already), then give it
    the alias ``to``. Its lineage records the bundle it came from."""
    store = registry.workspace.artifacts
    model = bundle.manifest["model"]
    artifact = store.put_bytes(bundle.files[MODEL_FILE])
    documents = {name[len(DOCUMENTS):]: store.put_bytes(data) for name, data in bundle.files.items()
                 if name.startswith(DOCUMENTS)}
    lineage = {**model["lineage"], "bundle": {"file": str(bundle.path), "name": model["name"],
                                              "version": model["version"], "signed_by": bundle.signed_by,
                                              "manifest_sha256": hashlib.sha256(_json_bytes(bundle.manifest))
                                              .hexdigest()}}
    version = registry.register(name=model["name"], run_id=model["run_id"], artifact=artifact,
                                learner=model["learner"], metrics=model["metrics"], gate=model["gate"],
                                lineage=lineage, accepted=model["status"] == VersionStatus.ACCEPTED.value,
                                documents=lambda number: documents)
    if to is not None and version.alias is not to:
        version = registry.promote(version.name, version.version, to)
    return version


def input_schema(model: Any, background: bytes | None) -> dict[str, Any]:
    """The model's input columns in order, each with its kind (number, category or text, as the model's
    ``FeatureSet`` has it) and, from the stored training rows, its Arrow type."""
    types: dict[str, str] = {}
    if background is not None:
        import pyarrow.parquet as pq

        types = {f.name: str(f.type) for f in pq.read_schema(io.BytesIO(background))}
    features = getattr(model, "features", None)
    numeric = set(getattr(features, "numeric", []))
    text = set(getattr(features, "text", ()))
    columns = [{"name": c, "kind": "number" if c in numeric else "text" if c in text else "category",
                "type": types.get(c)} for c in model.input_columns]
    return {"columns": columns, "target": getattr(model, "target", None),
            "task": getattr(getattr(model, "task", None), "value", None),
            "classes": [str(c) for c in getattr(model, "classes", []) or []]}


def environment_lock(optional: Sequence[str] = ()) -> list[str]:
    """``name==version`` of every installed distribution aiforge needs to run, plus the ``optional`` ones named
    and everything they need in turn, sorted by name (the environment a bundle was made in)."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    pinned: dict[str, str] = {}
    queue = ["aiforge", *optional]
    while queue:
        name = canonicalize_name(queue.pop())
        if name in pinned:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        pinned[name] = f"{dist.metadata['Name']}=={dist.version}"
        for text in dist.requires or []:
            try:
                requirement = Requirement(text)
            except InvalidRequirement:
                continue
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                queue.append(requirement.name)
    return [pinned[k] for k in sorted(pinned)]


def extra_distributions(extra: str) -> list[str]:
    """The distributions that aiforge's pip ``extra`` installs beside its base dependencies."""
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        requires = metadata.distribution("aiforge").requires or []
    except metadata.PackageNotFoundError:
        return []
    names = []
    for text in requires:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        marker = requirement.marker
        if marker is not None and marker.evaluate({"extra": extra}) and not marker.evaluate({"extra": ""}):
            names.append(requirement.name)
    return names


def make_signing_key() -> tuple[bytes, bytes]:
    """A new Ed25519 key pair: the private key (PEM, PKCS#8, unencrypted) and the public key (PEM)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private = Ed25519PrivateKey.generate()
    return (private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()),
            private.public_key().public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.SubjectPublicKeyInfo))


def public_key_id(public_key: bytes) -> str:
    """A short id of an Ed25519 public key: the first 16 hex digits of the SHA-256 of its raw bytes."""
    return hashlib.sha256(_raw_public(_load_public(public_key, "public key"))).hexdigest()[:16]


def _optional_needs(version: ModelVersion) -> list[str]:
    """The optional distributions serving ``version`` needs: its learner's, and ONNX's when ONNX Runtime serves."""
    from aiforge.learn import LEARNERS

    needs: list[str] = []
    learner = LEARNERS.get(version.learner)
    if learner is not None and learner.requires:
        needs += metadata.packages_distributions().get(learner.requires, [learner.requires])
    if learner is not None and learner.extra:
        needs += extra_distributions(learner.extra)  # e.g. transformers: torch, tokenizers, the packaged MiniLM
    if "onnx" in version.documents:
        needs += _ONNX_DISTRIBUTIONS
    return needs


def _sign(manifest: bytes, private_pem: bytes) -> dict[str, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(private_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise BundleError("the signing key is not a PEM private key", found=str(exc).splitlines()[0],
                          hint="make a key pair with 'aiforge keygen'") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise BundleError("the signing key is not an Ed25519 key", found=type(key).__name__,
                          hint="make a key pair with 'aiforge keygen'")
    raw = _raw_public(key.public_key())
    return {"algorithm": "ed25519", "key_id": hashlib.sha256(raw).hexdigest()[:16],
            "public_key": base64.b64encode(raw).decode(), "signature": base64.b64encode(key.sign(manifest)).decode()}


def _check_signature(manifest: bytes, signature: dict[str, Any] | None, trusted_keys: Sequence[bytes],
                     where: str) -> tuple[str | None, bool]:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    trusted = {_raw_public(_load_public(k, "trusted key")) for k in trusted_keys}
    if signature is None:
        if trusted:
            raise BundleError("the bundle is not signed, and a signature by a trusted key is required", where=where,
                              hint="package it with --sign-key (a key from 'aiforge keygen' whose public key is "
                              "trusted here)")
        return None, False
    try:
        raw = base64.b64decode(signature["public_key"], validate=True)
        sig = base64.b64decode(signature["signature"], validate=True)
        public = Ed25519PublicKey.from_public_bytes(raw)
        if signature.get("algorithm") != "ed25519":
            raise ValueError(f"algorithm {signature.get('algorithm')!r}")
    except (KeyError, ValueError, TypeError) as exc:
        raise BundleError("the bundle's signature.json is malformed", where=where, expected="an ed25519 signature",
                          found=str(exc)) from exc
    key_id = hashlib.sha256(raw).hexdigest()[:16]
    if trusted and raw not in trusted:
        raise BundleError(f"the bundle is signed by key {key_id}, which is not trusted here", where=where,
                          found=key_id, hint="trust that key's public key (--trusted-key), or package the bundle with "
                          "a trusted key")
    try:
        public.verify(sig, manifest)
    except InvalidSignature as exc:
        raise BundleError(f"the signature does not match the manifest (key {key_id}): the bundle was altered after "
                          "it was signed", where=where,
                          hint="do not load this file; package the version again") from exc
    return key_id, bool(trusted)


def _load_public(pem: bytes, what: str) -> Any:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise BundleError(f"the {what} is not a PEM public key", found=str(exc).splitlines()[0],
                          hint="use the .pub file 'aiforge keygen' wrote") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise BundleError(f"the {what} is not an Ed25519 public key", found=type(key).__name__,
                          hint="use the .pub file 'aiforge keygen' wrote")
    return key


def _raw_public(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return bytes(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


def _read(zf: zipfile.ZipFile, info: zipfile.ZipInfo, where: str) -> bytes:
    if info.file_size > MAX_ENTRY_BYTES:
        raise BundleError(f"'{info.filename}' declares {info.file_size} bytes, more than a bundle entry may hold",
                          where=where)
    try:
        return zf.read(info)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:  # a CRC error: the bytes were changed in place
        raise BundleError(f"'{info.filename}' cannot be read: the bundle is damaged or was altered", where=where,
                          found=str(exc), hint="package the version again") from exc


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, indent=1, default=str).encode()


def _installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
