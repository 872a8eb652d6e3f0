"""Rule conditions and values: a small, safe expression language over Python's own syntax.

An expression is parsed with :mod:`ast` and every node is checked against a whitelist; nothing is ever
passed to ``eval``. What is allowed: names of facts, number / text / true / false literals, lists of
literals (for ``in``), ``and or not``, comparisons (``== != < <= > >= in not in``, chained), arithmetic
(``+ - * / // %``), ``x if c else y`` and the functions in :data:`FUNCTIONS`. Attribute access, subscripts,
lambdas, comprehensions and any other call are refused with the position of the offending part.

Missing values follow SQL's three-valued logic: a comparison or arithmetic with a missing fact is
*unknown* (``None``); ``and`` is false when one side is false, ``or`` true when one side is true, else
unknown; a rule fires only when its condition is ``True``. ``is_missing(x)`` asks directly.

Types are checked before anything runs (:meth:`Expression.check`): a fact is ``number``, ``text`` or
``bool``; comparing a number with text, adding text to a number or using a number as a condition is an
error naming both sides.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["FUNCTIONS", "Expression", "ExpressionError", "Kind", "compile_expression", "kind_of"]

Kind = Literal["number", "text", "bool", "any"]
Value = Any  # float | int | str | bool | None
Evaluator = Callable[[Mapping[str, Value]], Value]


class ExpressionError(ValueError):
    """An expression that does not parse, uses something outside the whitelist, or mixes types."""


def kind_of(value: object) -> Kind:
    """The kind of a Python value as the language sees it."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "text"
    return "any"


def _missing(value: Value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _numeric(fn: Callable[..., Value]) -> Callable[..., Value]:
    def wrapped(*args: Value) -> Value:
        return None if any(_missing(a) for a in args) else fn(*args)
    return wrapped


@dataclass(frozen=True)
class _Function:
    arity: tuple[int, int]  # least and most arguments
    args: Kind  # the kind every argument must have ('any': whatever)
    returns: Kind | Literal["same"]
    call: Callable[..., Value]


FUNCTIONS: dict[str, _Function] = {
    "is_missing": _Function((1, 1), "any", "bool", lambda x: _missing(x)),
    "abs": _Function((1, 1), "number", "number", _numeric(abs)),
    "min": _Function((2, 8), "number", "number", _numeric(min)),
    "max": _Function((2, 8), "number", "number", _numeric(max)),
    "round": _Function((1, 2), "number", "number", _numeric(lambda x, n=0: round(x, int(n)))),
    "lower": _Function((1, 1), "text", "text", _numeric(str.lower)),
    "upper": _Function((1, 1), "text", "text", _numeric(str.upper)),
    "coalesce": _Function((2, 8), "any", "same", lambda *a: next((x for x in a if not _missing(x)), None)),
}

_ARITHMETIC: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
}
_ORDER: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.Eq: operator.eq, ast.NotEq: operator.ne,
}
_SYMBOLS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=", ast.In: "in",
            ast.NotIn: "not in", ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//",
            ast.Mod: "%"}


@dataclass(frozen=True)
class Expression:
    """A checked, compiled expression: ``names`` it reads, ``conditions`` (how many comparisons and
    ``is_missing`` tests it makes: its specificity), and ``evaluate(facts)``."""

    text: str
    tree: ast.expr = field(repr=False, compare=False)
    names: frozenset[str]
    conditions: int
    evaluate: Evaluator = field(repr=False, compare=False)

    def check(self, kinds: Mapping[str, Kind]) -> Kind:
        """The kind of the expression given the kind of each fact; ``ExpressionError`` on an unknown fact
        or a type error (both sides named)."""
        return _infer(self.tree, kinds, self.text)


def compile_expression(text: str) -> Expression:
    """Parse ``text`` and build its evaluator; ``ExpressionError`` saying what is not allowed and where."""
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError("an expression may not be empty")
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise ExpressionError(f"{text!r} is not a valid expression: {exc.msg} (column {exc.offset})") from None
    names: set[str] = set()
    counter = [0]
    evaluate = _compile(tree, text, names, counter)
    return Expression(text=text, tree=tree, names=frozenset(names), conditions=counter[0], evaluate=evaluate)


def _refuse(node: ast.AST, text: str, what: str) -> ExpressionError:
    column = getattr(node, "col_offset", 0) + 1
    return ExpressionError(f"{what} is not allowed in a rule expression (column {column} of {text!r}); allowed: "
                           "facts, literals, and/or/not, comparisons, + - * / // %, 'x if c else y', "
                           + ", ".join(f"{n}()" for n in FUNCTIONS))


def _compile(node: ast.expr, text: str, names: set[str], counter: list[int]) -> Evaluator:
    if isinstance(node, ast.Constant):
        value = node.value
        if value is None or isinstance(value, bool | int | float | str):
            return lambda facts: value
        raise _refuse(node, text, f"the literal {value!r}")
    if isinstance(node, ast.Name):
        if node.id in ("true", "false", "none"):
            lowered = {"true": True, "false": False, "none": None}[node.id]
            return lambda facts: lowered
        name = node.id
        names.add(name)

        def fact(facts: Mapping[str, Value]) -> Value:
            value = facts.get(name)
            return None if _missing(value) else value
        return fact
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        items = [_compile(e, text, names, counter) for e in node.elts]
        if not all(isinstance(e, ast.Constant) for e in node.elts):
            raise _refuse(node, text, "a list of anything but literals")
        return lambda facts: [i(facts) for i in items]
    if isinstance(node, ast.BoolOp):
        parts = [_compile(v, text, names, counter) for v in node.values]
        return _and(parts) if isinstance(node.op, ast.And) else _or(parts)
    if isinstance(node, ast.UnaryOp):
        operand = _compile(node.operand, text, names, counter)
        if isinstance(node.op, ast.Not):
            return lambda facts: (None if (v := operand(facts)) is None else not v)
        if isinstance(node.op, ast.USub):
            return lambda facts: (None if (v := operand(facts)) is None else -v)
        if isinstance(node.op, ast.UAdd):
            return operand
        raise _refuse(node, text, "the operator '~'")
    if isinstance(node, ast.BinOp):
        op = _ARITHMETIC.get(type(node.op))
        if op is None:
            raise _refuse(node, text, f"the operator {type(node.op).__name__}")
        left, right = _compile(node.left, text, names, counter), _compile(node.right, text, names, counter)

        def arithmetic(facts: Mapping[str, Value]) -> Value:
            a, b = left(facts), right(facts)
            if a is None or b is None:
                return None
            try:
                return op(a, b)
            except ZeroDivisionError:
                return None  # unknown, like SQL's NULL for x / 0
        return arithmetic
    if isinstance(node, ast.Compare):
        return _compare(node, text, names, counter)
    if isinstance(node, ast.IfExp):
        test = _compile(node.test, text, names, counter)
        then, other = _compile(node.body, text, names, counter), _compile(node.orelse, text, names, counter)
        return lambda facts: (None if (t := test(facts)) is None else then(facts) if t else other(facts))
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            called = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
            raise _refuse(node, text, f"calling {called}()")
        if node.keywords:
            raise _refuse(node, text, "a keyword argument")
        fn = FUNCTIONS[node.func.id]
        low, high = fn.arity
        if not low <= len(node.args) <= high:
            raise ExpressionError(f"{node.func.id}() takes {low if low == high else f'{low} to {high}'} "
                                  f"argument(s), {len(node.args)} given, in {text!r}")
        if node.func.id == "is_missing":
            counter[0] += 1
        args = [_compile(a, text, names, counter) for a in node.args]
        call = fn.call
        return lambda facts: call(*(a(facts) for a in args))
    raise _refuse(node, text, _describe(node))


def _describe(node: ast.AST) -> str:
    return {ast.Attribute: "attribute access ('.')", ast.Subscript: "indexing ('[...]')",
            ast.Lambda: "lambda", ast.ListComp: "a comprehension", ast.GeneratorExp: "a comprehension",
            ast.DictComp: "a comprehension", ast.SetComp: "a comprehension", ast.Dict: "a dict",
            ast.NamedExpr: "':='", ast.JoinedStr: "an f-string", ast.Await: "await", ast.Starred: "'*'"}.get(
        type(node), type(node).__name__)


def _and(parts: list[Evaluator]) -> Evaluator:
    def both(facts: Mapping[str, Value]) -> Value:
        unknown = False
        for part in parts:
            v = part(facts)
            if v is None:
                unknown = True
            elif not v:
                return False
        return None if unknown else True
    return both


def _or(parts: list[Evaluator]) -> Evaluator:
    def either(facts: Mapping[str, Value]) -> Value:
        unknown = False
        for part in parts:
            v = part(facts)
            if v is None:
                unknown = True
            elif v:
                return True
        return None if unknown else False
    return either


def _compare(node: ast.Compare, text: str, names: set[str], counter: list[int]) -> Evaluator:
    operands = [_compile(node.left, text, names, counter)] + [_compile(c, text, names, counter)
                                                            for c in node.comparators]
    steps: list[Callable[[Any, Any], bool]] = []
    for op in node.ops:
        counter[0] += 1
        if type(op) in _ORDER:
            steps.append(_ORDER[type(op)])
        elif isinstance(op, ast.In):
            steps.append(lambda a, b: a in b)
        elif isinstance(op, ast.NotIn):
            steps.append(lambda a, b: a not in b)
        else:
            raise _refuse(node, text, "'is' / 'is not' (use is_missing(x))")

    def compare(facts: Mapping[str, Value]) -> Value:
        values = [o(facts) for o in operands]
        unknown = False
        for step, a, b in zip(steps, values, values[1:], strict=False):
            if a is None or b is None:
                unknown = True
                continue
            if not step(a, b):
                return False
        return None if unknown else True
    return compare


def _infer(node: ast.expr, kinds: Mapping[str, Kind], text: str) -> Kind:
    """The kind of ``node``; the tree was already whitelisted by ``_compile``."""
    if isinstance(node, ast.Constant):
        return "any" if node.value is None else kind_of(node.value)
    if isinstance(node, ast.Name):
        if node.id in ("true", "false"):
            return "bool"
        if node.id == "none":
            return "any"
        if node.id not in kinds:
            import difflib

            close = difflib.get_close_matches(node.id, list(kinds), n=1)
            raise ExpressionError(f"unknown fact '{node.id}' in {text!r}" + (f"; did you mean '{close[0]}'?"
                                  if close else "") + f" (known: {', '.join(sorted(kinds)) or 'none'})")
        return kinds[node.id]
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        found = {_infer(e, kinds, text) for e in node.elts} - {"any"}
        if len(found) > 1:
            raise ExpressionError(f"the list {ast.unparse(node)!r} mixes {' and '.join(sorted(found))} in {text!r}")
        return found.pop() if found else "any"
    if isinstance(node, ast.BoolOp):
        for value in node.values:
            _expect(value, "bool", kinds, text, "'and' / 'or' combine conditions")
        return "bool"
    if isinstance(node, ast.UnaryOp):
        if isinstance(node.op, ast.Not):
            _expect(node.operand, "bool", kinds, text, "'not' negates a condition")
            return "bool"
        _expect(node.operand, "number", kinds, text, "a sign applies to a number")
        return "number"
    if isinstance(node, ast.BinOp):
        left, right = _infer(node.left, kinds, text), _infer(node.right, kinds, text)
        symbol = _SYMBOLS[type(node.op)]
        if isinstance(node.op, ast.Add) and "text" in (left, right) and {left, right} <= {"text", "any"}:
            return "text"
        for side, kind in ((node.left, left), (node.right, right)):
            if kind not in ("number", "any"):
                raise ExpressionError(f"'{symbol}' needs numbers, but {ast.unparse(side)!r} is {kind} in {text!r}")
        return "number"
    if isinstance(node, ast.Compare):
        items = [node.left, *node.comparators]
        for op, a, b in zip(node.ops, items, items[1:], strict=False):
            ka, kb = _infer(a, kinds, text), _infer(b, kinds, text)
            if isinstance(op, ast.In | ast.NotIn):
                if not isinstance(b, ast.List | ast.Tuple | ast.Set):
                    raise ExpressionError(f"'in' needs a list of literals on its right, found {ast.unparse(b)!r} "
                                          f"in {text!r}")
            elif "any" not in (ka, kb) and ka != kb:
                raise ExpressionError(f"cannot compare {ast.unparse(a)!r} ({ka}) with {ast.unparse(b)!r} ({kb}) "
                                      f"in {text!r}")
            elif type(op) in (ast.Lt, ast.LtE, ast.Gt, ast.GtE) and "bool" in (ka, kb):
                raise ExpressionError(f"'{_SYMBOLS[type(op)]}' orders numbers or text, not conditions, in {text!r}")
            if isinstance(op, ast.In | ast.NotIn) and "any" not in (ka, kb) and ka != kb:
                raise ExpressionError(f"{ast.unparse(a)!r} is {ka} but the list {ast.unparse(b)!r} holds {kb} "
                                      f"in {text!r}")
        return "bool"
    if isinstance(node, ast.IfExp):
        _expect(node.test, "bool", kinds, text, "the test of 'x if c else y' is a condition")
        then, other = _infer(node.body, kinds, text), _infer(node.orelse, kinds, text)
        if "any" not in (then, other) and then != other:
            raise ExpressionError(f"'x if c else y' gives {then} or {other} in {text!r}: make both the same kind")
        return then if then != "any" else other
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        fn = FUNCTIONS[node.func.id]
        arg_kinds = [_infer(a, kinds, text) for a in node.args]
        if fn.args != "any":
            for arg, kind in zip(node.args, arg_kinds, strict=True):
                if kind not in (fn.args, "any"):
                    raise ExpressionError(f"{node.func.id}() takes {fn.args}, but {ast.unparse(arg)!r} is {kind} "
                                          f"in {text!r}")
        if fn.returns == "same":
            known = set(arg_kinds) - {"any"}
            if len(known) > 1:
                raise ExpressionError(f"{node.func.id}() mixes {' and '.join(sorted(known))} in {text!r}")
            return known.pop() if known else "any"
        return fn.returns
    raise ExpressionError(f"cannot type {ast.unparse(node)!r} in {text!r}")


def _expect(node: ast.expr, kind: Kind, kinds: Mapping[str, Kind], text: str, why: str) -> None:
    found = _infer(node, kinds, text)
    if found not in (kind, "any"):
        raise ExpressionError(f"{why}, but {ast.unparse(node)!r} is {found} in {text!r}"
                              + (" (compare it, e.g. x > 0)" if kind == "bool" else ""))
