"""`aiforge encryption`: the data keys that encrypt a workspace's artifacts at rest (not the API keys)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import click

from aiforge.cli._common import handles_errors, json_option, settings

__all__ = ["encryption"]

_KEY_FILE = click.Path(dir_okay=False, path_type=Path)


@click.group(epilog="""\b
Examples:
  aiforge encryption init --key-file ~/.aiforge-key        # a new key, in a file only you may read
  export AIFORGE_ENCRYPTION_KEY_FILE=~/.aiforge-key
  aiforge encryption enable                                # encrypt the existing artifacts in place
  aiforge encryption status                                # files per key id
  aiforge encryption init --key-file ~/.aiforge-key-2
  aiforge encryption rotate --new-key-file ~/.aiforge-key-2
  export AIFORGE_ENCRYPTION_KEY_FILE=~/.aiforge-key-2      # the old key is retired
""")
def encryption() -> None:
    """Encryption at rest of the workspace's artifacts (snapshots, models, cards, reports): AES-256-GCM.

    The data key comes from AIFORGE_ENCRYPTION_KEY_FILE (a file holding it, not readable by other users)
    or AIFORGE_ENCRYPTION_KEY (base64 of 32 bytes). An encrypted workspace opens only with its key; the
    error names the key id it expects. A new workspace opened with a key is encrypted from the start.
    Stop servers and runs of the workspace while 'enable' or 'rotate' runs; both resume when rerun.
    These are data keys; API keys of the server are 'aiforge keys'.
    """


def _with_key_file(ctx: click.Context, key_file: Path | None) -> Any:
    chosen = settings(ctx)
    if key_file is not None:
        chosen = dataclasses.replace(chosen, encryption_key=None, encryption_key_file=key_file.absolute())
    return chosen


def _existing_root(ctx: click.Context, key_file: Path | None = None) -> Any:
    from aiforge.errors import WorkspaceError

    chosen = _with_key_file(ctx, key_file)
    if not chosen.root.is_dir():
        raise WorkspaceError("no workspace here yet", where=str(chosen.root),
                             hint="point --workspace / AIFORGE_WORKSPACE at an existing one")
    return chosen


@encryption.command("init")
@click.option("--key-file", type=_KEY_FILE, default=None,
              help="Write the key to this new file (permissions 0600; an existing file is never overwritten). "
              "Without it the key is printed once on stdout.")
@json_option
@handles_errors
def encryption_init(key_file: Path | None, as_json: bool) -> None:
    """Generate a new 256-bit data key (it touches no workspace: 'enable' or 'rotate' puts it to use)."""
    from aiforge.cli._console import err, print_json
    from aiforge.workspace import EncryptionKey

    key = EncryptionKey.generate()
    if key_file is not None:
        key.write_file(key_file)
    if as_json:
        print_json({"key_id": key.id, "key_file": str(key_file) if key_file else None,
                    **({} if key_file else {"key": key.to_text()})})
        return
    if key_file is None:
        click.echo(key.to_text())
        err.print(f"key id {key.id}. Store the key above now (it is not shown again) and hand it over as "
                  "AIFORGE_ENCRYPTION_KEY, or better write it to a file with --key-file.", highlight=False)
    else:
        err.print(f"wrote key {key.id} to {key_file} (0600). Next: export AIFORGE_ENCRYPTION_KEY_FILE={key_file} "
                  "and 'aiforge encryption enable' (or 'rotate --new-key-file'). Keep a backup: without the key "
                  "the artifacts cannot be read.", highlight=False)


@encryption.command("enable")
@click.option("--key-file", type=_KEY_FILE, default=None,
              help="The key file (default: AIFORGE_ENCRYPTION_KEY_FILE, or AIFORGE_ENCRYPTION_KEY).")
@json_option
@click.pass_context
@handles_errors
def encryption_enable(ctx: click.Context, key_file: Path | None, as_json: bool) -> None:
    """Encrypt every plaintext artifact of the workspace in place, one file at a time (atomic replace).

    From its start the workspace opens only with the key. Killed midway, it resumes when run again:
    files already encrypted are skipped.
    """
    from aiforge.cli._console import err, print_json
    from aiforge.workspace import EncryptionError, enable_encryption

    chosen = _existing_root(ctx, key_file)
    key = chosen.key()
    if key is None:
        raise EncryptionError("no encryption key was given", expected="--key-file FILE, AIFORGE_ENCRYPTION_KEY_FILE "
                              "or AIFORGE_ENCRYPTION_KEY", hint="create one with 'aiforge encryption init --key-file "
                              "FILE'")
    done = enable_encryption(chosen.root, key, artifacts=chosen.artifact_store())
    if as_json:
        print_json(done.to_json())
    else:
        err.print(f"workspace {chosen.root} is encrypted with key {done.key_id}: {done.converted} artifacts encrypted "
                  f"now, {done.skipped} already were", highlight=False)


@encryption.command("rotate")
@click.option("--new-key-file", type=_KEY_FILE, required=True,
              help="The new key (from 'aiforge encryption init --key-file FILE').")
@click.option("--key-file", type=_KEY_FILE, default=None,
              help="The current key file (default: AIFORGE_ENCRYPTION_KEY_FILE, or AIFORGE_ENCRYPTION_KEY).")
@json_option
@click.pass_context
@handles_errors
def encryption_rotate(ctx: click.Context, new_key_file: Path, key_file: Path | None, as_json: bool) -> None:
    """Re-encrypt every artifact under the key in --new-key-file; then the current key is retired.

    New artifacts go under the new key from the start. Killed midway, it resumes when run again with the
    same keys (files already under the new key are skipped). Afterwards point AIFORGE_ENCRYPTION_KEY_FILE
    at the new key and restart servers; the old key no longer opens the workspace.
    """
    from aiforge.cli._console import err, print_json
    from aiforge.workspace import EncryptionError, EncryptionKey, rotate_encryption

    chosen = _existing_root(ctx, key_file)
    old = chosen.key()
    if old is None:
        raise EncryptionError("the current encryption key was not given", expected="--key-file FILE, "
                              "AIFORGE_ENCRYPTION_KEY_FILE or AIFORGE_ENCRYPTION_KEY",
                              hint="the current key decrypts what is re-encrypted under the new one")
    done = rotate_encryption(chosen.root, old, EncryptionKey.from_file(new_key_file.absolute()),
                             artifacts=chosen.artifact_store())
    if as_json:
        print_json(done.to_json())
    else:
        err.print(f"rotated to key {done.key_id}: {done.converted} artifacts re-encrypted, {done.skipped} already "
                  f"were. Key {done.retired} is retired: set AIFORGE_ENCRYPTION_KEY_FILE={new_key_file}, restart "
                  "servers, and destroy the old key once backups made under it are gone.", highlight=False)


@encryption.command("status")
@json_option
@click.pass_context
@handles_errors
def encryption_status(ctx: click.Context, as_json: bool) -> None:
    """Whether the workspace is encrypted, the key id it expects, and its artifact files per key id (no key needed)."""
    from aiforge.cli._console import out, print_json, table
    from aiforge.workspace import encryption_status as status_of

    chosen = _existing_root(ctx)
    found = status_of(chosen.root, artifacts=chosen.artifact_store())
    if as_json:
        print_json(found.to_json())
        return
    state = found.state
    if state is None:
        out.print(f"workspace {found.root} is not encrypted")
    else:
        phase = "" if state.phase == "encrypted" else f" ({state.phase}: unfinished, rerun it)"
        out.print(f"workspace {found.root} is encrypted{phase}; new artifacts under key {state.key_id}"
                  + (f"; keys in use {', '.join(state.key_ids)}" if len(state.key_ids) > 1 else "")
                  + (f"; retired {', '.join(state.retired)}" if state.retired else ""))
    out.print(table("artifact files", ["key id", "files"], [[k, n] for k, n in found.files.items()]))
