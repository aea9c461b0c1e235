"""The case's source text at the positions the compiler and the profile name."""

from __future__ import annotations

import re

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_OPEN = {"(": ")", "[": "]", "{": "}"}
ALLOCATING = re.compile(r"\b(append|make|new)\(|&[A-Za-z_][A-Za-z0-9_.]*\{|\[\][A-Za-z_*][A-Za-z0-9_.]*\{")
_FUNC_DECL = re.compile(r"^func\b")


def _balanced(text: str, start: int) -> int:
    """End (exclusive) of the bracket group opening at text[start]; len(text) when unbalanced."""
    depth = 0
    quote = ""
    for index in range(start, len(text)):
        char = text[index]
        if quote:
            if char == quote and text[index - 1] != "\\":
                quote = ""
            continue
        if char in "\"'`":
            quote = char
        elif char in _OPEN:
            depth += 1
        elif char in ")]}":
            depth -= 1
            if depth == 0:
                return index + 1
    return len(text)


def expression_at(line_text: str, column: int) -> str:
    """The expression that starts at a 1-based column: a name with its calls, index and composite parts
    (make([]byte, n), ([]byte)(s), &T{...}), or the declaration when the name is a declared variable."""
    text = line_text
    start = _call_start(text, max(0, min(column - 1, len(text))))
    stripped = text.strip()
    if stripped.startswith("var ") and text[start:].split()[:1] and \
            stripped.split()[1:2] == [text[start:].split()[0].rstrip(",")]:
        return stripped  # "moved to heap: arr" points at the name in "var arr [N]byte"
    index = start
    if index < len(text) and text[index] == "&":
        index += 1
    while index < len(text):
        match = _IDENT.match(text, index)
        if match:
            index = match.end()
        if index < len(text) and text[index] in _OPEN:
            index = _balanced(text, index)
            continue
        break
    expression = text[start:index].strip()
    if not expression:
        return stripped
    name = _IDENT.fullmatch(expression)
    if name and re.match(rf"\s*{re.escape(expression)}\s*:=", text[start:]):
        return stripped  # a variable the compiler moved to the heap: its short declaration
    return expression


def _call_start(text: str, start: int) -> int:
    """The compiler places a call or conversion at its "(": back up to what is called (make, ([]byte))."""
    if 0 < start < len(text) and text[start] != "(" and text[start - 1] == "(":
        start -= 1  # the argument of a conversion ([]byte(s) placed at s): the call is the expression
    if start >= len(text) or text[start] != "(" or start == 0:
        return start
    before = start
    while True:  # what is called: a name, a qualified name, or a type such as []byte or *T
        while before > 0 and (text[before - 1].isalnum() or text[before - 1] in "_."):
            before -= 1
        if before >= 2 and text[before - 2:before] == "[]":
            before -= 2
        elif before >= 1 and text[before - 1] == "*" and before < start:
            before -= 1
        else:
            break
    if before < start:
        return before
    if text[start - 1] == ")":
        depth = 0
        for index in range(start - 1, -1, -1):
            depth += {")": 1, "(": -1}.get(text[index], 0)
            if depth == 0:
                return index
    return start


def expression_start(line_text: str, column: int) -> int:
    """1-based column where the expression the compiler placed at `column` starts (a call's name, not
    its "("), so that the same expression has the same position in every version."""
    return _call_start(line_text, max(0, min(column - 1, len(line_text)))) + 1


def allocating_column(line_text: str) -> int:
    """1-based column of the first allocating expression on a line (append, make, new, &T{}), else of
    its first non-blank character: where a measured line without a diagnostic is shown."""
    match = ALLOCATING.search(line_text)
    if match:
        return match.start() + 1
    return len(line_text) - len(line_text.lstrip()) + 1


def callee_column(line_text: str, callee: str) -> int | None:
    """1-based column where the line calls a function (strconv.AppendFloat, (*bytes.Buffer).WriteString,
    pkg.(*T).Method: called as AppendFloat(, .WriteString(, .Method(), at the start of the expression that
    calls it; None when the line does not name it."""
    name = callee.rsplit(".", 1)[-1].rstrip(")")
    if not name.isidentifier():  # a closure (Parse.func1) or a generic instance: the line's own expression
        return None
    match = re.search(rf"\b{re.escape(name)}\s*\(", line_text)
    if match is None:
        return None
    start = match.start()
    while start > 0 and (line_text[start - 1].isalnum() or line_text[start - 1] in "_."):
        start -= 1
    return start + 1


def is_parameter(line_text: str, column: int, subject: str) -> bool:
    """A function's parameter (b *testing.B): the compiler reports those at the func line; they are not
    allocation sites."""
    return bool(_FUNC_DECL.match(line_text)) and subject.isidentifier() and column > 0
