"""Write the generated reference docs (docs/reference/) from the code; with --check, only say which are stale.

    .venv/bin/python scripts/gen_docs.py            # rewrite docs/reference/*
    .venv/bin/python scripts/gen_docs.py --check    # exit 1 naming the files that differ (as the tests do)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aiforge.cli import cli
from aiforge.cli._reference import generated_docs

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file is stale")
    args = parser.parse_args()
    stale = []
    for relative, text in generated_docs(cli).items():
        path = REPO / relative
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(relative)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    verb = "stale" if args.check else "wrote"
    for relative in stale:
        print(f"{verb} {relative}")
    if not stale:
        print("the generated docs are up to date")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
