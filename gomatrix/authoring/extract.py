"""Cases from a document: an article's Go code blocks -> case directories with proposed claims.

What is read:

- **Markdown** (the document has at least one fenced block): every fenced block whose info string
  is ``go``/``golang``, and every fenced block without a language whose content starts with
  ``package`` after optional ``//`` lines. Other blocks (shell, output) are ignored.
- **Plain text** (no fence anywhere): a block starts at a ``// name.go`` line whose next non-blank
  line is a ``package`` clause, and ends at its last top-level closing ``}``/``)`` line (commented
  or not) or one-line declaration before the next such start; the prose around it is ignored.

In both, a ``// name.go`` line followed by ``package`` starts a new file, so one fenced block may
hold several files. The name line is dropped from the written file. A file without a name is named
after its section heading (``## Pointer escapes`` -> ``pointer_escapes.go``), or ``case<N>.go``.

Files are grouped into cases by stem (``array_test.go`` + ``array.go`` -> case ``array``). A file
holding ``func Benchmark``/``func Test`` is written as ``<stem>_test.go`` (go test only runs those
from ``_test.go`` files).

Commented-out alternatives: fully commented-out top-level declarations after a file's live code
that redeclare one of its live declarations (a second ``// func main() {`` ... ``// }``) are removed
from the case and each becomes a variant case ``<case>-v2``, ``-v3``, ...: the case's files with
that live declaration replaced by the uncommented alternative.

Proposed claims: a ``//`` comment that says where something is allocated (stack/heap, 栈/堆,
escapes/逃逸; a negation just before the word in the same clause flips it, a comment that ends up
saying both is skipped; a threshold/limit means ``stack``) directly above a ``func``
proposes a claim about the first allocation site in its body (``make(``, ``var x [``, ``new(``,
``&T{``); directly above or at the end of a site's line, about that site. They are written to the
case's ``case.yaml`` with ids ``proposed-...``, texts ``PROPOSED (confirm): ...`` and the comment
quoted in a YAML comment above each.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from gomatrix.core.errors import CaseError
from gomatrix.core.resources import schema_dir
from gomatrix.core.schemas import validate
from gomatrix.core.text import Log
from gomatrix.plan.cases import CASE_FILE, load_case
from gomatrix.plan.config import read_text

_FENCE_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>.*?)[ \t]*$")
_ATX_HEADING = re.compile(r"^ {0,3}#{1,6}(?:[ \t]+(?P<text>.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT_UNDERLINE = re.compile(r"^ {0,3}(?:=+|-+)[ \t]*$")
_GO_LANGUAGES = {"go", "golang"}
_FILE_NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]*\.go"
_NAME_LINE = re.compile(rf"^[ \t]*//[ \t]*(?:(?:file|filename|name):[ \t]*)?(?:\S*/)?(?P<name>{_FILE_NAME})[ \t]*$")
_INFO_NAME = re.compile(rf"(?:^|[\s\"'=:])(?P<name>{_FILE_NAME})(?=$|[\s\"'])")
_PACKAGE = re.compile(r"^[ \t]*package[ \t]+\w+")
_TEST_FUNC = re.compile(r"^func[ \t]+(?:Benchmark|Test)\w*[ \t]*\(", re.MULTILINE)
_DECL = re.compile(r"^(?:func|var|const|type|import)\b")
_FUNC_KEY = re.compile(r"^func\s*(?:\(\s*(?:\w+\s+)?\*?\s*(?P<recv>\w+)[^)]*\)\s*)?(?P<name>\w+)\s*(?:\[[^\]]*\])?\(")
_NAME_KEY = re.compile(r"^(?:var|const|type)\s+(?P<name>\w+)\b")
_ONE_LINE_DECL = re.compile(r"^(?:(?:var|const|type|import)\b|func\b.*\}\s*$)")
_SITE = re.compile(r"\bmake\(|^\s*var\s+\w+\s+\[|\bnew\(|(?<![\w)\]&])&(?!&)\s*[A-Za-z_][\w.]*(?:\[[^\]]*\])?\s*\{")

_STACK = re.compile(r"\bstack\b|栈", re.IGNORECASE)
_HEAP = re.compile(r"\bheap\b|\bescap(?:e|es|ed|ing)\b|堆|逃逸", re.IGNORECASE)
_THRESHOLD = re.compile(r"\bthreshold\b|\blimits?\b|\bmaximum\b|阈值|上限|限制|最大", re.IGNORECASE)
_NEGATION = re.compile(r"\b(?:not|never|no|cannot)\b|n't\b", re.IGNORECASE)
_NEGATION_ZH = re.compile(r"不|没|未")


# ----------------------------------------------------------------------------- Go source, roughly


@dataclass(frozen=True)
class _Line:
    depth_start: int  # bracket depth ({, (, [) at the start of the line
    depth_end: int
    code: str  # the line without comments
    comment: str  # the text of a // comment on the line, "" if none
    inside: bool  # the line starts inside a raw string or a block comment


def _scan(lines: list[str]) -> list[_Line]:
    """Bracket depth and comments per line, skipping strings, runes and comments."""
    out: list[_Line] = []
    depth = 0
    state = ""  # "", "raw" (`...`) or "block" (/* ... */)
    for line in lines:
        start, inside = depth, bool(state)
        code: list[str] = []
        comment = ""
        i, n = 0, len(line)
        while i < n:
            if state == "raw":
                j = line.find("`", i)
                code.append(line[i:] if j < 0 else line[i:j + 1])
                i, state = (n, state) if j < 0 else (j + 1, "")
                continue
            if state == "block":
                j = line.find("*/", i)
                i, state = (n, state) if j < 0 else (j + 2, "")
                continue
            if line.startswith("//", i):
                comment = line[i + 2:].strip()
                break
            if line.startswith("/*", i):
                state, i = "block", i + 2
                continue
            ch = line[i]
            if ch == "`":
                state = "raw"
                code.append(ch)
                i += 1
                continue
            if ch in "\"'":
                j = i + 1
                while j < n and line[j] != ch:
                    j += 2 if line[j] == "\\" else 1
                code.append(line[i:j + 1])
                i = j + 1
                continue
            if ch in "{([":
                depth += 1
            elif ch in "})]":
                depth = max(0, depth - 1)
            code.append(ch)
            i += 1
        out.append(_Line(start, depth, "".join(code).rstrip(), comment, inside))
    return out


@dataclass(frozen=True)
class _Decl:
    key: str  # the declared name (Recv.Method for methods), "" for imports and groups
    start: int  # 0-based, inclusive
    end: int
    is_func: bool


def _decl_key(line: str) -> tuple[str, bool]:
    match = _FUNC_KEY.match(line)
    if match:
        return (f"{match['recv']}.{match['name']}" if match["recv"] else match["name"]), True
    match = _NAME_KEY.match(line)
    return (match["name"] if match else ""), False


def _decls(lines: list[str], scan: list[_Line]) -> list[_Decl]:
    """Top-level declarations: a keyword at column 0 at depth 0, up to where the depth is 0 again."""
    out: list[_Decl] = []
    i = 0
    while i < len(lines):
        if scan[i].depth_start == 0 and not scan[i].inside and _DECL.match(lines[i]):
            j = i
            while j < len(lines) - 1 and scan[j].depth_end > 0:
                j += 1
            key, is_func = _decl_key(lines[i])
            out.append(_Decl(key, i, j, is_func))
            i = j + 1
        else:
            i += 1
    return out


def _uncomment(line: str) -> str:
    rest = line.lstrip()[2:]
    return rest[1:] if rest.startswith(" ") else rest


def _is_comment_line(line: str) -> bool:
    return line.startswith("//")


@dataclass(frozen=True)
class _Alternative:
    key: str
    lines: tuple[str, ...]  # the uncommented declaration
    note: str  # prose comment lines directly above it, if any
    doc_line: int


def _split_alternatives(lines: list[str], doc_line: int) -> tuple[list[str], list[_Alternative]]:
    """(the file without its commented-out alternatives, the alternatives in order)."""
    live_end = len(lines)
    while live_end > 0 and (not lines[live_end - 1].strip() or _is_comment_line(lines[live_end - 1])):
        live_end -= 1
    live = lines[:live_end]
    live_keys = {d.key for d in _decls(live, _scan(live)) if d.key}
    alternatives: list[_Alternative] = []
    removed: set[int] = set()
    i = live_end
    while i < len(lines):
        if not _is_comment_line(lines[i]) or not _DECL.match(_uncomment(lines[i])):
            i += 1
            continue
        # a commented declaration: uncomment from here on until the depth is back to 0
        end = i
        body: list[str] = []
        while end < len(lines):
            body.append(_uncomment(lines[end]) if lines[end].strip() else "")
            if _scan(body)[-1].depth_end == 0 and body[-1].strip():
                break
            end += 1
        if end == len(lines):
            break
        key, is_func = _decl_key(body[0])
        if not key or key not in live_keys or (is_func and not any("{" in b for b in body)):
            i = end + 1
            continue
        first = i  # the prose comment lines directly above belong to the alternative
        while first - 1 >= live_end and _is_comment_line(lines[first - 1]) and first - 1 not in removed:
            first -= 1
        note = " ".join(" ".join(_uncomment(line).split()) for line in lines[first:i])
        note = note if len(note) <= 60 else note[:59] + "…"
        while first - 1 >= live_end and not lines[first - 1].strip():
            first -= 1
        removed.update(range(first, end + 1))
        alternatives.append(_Alternative(key, tuple(body), note, doc_line + i))
        i = end + 1
    base = [line for n, line in enumerate(lines) if n not in removed]
    return _strip_blank_edges(base), alternatives


def _replace_decl(lines: list[str], alternative: _Alternative) -> list[str]:
    for decl in _decls(lines, _scan(lines)):
        if decl.key == alternative.key:
            return [*lines[:decl.start], *alternative.lines, *lines[decl.end + 1:]]
    raise AssertionError(f"no live declaration {alternative.key}")  # _split_alternatives checked it


def _describe(base: list[str], alternative: _Alternative) -> str:
    """A variant in a few words: its note, or the alternative's lines that differ from the live declaration."""
    if alternative.note:
        return alternative.note
    live = next(d for d in _decls(base, _scan(base)) if d.key == alternative.key)
    old = {" ".join(x.split()) for x in base[live.start:live.end + 1]}
    changed = [" ".join(x.split()) for x in alternative.lines]
    changed = [x for x in changed if x and x not in old][:2]
    label = f"{alternative.key}()" if _FUNC_KEY.match(alternative.lines[0]) else alternative.key
    return f"{label} with `{'; '.join(changed)}`" if changed else f"alternative {label}"


def _strip_blank_edges(lines: list[str]) -> list[str]:
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return lines[start:end]


# ----------------------------------------------------------------------------- claims


@dataclass(frozen=True)
class ProposedClaim:
    id: str
    text: str
    file: str
    line: int
    expect: str  # "stack" | "heap"
    comment: str  # the article's comment it was proposed from


@dataclass(frozen=True)
class _Reading:
    expect: str | None
    threshold: bool
    why_not: str  # when expect is None but the comment speaks of stack/heap


def _negated(text: str, at: int) -> bool:
    """A negation shortly before position `at`, in the same clause ("will not be allocated in", "不会逃逸")."""
    clause = re.split(r"[,.;:!?，。；：！？]", text[:at])[-1]
    return bool(_NEGATION.search(" ".join(clause.split()[-5:])) or _NEGATION_ZH.search(clause[-6:]))


def _read_comment(text: str) -> _Reading:
    """Where the comment says something is allocated: each stack/heap/escape mention, flipped when negated."""
    mentions = [("stack", m.start()) for m in _STACK.finditer(text)]
    mentions += [("heap", m.start()) for m in _HEAP.finditer(text)]
    if not mentions:
        return _Reading(None, False, "")
    if _THRESHOLD.search(text):
        return _Reading("stack", True, "")
    says = {kind if not _negated(text, at) else {"stack": "heap", "heap": "stack"}[kind] for kind, at in mentions}
    if len(says) > 1:
        return _Reading(None, False, "it speaks of both the stack and the heap")
    return _Reading(says.pop(), False, "")


def _comment_above(lines: list[str], scan: list[_Line], index: int) -> tuple[str, int]:
    """The // comment lines directly above lines[index], joined, and the line number of the first."""
    first = index
    while first > 0 and not scan[first - 1].inside and not scan[first - 1].code and scan[first - 1].comment:
        first -= 1
    return " ".join(scan[n].comment for n in range(first, index)), first


def _propose(case: str, file: str, lines: list[str], skipped: list[str]) -> list[ProposedClaim]:
    scan = _scan(lines)
    found: dict[int, tuple[int, str, str, _Reading]] = {}  # line -> (priority, function, comment, reading)

    def consider(priority: int, site: int, function: str, comment: str, where: int) -> None:
        reading = _read_comment(comment)
        if reading.expect is None:
            if reading.why_not:
                skipped.append(f"{file}:{where + 1}: no claim proposed from {comment!r}: {reading.why_not}")
            return
        if site < 0:
            skipped.append(f"{file}:{where + 1}: no claim proposed from {comment!r}: "
                           f"{function} has no make(, var x [, new( or &T{{ line")
            return
        if site not in found or found[site][0] < priority:
            found[site] = (priority, function, comment, reading)

    for decl in _decls(lines, scan):
        if not decl.is_func:
            continue
        function = decl.key
        body = range(decl.start + 1, decl.end + 1)
        sites = [n for n in body if _SITE.search(scan[n].code)]
        comment, first = _comment_above(lines, scan, decl.start)
        if comment:
            consider(0, sites[0] if sites else -1, function, comment, first)
        for n in sites:
            comment, first = _comment_above(lines, scan, n)
            if comment:
                consider(1, n, function, comment, first)
            if scan[n].comment:
                consider(2, n, function, scan[n].comment, n)

    claims = []
    for site in sorted(found):
        _, function, comment, reading = found[site]
        code = " ".join(scan[site].code.split())
        code = code if len(code) <= 60 else code[:59] + "…"
        if reading.threshold:
            says = "is at the stated stack-allocation limit and stays on the stack"
        elif reading.expect == "stack":
            says = "stays on the stack"
        else:
            says = "is allocated on the heap"
        claim_id = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"proposed-{case}-{function}-l{site + 1}")
        claims.append(ProposedClaim(id=claim_id, text=f"PROPOSED (confirm): {code} in {function} {says}",
                                    file=file, line=site + 1, expect=str(reading.expect), comment=comment))
    return claims


# ----------------------------------------------------------------------------- document -> files


@dataclass(frozen=True)
class _Chunk:
    lines: list[str]
    doc_line: int  # 1-based line of lines[0] in the document
    heading: str
    info_name: str


@dataclass(frozen=True)
class _File:
    name: str | None  # from the name line or the fence's info string
    lines: list[str]  # without the name line
    doc_line: int  # 1-based document line of lines[0]
    heading: str


def _heading_text(raw: str) -> str:
    return " ".join(raw.replace("`", "").replace("**", "").split())


def _read_document(document: Path) -> list[str]:
    if not document.is_file():
        raise CaseError(f"document {document} does not exist" if not document.exists()
                        else f"{document} is not a file", where=str(document),
                        fix="Pass the path of a markdown or plain-text article holding Go code.")
    text = read_text(document, error_cls=CaseError)
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _headings(lines: list[str], code: set[int]) -> list[str]:
    """The nearest heading at or above every line (ATX and setext), ignoring code lines."""
    current = ""
    out: list[str] = []
    for n, line in enumerate(lines):
        if n not in code:
            atx = _ATX_HEADING.match(line)
            if atx:
                current = _heading_text(atx["text"] or "")
            elif (_SETEXT_UNDERLINE.match(line) and n > 0 and n - 1 not in code and lines[n - 1].strip()
                  and not _ATX_HEADING.match(lines[n - 1]) and not lines[n - 1].lstrip().startswith(("*", "-", "+"))):
                current = _heading_text(lines[n - 1])
                out[n - 1] = current
        out.append(current)
    return out


def _looks_like_go(lines: list[str]) -> bool:
    for line in lines:
        if not line.strip() or line.lstrip().startswith("//"):
            continue
        return bool(_PACKAGE.match(line))
    return False


def _fenced_chunks(lines: list[str]) -> tuple[list[_Chunk], int, bool]:
    """(Go chunks, how many fenced blocks were ignored, whether the document has fences at all)."""
    blocks: list[tuple[int, int, str, str]] = []  # (first content line, end, info, indent)
    n = 0
    while n < len(lines):
        opener = _FENCE_OPEN.match(lines[n])
        if not opener or (opener["fence"][0] == "`" and "`" in opener["info"]):
            n += 1
            continue
        fence = opener["fence"]
        closer = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        end = n + 1
        while end < len(lines) and not closer.match(lines[end]):
            end += 1
        blocks.append((n + 1, end, opener["info"], opener["indent"]))
        n = end + 1
    code = {i for start, end, _, _ in blocks for i in range(start - 1, min(end + 1, len(lines)))}
    headings = _headings(lines, code)
    chunks, ignored = [], 0
    for start, end, info, indent in blocks:
        content = [line[len(indent):] if line.startswith(indent) else line.lstrip(" ") for line in lines[start:end]]
        language = info.split()[0].lower() if info.split() else ""
        if language in _GO_LANGUAGES or (not language and _looks_like_go(content)):
            info_name = _INFO_NAME.search(info)
            chunks.append(_Chunk(content, start + 1, headings[start - 1], info_name["name"] if info_name else ""))
        else:
            ignored += 1
    return chunks, ignored, bool(blocks)


def _file_starts(lines: list[str]) -> list[int]:
    """Indexes of `// name.go` lines whose next non-blank line is a package clause."""
    starts = []
    for n, line in enumerate(lines):
        if _NAME_LINE.match(line):
            following = next((x for x in lines[n + 1:] if x.strip()), "")
            if _PACKAGE.match(following):
                starts.append(n)
    return starts


def _plain_end(lines: list[str]) -> int:
    """Length of the code at the start of a plain-text block: up to its last top-level `}`/`)`."""
    scan = _scan(lines)
    last = 0
    for n, line in enumerate(lines):
        if scan[n].inside or scan[n].depth_end != 0:
            continue
        text = _uncomment(line) if _is_comment_line(line) else line
        if text.startswith(("}", ")")) or _ONE_LINE_DECL.match(text) or _PACKAGE.match(text):
            last = n + 1
    return last


def _plain_chunks(lines: list[str]) -> list[_Chunk]:
    starts = _file_starts(lines)
    code: set[int] = set()
    spans = []
    for k, start in enumerate(starts):
        stop = starts[k + 1] if k + 1 < len(starts) else len(lines)
        indent = lines[start][:len(lines[start]) - len(lines[start].lstrip())]
        block = [line[len(indent):] if line.startswith(indent) else line for line in lines[start:stop]]
        block = block[:_plain_end(block)]
        spans.append((start, block))
        code.update(range(start, start + len(block)))
    headings = _headings(lines, code)
    return [_Chunk(block, start + 1, headings[start], "") for start, block in spans]


def _files_of(chunk: _Chunk) -> tuple[list[_File], int]:
    """The Go files of a chunk (a chunk may hold several `// name.go` + package sections); fragments skipped."""
    starts = _file_starts(chunk.lines)
    bounds = ([0] if not starts or any(x.strip() for x in chunk.lines[:starts[0]]) else []) + starts
    files, fragments = [], 0
    for k, begin in enumerate(bounds):
        stop = bounds[k + 1] if k + 1 < len(bounds) else len(chunk.lines)
        part = chunk.lines[begin:stop]
        first = next((i for i, x in enumerate(part) if x.strip()), len(part))
        name = chunk.info_name if len(bounds) == 1 else ""
        match = _NAME_LINE.match(part[first]) if first < len(part) else None
        if match and _looks_like_go(part[first + 1:]):
            name, first = match["name"], first + 1
        body = part[first:]
        lead = next((i for i, x in enumerate(body) if x.strip()), len(body))
        body = _strip_blank_edges(body)
        if not _looks_like_go(body):
            fragments += 1
            continue
        files.append(_File(name or None, body, chunk.doc_line + begin + first + lead, chunk.heading))
    return files, fragments


# ----------------------------------------------------------------------------- files -> cases


@dataclass
class ExtractedCase:
    name: str
    title: str
    source: str
    files: dict[str, str]  # file name -> text
    claims: list[ProposedClaim] = field(default_factory=list)
    variant_of: str = ""
    note: str = ""  # for a variant: what differs

    def case_yaml(self, document: str, schema_ref: str = "") -> str:
        """schema_ref: the path of case.schema.json from the case directory, for editors (yaml-language-server)."""
        out = [f"# yaml-language-server: $schema={schema_ref}"] if schema_ref else []
        out.append(f"# Extracted from {document} by `gomatrix cases.extract`.")
        if self.note:
            out.append(f"# {self.note}")
        if self.claims:
            out.append('# Claims with ids "proposed-..." come from the article\'s comments: confirm, reword or delete.')
        out += [f"title: {_quote(self.title)}", f"source: {_quote(self.source)}"]
        if self.claims:
            out.append("claims:")
            for claim in self.claims:
                out += [f"  # proposed from: {_quote(claim.comment)}",
                        f"  - id: {claim.id}",
                        f"    text: {_quote(claim.text)}",
                        f"    site: {{file: {_quote(claim.file)}, line: {claim.line}}}",
                        f"    expect: {claim.expect}"]
        return "\n".join(out) + "\n"


def _quote(text: str) -> str:
    """A YAML double-quoted scalar (JSON's string syntax is a subset of it)."""
    return json.dumps(text, ensure_ascii=False)


def _slug(heading: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", heading.lower()).strip("_")[:40].strip("_")


def _sections_phrase(document: str, headings: Iterable[str]) -> str:
    names = list(dict.fromkeys(h for h in headings if h))
    if not names:
        return document
    quoted = [f"'{h}'" for h in names]
    if len(quoted) == 1:
        return f"{document}, section {quoted[0]}"
    return f"{document}, sections {', '.join(quoted[:-1])} and {quoted[-1]}"


@dataclass(frozen=True)
class _Placed:
    file: _File
    name: str  # the written file name
    base: list[str]  # the code without its commented-out alternatives
    alternatives: list[_Alternative]


def _where(document: Path, line: int) -> str:
    return f"{document}:{line}"


def extract_document(document: Path) -> tuple[list[ExtractedCase], list[str]]:
    """The cases (base cases, each followed by its variants) a document holds, and notes on what was skipped."""
    lines = _read_document(document)
    chunks, ignored, fenced = _fenced_chunks(lines)
    if not fenced:
        chunks = _plain_chunks(lines)
    notes: list[str] = []
    if ignored:
        notes.append(f"ignored {ignored} fenced block(s) that are not Go (shell commands, output, ...)")
    files: list[_File] = []
    for chunk in chunks:
        found, fragments = _files_of(chunk)
        files += found
        if fragments:
            notes.append(f"ignored {fragments} Go fragment(s) without a package clause near line {chunk.doc_line}")
    if not files:
        how = ("fence them as ```go ... ``` (each starting with `package`)" if fenced else
               "fence them as ```go ... ```, or start each with a `// name.go` line followed by `package main`")
        raise CaseError("the document holds no Go code blocks (a block needs a package clause)",
                        where=str(document), fix=f"Put the Go files in code blocks: {how}.")

    groups: dict[str, dict[str, _Placed]] = {}
    unnamed = 0
    for file in files:
        is_test = bool(_TEST_FUNC.search("\n".join(file.lines)))
        base, alternatives = _split_alternatives(file.lines, file.doc_line)
        if file.name:
            stem = file.name.removesuffix(".go").removesuffix("_test")
            name = f"{stem}_test.go" if is_test else file.name
            taken = groups.get(stem, {}).get(name)
            if taken:
                raise CaseError(f"two blocks would both be written as {stem}/{name} (lines {taken.file.doc_line} "
                                f"and {file.doc_line})", where=_where(document, file.doc_line),
                                fix="Give the blocks different `// name.go` lines (a block with benchmarks is "
                                    "written as <stem>_test.go).")
        else:
            unnamed += 1
            slug = _slug(file.heading) or f"case{unnamed}"
            stem, suffix = slug, 2
            while f"{stem}{'_test' if is_test else ''}.go" in groups.get(stem, {}):
                stem, suffix = f"{slug}_{suffix}", suffix + 1
            name = f"{stem}_test.go" if is_test else f"{stem}.go"
        groups.setdefault(stem, {})[name] = _Placed(file, name, base, alternatives)

    cases: list[ExtractedCase] = []
    for stem, placed in groups.items():
        heading = next(iter(placed.values())).file.heading
        title = heading or stem
        source = _sections_phrase(document.name, (p.file.heading for p in placed.values()))
        base_files = {p.name: "\n".join(p.base) + "\n" for p in placed.values()}
        skipped: list[str] = []
        claims = [c for p in placed.values() for c in _propose(stem, p.name, p.base, skipped)]
        notes += [f"{stem}/{s}" for s in skipped]
        cases.append(ExtractedCase(stem, title, source, base_files, claims))
        number = 1
        for p in placed.values():
            for alternative in p.alternatives:
                number += 1
                files_v = dict(base_files)
                files_v[p.name] = "\n".join(_replace_decl(p.base, alternative)) + "\n"
                what = (f"{alternative.key} of {p.name} replaced by the commented-out alternative at "
                        f"{document.name} line {alternative.doc_line}")
                cases.append(ExtractedCase(
                    f"{stem}-v{number}", f"{title} (variant {number}: {_describe(p.base, alternative)})",
                    f"{source}, commented-out alternative at line {alternative.doc_line}", files_v,
                    variant_of=stem, note=f"Variant {number} of case '{stem}': {what}."))
    seen: dict[str, int] = {}
    for case in cases:
        seen[case.name] = seen.get(case.name, 0) + 1
    twice = sorted(n for n, k in seen.items() if k > 1)
    if twice:
        raise CaseError(f"case name(s) {', '.join(twice)} would be written twice (a file stem equals a variant's name)",
                        where=str(document), fix="Rename the blocks' `// name.go` lines.")
    return cases, notes


# ----------------------------------------------------------------------------- writing


@dataclass(frozen=True)
class Extraction:
    document: Path
    into: Path
    cases: tuple[ExtractedCase, ...]
    notes: tuple[str, ...]


def write_cases(cases: list[ExtractedCase], document: Path, into: Path, *, force: bool) -> None:
    """Write the case directories under `into` (nothing outside it); existing ones only with force."""
    texts = {}
    schema = schema_dir().resolve() / "case.schema.json"
    for case in cases:
        text = case.case_yaml(document.name, os.path.relpath(schema, (into / case.name).resolve()))
        validate(yaml.safe_load(text), "case", where=f"{case.name}/{CASE_FILE}", error_cls=CaseError,
                 fix="This is a bug of cases.extract: please report it with the document.")
        texts[case.name] = text
    if into.exists() and not into.is_dir():
        raise CaseError(f"{into} is not a directory", where=str(into), fix="Pass a directory to --into.")
    existing = [c.name for c in cases if (into / c.name).exists() or (into / c.name).is_symlink()]
    if existing and not force:
        raise CaseError(f"case director{'y' if len(existing) == 1 else 'ies'} already exist: {', '.join(existing)}",
                        where=str(into), fix="Pass --force to replace them, or choose another --into.")
    into.mkdir(parents=True, exist_ok=True)
    for case in cases:
        staging = into / f".{case.name}.extracting"
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir()
        try:
            for name, text in case.files.items():
                (staging / name).write_text(text, encoding="utf-8")
            (staging / CASE_FILE).write_text(texts[case.name], encoding="utf-8")
            target = into / case.name
            if target.is_symlink() or target.is_file():
                target.unlink()
            elif target.exists():
                shutil.rmtree(target)
            staging.rename(target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        load_case(target)


def extract_cases(document: Path, into: Path, *, force: bool = False, log: Log = print) -> Extraction:
    """`invoke cases.extract`: read the document, write its cases under `into`, say what was written."""
    cases, notes = extract_document(document)
    write_cases(cases, document, into, force=force)
    bases = [c for c in cases if not c.variant_of]
    log(f"gomatrix: {len(bases)} case(s) and {len(cases) - len(bases)} variant case(s) from {document.name} "
        f"into {into}")
    for case in cases:
        files = ", ".join([*sorted(case.files), CASE_FILE])
        if case.variant_of:
            log(f"  variant {case.name}/: {files} — {case.note.split(': ', 1)[1]}")
        else:
            log(f"  case {case.name}/: {files} — {case.title!r}")
        for claim in case.claims:
            log(f"    proposed claim {claim.id}: {claim.file}:{claim.line} {claim.expect} "
                f"(from {_quote(claim.comment)})")
    for note in notes:
        log(f"  note: {note}")
    claims = sum(len(c.claims) for c in cases)
    if claims:
        log(f"gomatrix: {claims} proposed claim(s) in case.yaml (ids proposed-*): confirm, reword or delete them")
    return Extraction(document, into, tuple(cases), tuple(notes))
