"""Information extraction: structured fields pulled out of free text by rules and named entities.

Rules find what has a shape (amounts with a currency, dates, numbers, e-mail addresses, ids by regular
expression) and normalise it: an amount becomes a number and an ISO 4217 currency code (``$1,250.50`` ->
1250.5, USD; ``1.250,50 EUR`` -> 1250.5, EUR), a date an ISO date (``March 3, 2025``, ``3 Mar 2025``,
``2025-03-03``, ``03/04/2025`` by ``day_first``). Names (organisations, people, places) come from spaCy's entity
recogniser. Each field takes the first value found in the text, or null.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiforge.spec._nlp_steps import EXTRACT_KINDS, ExtractPattern, ExtractSpec

__all__ = ["ExtractedColumn", "extract_fields", "find_date", "find_email", "find_money", "find_number",
           "parse_amount"]

_CODES = ("USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "NZD", "INR", "CNY", "SEK", "NOK", "DKK", "PLN", "CZK",
          "HUF", "BRL", "MXN", "ZAR", "SGD", "HKD", "KRW", "TRY", "RUB")
_SYMBOLS = {"$": "USD", "US$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR", "₩": "KRW", "₺": "TRY",
            "R$": "BRL", "C$": "CAD", "A$": "AUD", "Fr.": "CHF"}
_WORDS = {"dollar": "USD", "dollars": "USD", "euro": "EUR", "euros": "EUR", "pound": "GBP", "pounds": "GBP",
          "yen": "JPY", "rupees": "INR", "francs": "CHF"}
_SCALES = {"k": 1e3, "thousand": 1e3, "m": 1e6, "mn": 1e6, "million": 1e6, "bn": 1e9, "b": 1e9, "billion": 1e9}

_NUM = r"\d(?:[\d,.']*\d)?"
_SYM = "|".join(re.escape(s) for s in sorted(_SYMBOLS, key=len, reverse=True))
_CODE = r"\b(?:" + "|".join(_CODES) + r")\b"
_WORD = r"\b(?:" + "|".join(_WORDS) + r")\b"
_SCALE = r"(?:\s?(?:k|thousand|mn|m|million|bn|b|billion)\b)?"
_MONEY = re.compile(
    rf"(?P<c1>{_SYM}|{_CODE})\s?(?P<n1>-?{_NUM})(?P<s1>{_SCALE})"
    rf"|(?P<n2>-?{_NUM})(?P<s2>{_SCALE})\s?(?P<c2>{_SYM}|{_CODE}|{_WORD})", re.IGNORECASE)
_NUMBER = re.compile(rf"(?<![\w.,])-?{_NUM}(?![\w])")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")

_MONTHS = {m: i + 1 for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                                           "nov", "dec"))}
_MONTH = r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?" \
         r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
_DATES = [
    ("ymd", re.compile(r"\b(?P<y>\d{4})[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})\b")),
    ("numeric", re.compile(r"\b(?P<a>\d{1,2})[-/.](?P<b>\d{1,2})[-/.](?P<y>\d{4}|\d{2})\b")),
    ("dmy", re.compile(rf"\b(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<m>{_MONTH})\.?,?\s+(?P<y>\d{{4}})\b",
                       re.IGNORECASE)),
    ("mdy", re.compile(rf"\b(?P<m>{_MONTH})\.?\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<y>\d{{4}})\b",
                       re.IGNORECASE)),
]


@dataclass(frozen=True)
class ExtractedColumn:
    """One new column: its name, Arrow type name (``double``, ``date32``, ``string``) and values."""

    name: str
    kind: str
    values: list[Any]


def parse_amount(text: str) -> float | None:
    """A written number as a float: ``1,234.56``, ``1.234,56``, ``1'234.5``, ``1234``; None if it is not one."""
    s = text.replace("'", "")
    negative = s.startswith("-")
    s = s.lstrip("-")
    if "," in s and "." in s:
        decimal = "," if s.rfind(",") > s.rfind(".") else "."
        s = s.replace("." if decimal == "," else ",", "").replace(decimal, ".")
    elif "," in s:
        head, _, tail = s.rpartition(",")
        s = s.replace(",", ".") if s.count(",") == 1 and len(tail) in (1, 2) else s.replace(",", "")
    elif s.count(".") > 1:
        s = s.replace(".", "")
    try:
        value = float(s)
    except ValueError:
        return None
    return -value if negative else value


def _currency(token: str) -> str:
    upper = token.upper()
    if upper in _CODES:
        return upper
    for symbol, code in _SYMBOLS.items():
        if symbol.upper() == upper:
            return code
    return _WORDS[token.lower()]


def _money(text: str) -> tuple[float, str, int, int] | None:
    for match in _MONEY.finditer(text):
        number, scale, currency = (match["n1"], match["s1"], match["c1"]) if match["n1"] else \
            (match["n2"], match["s2"], match["c2"])
        value = parse_amount(number)
        if value is None:
            continue
        factor = _SCALES.get(scale.strip().lower(), 1.0) if scale else 1.0
        return value * factor, _currency(currency), match.start(), match.end()
    return None


def find_money(text: str) -> tuple[float, str] | None:
    """The first amount with a currency in ``text``: (value, ISO 4217 code), or None."""
    found = _money(text)
    return (found[0], found[1]) if found else None


def _date(text: str, day_first: bool) -> tuple[dt.date, int, int] | None:
    found: list[tuple[int, int, dt.date]] = []
    for kind, pattern in _DATES:
        for match in pattern.finditer(text):
            year = int(match["y"])
            if kind == "numeric":
                year += 2000 if year < 100 else 0
                first, second = int(match["a"]), int(match["b"])
                # the order asked for, else the other where only it is a date (15/04: the 15th of April)
                orders = [(first, second), (second, first)] if day_first else [(second, first), (first, second)]
            else:
                orders = [(int(match["d"]), int(match["m"]) if kind == "ymd" else _MONTHS[match["m"][:3].lower()])]
            date = None
            for day, month in orders:
                try:
                    date = dt.date(year, month, day)
                    break
                except ValueError:
                    continue
            if date is not None:
                found.append((match.start(), match.end(), date))
                break
    if not found:
        return None
    start, end, date = min(found)
    return date, start, end


def find_date(text: str, *, day_first: bool = False) -> dt.date | None:
    """The first valid calendar date in ``text`` (a numeric date is read day first by ``day_first``, and the
    other way where only that is a date), or None."""
    found = _date(text, day_first)
    return found[0] if found else None


def find_number(text: str) -> float | None:
    """The first number in ``text`` (not part of a word), or None."""
    for match in _NUMBER.finditer(text):
        value = parse_amount(match.group())
        if value is not None:
            return value
    return None


def find_email(text: str) -> str | None:
    match = _EMAIL.search(text)
    return match.group() if match else None


def _pattern(rule: ExtractPattern) -> re.Pattern[str]:
    return re.compile(rule.pattern, re.IGNORECASE if rule.ignore_case else 0)


def extract_fields(texts: Sequence[str | None], spec: ExtractSpec) -> list[ExtractedColumn]:
    """The fields of ``spec`` found in each text (None where a text is null or holds none), as new columns in
    the order of ``spec.fields`` (a money field is followed by its ``_currency`` column). An entity field takes
    the first entity of its label that overlaps no value a rule took (so an invoice number or an amount is never
    an organisation's name)."""
    rules: dict[str, list[Any]] = {}
    taken: list[list[tuple[int, int]]] = [[] for _ in texts]
    for name, rule in spec.fields.items():
        if not isinstance(rule, ExtractPattern) and rule not in EXTRACT_KINDS:
            continue
        values: list[Any] = []
        for i, text in enumerate(texts):
            found = _rule(text, rule, spec.day_first) if text else None
            values.append(found[0] if found else None)
            if found:
                taken[i].append(found[1])
        rules[name] = values
    labels = sorted({r for r in spec.fields.values() if isinstance(r, str) and r not in EXTRACT_KINDS})
    entities = _entities(texts, labels, taken, spec) if labels else [{} for _ in texts]
    columns: list[ExtractedColumn] = []
    for name, rule in spec.fields.items():
        if rule == "money":
            columns.append(ExtractedColumn(name, "double", [v[0] if v else None for v in rules[name]]))
            columns.append(ExtractedColumn(f"{name}_currency", "string", [v[1] if v else None for v in rules[name]]))
        elif rule in ("date", "number", "email") or isinstance(rule, ExtractPattern):
            kind = {"date": "date32", "number": "double"}.get(rule, "string") if isinstance(rule, str) else "string"
            columns.append(ExtractedColumn(name, kind, rules[name]))
        else:
            columns.append(ExtractedColumn(name, "string", [found.get(str(rule)) for found in entities]))
    return columns


def _rule(text: str, rule: str | ExtractPattern, day_first: bool) -> tuple[Any, tuple[int, int]] | None:
    """A rule's value in ``text`` and where it was found."""
    if isinstance(rule, ExtractPattern):
        match = _pattern(rule).search(text)
        return (match.group(rule.group), match.span()) if match else None
    if rule == "money":
        money = _money(text)
        return ((money[0], money[1]), (money[2], money[3])) if money else None
    if rule == "date":
        date = _date(text, day_first)
        return (date[0], (date[1], date[2])) if date else None
    if rule == "number":
        for match in _NUMBER.finditer(text):
            value = parse_amount(match.group())
            if value is not None:
                return value, match.span()
        return None
    match = _EMAIL.search(text)
    return (match.group(), match.span()) if match else None


def _entities(texts: Sequence[str | None], labels: list[str], taken: list[list[tuple[int, int]]],
              spec: ExtractSpec) -> list[dict[str, str]]:
    """Per text, the first entity of each label clear of the spans in ``taken``."""
    from aiforge.errors import SpecError
    from aiforge.nlp._spacy import load_pipeline

    pipeline = load_pipeline(spec.model)
    known = set(pipeline.entity_labels)
    unknown = [lab for lab in labels if lab not in known]
    if unknown:
        raise SpecError(f"the spaCy pipeline {pipeline.name} does not predict {', '.join(unknown)}",
                        where=f"extract.fields ({spec.column})", expected="one of " + ", ".join(sorted(known)),
                        found=", ".join(unknown), hint="fine-tune a pipeline with these labels (aiforge nlp "
                        "train-ner) and name it in extract.model")
    firsts: list[dict[str, str]] = [{} for _ in texts]
    present = [i for i, t in enumerate(texts) if t]
    for i, found in zip(present, pipeline.entities([texts[i] or "" for i in present]), strict=True):
        for entity in found:
            if not any(entity.start < end and start < entity.end for start, end in taken[i]):
                firsts[i].setdefault(entity.label, entity.text.rstrip(" :;,"))
    return firsts
