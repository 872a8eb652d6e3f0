"""Which string columns hold free text: declared in the project file (``data.text_columns``), or
recognised by :func:`text_reason`'s rule, which says why, as task detection does.

The rule: a string column is text when its values average at least ``MIN_MEAN_CHARS`` characters
and ``MIN_MEAN_WORDS`` words, and at least ``MIN_DISTINCT_SHARE`` of them are distinct. Product codes,
country names and job titles fail the length or word test; a free-text field passes all three.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["MIN_DISTINCT_SHARE", "MIN_MEAN_CHARS", "MIN_MEAN_WORDS", "is_string_type", "text_reason"]

MIN_MEAN_CHARS = 30
MIN_MEAN_WORDS = 4
MIN_DISTINCT_SHARE = 0.5
SAMPLE_ROWS = 20_000  # the rule reads the first rows of a larger column: the statistics settle long before


def is_string_type(arrow_type: pa.DataType) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)
                or getattr(pa.types, "is_string_view", lambda _t: False)(arrow_type))


def text_reason(column: pa.ChunkedArray | pa.Array) -> str | None:
    """Why ``column`` is free text ("mean 104 characters, 17 words, 98% distinct"), or ``None`` when
    it is not (not a string column, or short, few-word or repetitive values)."""
    import pyarrow.compute as pc

    if not is_string_type(column.type):
        return None
    values = column.slice(0, SAMPLE_ROWS).drop_null()
    if len(values) == 0:
        return None
    chars = pc.mean(pc.utf8_length(values)).as_py() or 0.0
    # words: runs of non-space characters (the count of spaces between words, plus one)
    words = pc.mean(pc.add(pc.count_substring_regex(pc.utf8_trim_whitespace(values), r"\s+"), 1)).as_py() or 0.0
    distinct = pc.count_distinct(values).as_py() / len(values)
    if chars < MIN_MEAN_CHARS or words < MIN_MEAN_WORDS or distinct < MIN_DISTINCT_SHARE:
        return None
    return f"free text: mean {chars:.0f} characters, {words:.1f} words, {distinct:.0%} distinct values"
