"""Xero's `where` and `order` query parameters: the subset the gateway uses, everything else refused as Xero does.

Grammar (Xero's is a .NET dynamic-LINQ dialect):
    expr   := and (("OR" | "||") and)*
    and    := unary (("AND" | "&&") unary)*
    unary  := "NOT" unary | "(" expr ")" | field op value | field "." ("Contains"|"StartsWith"|"EndsWith") "(" str ")"
    value  := "string" | guid("…") | Guid("…") | DateTime(y, m, d[, h, mi, s]) | number | true | false | null
String equality is case-insensitive, as Xero's database collation makes it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Callable


class QueryError(ValueError):
    """Answered as Xero's 400 QueryParseException with this message."""


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>"(?:[^"\\]|\\.)*")
      | (?P<num>-?\d+(?:\.\d+)?)
      | (?P<op>==|!=|>=|<=|&&|\|\||[<>=(),.!])
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)

_TYPE_NAMES = {str: "String", Decimal: "Decimal", bool: "Boolean", date: "DateTime", type(None): "Object"}


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise QueryError(f"Syntax error at position {pos} in '{text}'")
        kind = match.lastgroup
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


@dataclass
class _Parser:
    tokens: list[tuple[str, str]]
    fields: dict[str, Callable[[dict], Any]]  # lower-case field path -> getter
    entity: str
    pos: int = 0

    def peek(self, offset: int = 0) -> tuple[str, str] | None:
        i = self.pos + offset
        return self.tokens[i] if i < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise QueryError("Syntax error: unexpected end of expression")
        self.pos += 1
        return token

    def expect(self, value: str) -> None:
        _, text = self.take()
        if text != value:
            raise QueryError(f"'{value}' expected")

    def is_word(self, *words: str) -> bool:
        token = self.peek()
        return token is not None and token[1].upper() in words and token[0] in ("name", "op")

    def parse(self) -> Callable[[dict], bool]:
        predicate = self.expr()
        if self.peek() is not None:
            raise QueryError(f"Syntax error near '{self.peek()[1]}'")
        return predicate

    def expr(self):
        parts = [self.conj()]
        while self.is_word("OR", "||"):
            self.take()
            parts.append(self.conj())
        return parts[0] if len(parts) == 1 else (lambda rec: any(p(rec) for p in parts))

    def conj(self):
        parts = [self.unary()]
        while self.is_word("AND", "&&"):
            self.take()
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else (lambda rec: all(p(rec) for p in parts))

    def unary(self):
        if self.is_word("NOT", "!"):
            self.take()
            inner = self.unary()
            return lambda rec: not inner(rec)
        if self.peek() and self.peek()[1] == "(":
            self.take()
            inner = self.expr()
            self.expect(")")
            return inner
        return self.comparison()

    def field(self) -> tuple[str, Callable[[dict], Any], str | None]:
        kind, name = self.take()
        if kind != "name":
            raise QueryError(f"Expression expected near '{name}'")
        path = [name]
        method = None
        while self.peek() and self.peek()[1] == ".":
            self.take()
            kind, part = self.take()
            if kind != "name":
                raise QueryError("Identifier expected")
            if part in ("Contains", "StartsWith", "EndsWith") and self.peek() and self.peek()[1] == "(":
                method = part
                break
            path.append(part)
        dotted = ".".join(path)
        getter = self.fields.get(dotted.lower())
        if getter is None:
            raise QueryError(f"No property or field '{path[-1]}' exists in type '{self.entity}'")
        return dotted, getter, method

    def comparison(self):
        dotted, getter, method = self.field()
        if method:
            self.expect("(")
            needle = self.value()
            self.expect(")")
            if not isinstance(needle, str):
                raise QueryError(f"No applicable method '{method}' exists for the argument types")
            needle = needle.casefold()
            test = {"Contains": str.__contains__, "StartsWith": str.startswith, "EndsWith": str.endswith}[method]
            return lambda rec: isinstance(getter(rec), str) and test(getter(rec).casefold(), needle)
        kind, op = self.take()
        if op == "=":
            op = "=="
        if op not in ("==", "!=", ">=", "<=", ">", "<"):
            raise QueryError(f"Operator expected after '{dotted}'")
        value = self.value()
        return _compare(getter, op, value)

    def value(self):
        kind, text = self.take()
        if kind == "str":
            return bytes(text[1:-1], "utf-8").decode("unicode_escape")
        if kind == "num":
            return Decimal(text)
        if kind == "name":
            word = text.lower()
            if word in ("true", "false"):
                return word == "true"
            if word == "null":
                return None
            if word == "guid":
                self.expect("(")
                kind, inner = self.take()
                if kind != "str":
                    raise QueryError("guid(\"…\") expects a string")
                self.expect(")")
                return inner[1:-1].lower()
            if word == "datetime":
                self.expect("(")
                numbers = [self.take()]
                while self.peek() and self.peek()[1] == ",":
                    self.take()
                    numbers.append(self.take())
                self.expect(")")
                if len(numbers) not in (3, 6) or any(k != "num" for k, _ in numbers):
                    raise QueryError("No matching constructor in type 'DateTime'")
                y, m, d = (int(n) for _, n in numbers[:3])
                try:
                    return date(y, m, d)
                except ValueError:
                    raise QueryError("Year, Month, and Day parameters describe an un-representable DateTime.") from None
        raise QueryError(f"Expression expected near '{text}'")


def _compare(getter, op: str, value):
    def test(rec: dict) -> bool:
        have = getter(rec)
        if value is None or have is None:
            if op not in ("==", "!="):
                return False
            return (have is value) if op == "==" else (have is not value)
        if isinstance(have, str) and isinstance(value, str):
            a, b = have.casefold(), value.casefold()
        elif isinstance(have, bool) or isinstance(value, bool):
            if type(have) is not type(value):
                raise _mismatch(op, have, value)
            a, b = have, value
        elif isinstance(have, Decimal) and isinstance(value, Decimal):
            a, b = have, value
        elif isinstance(have, date) and isinstance(value, date):
            a, b = have, value
        else:
            raise _mismatch(op, have, value)
        return {"==": a == b, "!=": a != b, ">=": a >= b, "<=": a <= b, ">": a > b, "<": a < b}[op]

    return test


def _mismatch(op, have, value) -> QueryError:
    left, right = _TYPE_NAMES.get(type(have), "Object"), _TYPE_NAMES.get(type(value), "Object")
    return QueryError(f"Operator '{op}' incompatible with operand types '{left}' and '{right}'")


def compile_where(text: str, fields: dict[str, Callable[[dict], Any]], entity: str) -> Callable[[dict], bool]:
    """A predicate over stored records; raises QueryError for syntax Xero would refuse or we do not support.

    Type errors (a string compared with a date) surface when the predicate runs; callers catch QueryError there too.
    """
    lowered = {k.lower(): v for k, v in fields.items()}
    return _Parser(_tokens(text), lowered, entity).parse()


def compile_order(text: str, fields: dict[str, Callable[[dict], Any]], entity: str):
    """A list of (getter, descending) from `Date DESC, Reference`."""
    lowered = {k.lower(): v for k, v in fields.items()}
    keys = []
    for part in text.split(","):
        words = part.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1].upper() not in ("ASC", "DESC")):
            raise QueryError(f"Syntax error in order '{text}'")
        getter = lowered.get(words[0].lower())
        if getter is None:
            raise QueryError(f"No property or field '{words[0]}' exists in type '{entity}'")
        keys.append((getter, len(words) == 2 and words[1].upper() == "DESC"))
    return keys


def apply_order(records: list[dict], keys) -> list[dict]:
    """Stable multi-key sort; None sorts first, as SQL Server does ascending."""
    out = list(records)
    for getter, descending in reversed(keys):
        out.sort(key=lambda rec: (getter(rec) is not None, _sortable(getter(rec))), reverse=descending)
    return out


def _sortable(value):
    if isinstance(value, str):
        return value.casefold()
    return value if value is not None else 0
