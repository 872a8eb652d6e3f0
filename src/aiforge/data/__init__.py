"""Data engineering: sources, snapshots with profiles, personal data, the held-out split, reference statistics."""

from aiforge.data._bulk import FileSnapshot, file_snapshot
from aiforge.data._contract import ContractError, ContractReport, Violation, check_contract
from aiforge.data._diff import ColumnChange, SnapshotDiff, diff_tables
from aiforge.data._divergence import jensen_shannon, psi
from aiforge.data._etl import EtlResult, run_steps, step_batches
from aiforge.data._history import SnapshotLog, SnapshotRecord, read_sources, source_records
from aiforge.data._pii import (
    KAnonymityResult,
    PiiFinding,
    PiiReport,
    Protected,
    detect_pii,
    k_anonymity,
    key_fingerprint,
    mask,
    mask_violations,
    protect,
    pseudonym,
)
from aiforge.data._reference import (
    Bins,
    CategoricalReference,
    ColumnReference,
    NumericReference,
    ReferenceProfile,
    TextReference,
    bin_counts,
    category_counts,
)
from aiforge.data._snapshot import (
    ColumnProfile,
    DatasetSnapshot,
    combine_sources,
    profile_table,
    write_snapshot,
)
from aiforge.data._source_schema import SchemaChange, SchemaChanged
from aiforge.data._sources import SOURCES, LoadedSource, Source, read_source, resumes
from aiforge.data._split import DataSplit, make_split

__all__ = [
    "SOURCES",
    "Bins",
    "CategoricalReference",
    "ColumnChange",
    "ColumnProfile",
    "ColumnReference",
    "ContractError",
    "ContractReport",
    "DataSplit",
    "DatasetSnapshot",
    "KAnonymityResult",
    "EtlResult",
    "FileSnapshot",
    "LoadedSource",
    "NumericReference",
    "PiiFinding",
    "PiiReport",
    "Protected",
    "ReferenceProfile",
    "SchemaChange",
    "SchemaChanged",
    "SnapshotDiff",
    "SnapshotLog",
    "SnapshotRecord",
    "Source",
    "TextReference",
    "Violation",
    "bin_counts",
    "category_counts",
    "check_contract",
    "combine_sources",
    "detect_pii",
    "diff_tables",
    "file_snapshot",
    "jensen_shannon",
    "k_anonymity",
    "key_fingerprint",
    "make_split",
    "mask",
    "mask_violations",
    "profile_table",
    "protect",
    "psi",
    "pseudonym",
    "read_source",
    "read_sources",
    "resumes",
    "run_steps",
    "source_records",
    "step_batches",
    "write_snapshot",
]
