"""Walking the chain and naming every row that does not fit.

What each finding means:

- ``missing``: ids are consecutive, so a gap means rows were deleted ("row 7 missing").
- ``altered``: the row's content no longer gives its stored hash (a field was edited).
- ``reordered``: the row's content and hash are intact but belong at another position
  (rows were swapped or moved); the detail says which position.
- ``bad link``: the row's ``prev_hash`` does not point at the row before it: either the
  link itself was edited, or the row before was rewritten and its hash recomputed.

What a chain alone cannot show: rows cut off the end, or every row from some point on
rewritten with fresh hashes. Keep the head hash somewhere else (``opsroom audit verify``
prints it) and compare.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any, Literal, NamedTuple

from sqlalchemy import func, select

from opsroom.audit.chain import ZERO_HASH, AuditEntry
from opsroom.audit.search import iter_entries
from opsroom.store import Database
from opsroom.store.tables import audit_log

Finding = Literal["altered", "missing", "reordered", "bad link"]

MAX_SUSPECTS = 1000  # rows we try to explain as moved; past that they are reported as altered
NEARBY = 3  # also try this many positions either side when looking for a moved row's home


class Problem(NamedTuple):
    id: int
    what: Finding
    detail: str


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    rows_checked: int
    last_good_id: int  # every row up to this id is intact and linked
    problems: list[Problem] = field(default_factory=list)
    head_id: int = 0  # the last row checked, and its hash: keep them elsewhere to detect
    head_hash: str = ZERO_HASH  # rows cut off the end

    def text(self) -> str:
        """What the CLI and chat print."""
        if self.ok:
            return f"audit chain OK: {self.rows_checked} rows, head #{self.head_id} {self.head_hash}"
        lines = [
            f"audit chain BROKEN: {len(self.problems)} problem(s) in {self.rows_checked} rows; "
            f"intact up to row {self.last_good_id}"
        ]
        lines += [f"  row {p.id}: {p.what}: {p.detail}" for p in self.problems]
        return "\n".join(lines)


class ChainChecker:
    """Feed entries in id order; ``finish`` returns the report. Used for the database and
    for exported JSON Lines files alike."""

    def __init__(self) -> None:
        self.rows = 0
        self.expected_id = 1
        self.prev: tuple[int, str, bool] | None = None  # id, hash, hash matched content
        self.findings: list[tuple[Problem, int]] = []  # problem, first id it puts in doubt
        self.suspects: dict[int, AuditEntry] = {}

    def _add(self, id: int, what: Finding, detail: str, first_bad: int | None = None) -> None:
        self.findings.append((Problem(id, what, detail), id if first_bad is None else first_bad))

    def feed(self, e: AuditEntry) -> None:
        self.rows += 1
        gap = False
        if e.id > self.expected_id:
            gap = True
            lost = e.id - self.expected_id
            what = (
                f"row {self.expected_id} missing"
                if lost == 1
                else f"rows {self.expected_id}–{e.id - 1} missing ({lost} rows)"
            )
            self._add(self.expected_id, "missing", what + " (deleted)")
        elif e.id < self.expected_id:  # only possible in a file: the database orders by id
            self._add(e.id, "reordered", f"row {e.id} comes after row {self.expected_id - 1}")
            gap = True
        prev = self.prev
        if gap:
            expected_prev: str | None = None
        elif e.id == 1:
            expected_prev = ZERO_HASH
        elif prev is not None and prev[2]:
            expected_prev = prev[1]
        else:
            expected_prev = None  # the row before is itself broken: its report explains this one

        intact = e.computed_hash() == e.hash
        if intact:
            if expected_prev is not None and e.prev_hash != expected_prev:
                self._add(
                    e.id,
                    "bad link",
                    f"prev_hash does not match row {e.id - 1}'s hash: row {e.id - 1} was "
                    f"rewritten (hash recomputed) or this link was edited",
                    first_bad=e.id - 1,
                )
        elif (
            expected_prev is not None
            and e.prev_hash != expected_prev
            and e.computed_hash(prev_hash=expected_prev) == e.hash
        ):
            self._add(e.id, "bad link", f"prev_hash was edited: it no longer points at row {e.id - 1} (content intact)")
        elif len(self.suspects) < MAX_SUSPECTS:
            self.suspects[e.id] = e
        else:
            self._add(e.id, "altered", f"row {e.id} does not match its hash")
        self.prev = (e.id, e.hash, intact)
        self.expected_id = max(self.expected_id, e.id + 1)

    def finish(self, lookup: Callable[[set[str]], Mapping[str, list[int]]] | None = None) -> VerifyReport:
        """``lookup(hashes)`` says which ids store each hash; it lets a moved row be told
        apart from an edited one."""
        moved = self._resolve_moves(lookup) if self.suspects else {}
        for sid in self.suspects:
            if sid in moved:
                self._add(sid, "reordered", f"row {sid} holds the entry written as row {moved[sid]}")
            else:
                self._add(sid, "altered", f"row {sid} does not match its hash: a field (or the hash) was changed")
        self.findings.sort(key=lambda f: (f[0].id, f[0].what))
        problems = [p for p, _ in self.findings]
        head_id, head_hash = (self.prev[0], self.prev[1]) if self.prev else (0, ZERO_HASH)
        last_good = min((bad for _, bad in self.findings), default=head_id + 1) - 1
        return VerifyReport(
            ok=not problems,
            rows_checked=self.rows,
            last_good_id=max(last_good, 0),
            problems=problems,
            head_id=head_id,
            head_hash=head_hash,
        )

    def _resolve_moves(self, lookup: Callable[[set[str]], Mapping[str, list[int]]] | None) -> dict[int, int]:
        wanted = {e.prev_hash for e in self.suspects.values()} - {ZERO_HASH}
        where = lookup(wanted) if lookup and wanted else {}
        moved: dict[int, int] = {}  # stored at id -> written as id

        def position_of(h: str) -> int | None:
            for stored in where.get(h, ()):
                if stored not in self.suspects:
                    return stored
                if stored in moved:
                    return moved[stored]
            return None

        progress = True
        while progress:
            progress = False
            for sid, e in self.suspects.items():
                if sid in moved:
                    continue
                before = 0 if e.prev_hash == ZERO_HASH else position_of(e.prev_hash)
                candidates = [] if before is None else [before + 1]
                candidates += [sid + d for d in range(-NEARBY, NEARBY + 1) if d and sid + d > 0]
                for cand in candidates:
                    if cand != sid and e.computed_hash(id=cand) == e.hash:
                        moved[sid] = cand
                        progress = True
                        break
        return moved


def verify_db(db: Database, progress: Callable[[int, int], None] | None = None) -> VerifyReport:
    with db.read() as conn:
        top, total = conn.execute(select(func.max(audit_log.c.id), func.count())).one()
    checker = ChainChecker()
    if top is not None:
        for e in iter_entries(db, upto_id=int(top)):
            checker.feed(e)
            if progress is not None and checker.rows % 1000 == 0:
                progress(checker.rows, int(total))
    if progress is not None:
        progress(checker.rows, int(total or 0))

    def lookup(hashes: set[str]) -> dict[str, list[int]]:
        found: dict[str, list[int]] = {}
        wanted = sorted(hashes)
        with db.read() as conn:
            for i in range(0, len(wanted), 500):
                stmt = select(audit_log.c.id, audit_log.c.hash).where(audit_log.c.hash.in_(wanted[i : i + 500]))
                for row in conn.execute(stmt):
                    found.setdefault(row.hash, []).append(int(row.id))
        return found

    return checker.finish(lookup)


def entry_from_json(obj: Mapping[str, Any]) -> AuditEntry:
    """One exported line back into an entry (raises KeyError/ValueError/TypeError if it is
    not one)."""
    run_id = obj["run_id"]
    detail = obj["detail"]
    if not isinstance(detail, dict):
        raise TypeError("detail is not an object")
    return AuditEntry(
        id=int(obj["id"]),
        ts=datetime.fromisoformat(obj["ts"]),
        actor=obj["actor"],
        action=obj["action"],
        command=obj["command"],
        platform=obj["platform"],
        channel=obj["channel"],
        run_id=None if run_id is None else int(run_id),
        summary=obj["summary"],
        detail=detail,
        prev_hash=obj["prev_hash"],
        hash=obj["hash"],
    )


def verify_lines(fp: IO[str]) -> VerifyReport:
    """Check an export made by ``AuditLog.export`` (no filter) using nothing but the file.

    A filtered export has gaps by design: they show as ``missing``; each line's own hash is
    still checked."""
    checker = ChainChecker()
    for number, line in enumerate(fp, 1):
        if not line.strip():
            continue
        try:
            checker.feed(entry_from_json(json.loads(line)))
        except (ValueError, KeyError, TypeError) as exc:
            checker.rows += 1
            checker._add(0, "altered", f"line {number} is not an audit entry ({exc.__class__.__name__})")

    def lookup(hashes: set[str]) -> dict[str, list[int]]:
        found: dict[str, list[int]] = {}
        if not fp.seekable():
            return found
        fp.seek(0)
        for line in _json_lines(fp):
            if line.get("hash") in hashes:
                found.setdefault(line["hash"], []).append(int(line["id"]))
        return found

    return checker.finish(lookup)


def _json_lines(fp: Iterable[str]) -> Iterable[dict[str, Any]]:
    for line in fp:
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            yield obj
