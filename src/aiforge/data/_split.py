"""The held-out split: row indices drawn once, stored as an artifact, reused by every later stage."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from aiforge.errors import DataError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from aiforge.spec import SplitSpec
    from aiforge.workspace import ArtifactStore

__all__ = ["DataSplit", "make_split"]


@dataclass(frozen=True)
class DataSplit:
    """Train and test row positions of a snapshot."""

    artifact: str
    n_train: int
    n_test: int
    stratified: bool
    seed: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DataSplit:
        return cls(**data)

    def indices(self, store: ArtifactStore) -> tuple[np.ndarray, np.ndarray]:
        import numpy as np

        positions = np.frombuffer(store.get_bytes(self.artifact), dtype="<i8")
        return positions[: self.n_train], positions[self.n_train :]


def make_split(
    target: pd.Series, spec: SplitSpec, *, classification: bool, store: ArtifactStore
) -> DataSplit:
    """Draw a (stratified, for classification) train/test split and store its indices."""
    import numpy as np
    from sklearn.model_selection import train_test_split

    positions = np.arange(len(target))
    stratify = None
    if classification and spec.stratify:
        counts = target.value_counts()
        if counts.min() < 2:
            rare = ", ".join(f"{k!r} ({v})" for k, v in counts[counts < 2].items())
            raise DataError(
                "cannot stratify the split: some classes have fewer than 2 rows",
                found=rare,
                hint="add rows for those classes, drop them, or set data.split.stratify: false",
            )
        stratify = target.to_numpy()
    try:
        train, test = train_test_split(
            positions, test_size=spec.test_size, random_state=spec.seed, stratify=stratify
        )
    except ValueError as exc:
        raise DataError(
            "cannot split the data", found=str(exc),
            hint="use more rows or a different data.split.test_size",
        ) from exc
    # raw little-endian int64, train then test: byte-identical for the same split
    digest = store.put_bytes(np.concatenate([np.sort(train), np.sort(test)]).astype("<i8").tobytes())
    return DataSplit(digest, len(train), len(test), stratify is not None, spec.seed)
