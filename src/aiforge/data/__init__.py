"""Data engineering: sources, snapshots with profiles, and the held-out split."""

from aiforge.data._snapshot import (
    ColumnProfile,
    DatasetSnapshot,
    combine_sources,
    profile_table,
    write_snapshot,
)
from aiforge.data._sources import SOURCES, LoadedSource, Source, read_source
from aiforge.data._split import DataSplit, make_split

__all__ = [
    "SOURCES",
    "ColumnProfile",
    "DataSplit",
    "DatasetSnapshot",
    "LoadedSource",
    "Source",
    "combine_sources",
    "make_split",
    "profile_table",
    "read_source",
    "write_snapshot",
]
