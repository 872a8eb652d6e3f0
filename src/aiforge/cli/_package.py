"""`aiforge package`, `aiforge verify`, `aiforge keygen`: one verifiable file per model version, and the keys
that sign it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from aiforge.cli._common import handles_errors, json_option, settings
from aiforge.cli._completion import complete_model_names

__all__ = ["keygen", "package", "trusted_key_option", "trusted_keys", "verify"]

SIGNING_KEY_ENV = "AIFORGE_SIGNING_KEY"  # a path to the Ed25519 private key (PEM) that signs bundles
TRUSTED_KEY_ENV = "AIFORGE_TRUSTED_KEY"  # a path to the public key (PEM) bundles must be signed with


def trusted_keys(paths: tuple[Path, ...]) -> list[bytes]:
    return [p.read_bytes() for p in paths]


trusted_key_option = click.option(
    "--trusted-key", "trusted_key_files", multiple=True, envvar=TRUSTED_KEY_ENV,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help=f"An Ed25519 public key (PEM, from 'aiforge keygen') the bundle must be signed with; repeatable. Given one, "
    f"an unsigned bundle or one signed by another key is refused. Default: ${TRUSTED_KEY_ENV}.")


@click.command(epilog="""\b
Examples:
  aiforge package income 3                               # income-v3.aiforge.zip
  aiforge keygen --output release                        # release.key (keep it secret) and release.pub
  aiforge package income 3 --sign-key release.key --output dist/income-v3.aiforge.zip
  aiforge package income 3 --sign-key release.key --docker build/income   # + Dockerfile and build context
  aiforge serve --bundle dist/income-v3.aiforge.zip --trusted-key release.pub --require-signature""")
@click.argument("name", shell_complete=complete_model_names)
@click.argument("version", type=int)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The bundle file to write (default NAME-vVERSION.aiforge.zip).")
@click.option("--sign-key", "sign_key", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              envvar=SIGNING_KEY_ENV, default=None,
              help=f"Sign the bundle with this Ed25519 private key (PEM, from 'aiforge keygen'). Default: "
              f"${SIGNING_KEY_ENV}.")
@click.option("--docker", "docker_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also write a Docker build context into this folder: a multi-stage Dockerfile (non-root, health "
              "check, pinned versions) that serves the bundle.")
@click.option("--aiforge-wheel", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="--docker: install aiforge in the image from this wheel (default: aiforge==VERSION from the "
              "package index).")
@json_option
@click.pass_context
@handles_errors
def package(ctx: click.Context, name: str, version: int, output: Path | None, sign_key: Path | None,
            docker_dir: Path | None, aiforge_wheel: Path | None, as_json: bool) -> None:
    """Write model NAME version VERSION as one bundle file: the model, its input schema, the environment lock, the
    model card and a SHA-256 manifest, optionally signed (Ed25519).

    'aiforge serve --bundle FILE' verifies it before loading; 'aiforge verify FILE' checks it.
    """
    from aiforge.cli._console import err, print_json
    from aiforge.registry import ModelRegistry, write_bundle
    from aiforge.workspace import Workspace

    registry = ModelRegistry(Workspace.open(settings(ctx), create=False))
    v = registry.get(name, version)
    target = output or Path(f"{name}-v{version}.aiforge.zip")
    bundle = write_bundle(registry, v, target, signing_key=sign_key.read_bytes() if sign_key else None)
    info: dict[str, Any] = bundle.to_json()
    if docker_dir is not None:
        from aiforge.registry import write_docker_context

        context = write_docker_context(bundle, docker_dir, aiforge_wheel=aiforge_wheel)
        info["docker"] = {"context": str(docker_dir), "files": context}
    if as_json:
        print_json(info)
        return
    signed = f", signed by key {bundle.signed_by}" if bundle.signed_by else ", unsigned"
    err.print(f"{name} v{version} -> {target} ({len(bundle.files)} files{signed})", highlight=False)
    if docker_dir is not None:
        err.print(f"docker build context -> {docker_dir}: docker build -t {name}:v{version} {docker_dir}",
                  highlight=False)


@click.command()
@click.argument("bundle_file", type=click.Path(dir_okay=False, path_type=Path))
@trusted_key_option
@json_option
@handles_errors
def verify(bundle_file: Path, trusted_key_files: tuple[Path, ...], as_json: bool) -> None:
    """Check the bundle BUNDLE_FILE: every file against the manifest's SHA-256, no file added, and the signature
    (against --trusted-key when given). Exit 0 when it holds, 2 otherwise. Nothing is unpickled."""
    from aiforge.cli._console import print_json
    from aiforge.registry import verify_bundle

    bundle = verify_bundle(bundle_file, trusted_keys=trusted_keys(trusted_key_files))
    if as_json:
        print_json(bundle.to_json())
        return
    signed = ("signed by trusted key " if bundle.trusted else "signed by key ") + bundle.signed_by \
        if bundle.signed_by else "unsigned"
    click.echo(f"✓ {bundle_file}: {bundle.name} v{bundle.version}, {len(bundle.files)} files verified, {signed}")


@click.command()
@click.option("--output", "prefix", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Writes PREFIX.key (the private key, readable only by you) and PREFIX.pub (the public key).")
@json_option
@handles_errors
def keygen(prefix: Path, as_json: bool) -> None:
    """Make an Ed25519 key pair for signing bundles: 'aiforge package --sign-key PREFIX.key' signs, and
    'aiforge serve --bundle FILE --trusted-key PREFIX.pub' accepts only bundles signed with it."""
    from aiforge.cli._console import print_json
    from aiforge.errors import AiforgeError
    from aiforge.registry import make_signing_key, public_key_id

    private, public = make_signing_key()
    key_file, pub_file = Path(f"{prefix}.key"), Path(f"{prefix}.pub")
    existing = [str(p) for p in (key_file, pub_file) if p.exists()]
    if existing:
        raise AiforgeError("a key file is there already: keys are never overwritten", found=", ".join(existing),
                           hint="choose another --output, or remove the old files on purpose")
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(private)
    pub_file.write_bytes(public)
    key_id = public_key_id(public)
    if as_json:
        print_json({"private_key": str(key_file), "public_key": str(pub_file), "key_id": key_id})
    else:
        click.echo(f"wrote {key_file} (private: keep it secret) and {pub_file} (public); key id {key_id}")
