"""The append-only audit log: every change, and every read of an institution's detail.

Each entry carries the hash of the entry before it and its own SHA-256 over a canonical JSON of
(seq, time, actor token id, actor, role, action, resource, region, payload digest, previous hash).
Editing any field, deleting an entry or inserting one breaks the chain at that entry, which
:func:`verify_chain` names. Deleting the newest entries leaves a shorter valid chain; publishing the
head (``ChainReport.head``) now and then and checking it later with ``expected_head`` catches that.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .store import audit_log

log = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
_APPEND_ATTEMPTS = 50


@dataclass(frozen=True)
class Actor:
    """Who acts: a token holder, or the command line (token_id None)."""

    token_id: int | None
    name: str
    role: str


SYSTEM_ACTOR = Actor(token_id=None, name="medcredit-cli", role="admin")


def canonical_json(document: Any) -> bytes:
    """Sorted keys, no spaces, UTF-8: the same bytes for the same document on every platform."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def entry_hash(entry: dict[str, Any]) -> str:
    """The SHA-256 that chains ``entry`` (a row of ``audit_log`` as a mapping)."""
    hashed = {
        "seq": int(entry["seq"]),
        "at": entry["at"],
        "actor_token_id": entry["actor_token_id"],
        "actor": entry["actor"],
        "role": entry["role"],
        "action": entry["action"],
        "resource": entry["resource"],
        "region": entry["region"],
        "payload_sha256": entry["payload_sha256"],
        "prev_hash": entry["prev_hash"],
    }
    return _sha256(canonical_json(hashed))


def append_entry(
    engine: Engine,
    *,
    actor: Actor,
    action: str,
    resource: str,
    region: str | None = None,
    payload: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Append one entry at the head of the chain and return it.

    Concurrent writers (several gunicorn workers) race for the next ``seq``; the primary key lets
    only one win and the others re-read the head and try again, so the chain never forks.
    """
    payload_text = canonical_json(payload or {}).decode()
    for _attempt in range(_APPEND_ATTEMPTS):
        try:
            return _append_once(engine, actor, action, resource, region, payload_text)
        except (sa.exc.IntegrityError, sa.exc.OperationalError) as error:
            log.debug("audit append raced another writer, retrying: %s", error)
    raise RuntimeError(f"could not append to the audit log after {_APPEND_ATTEMPTS} attempts")


def _append_once(
    engine: Engine, actor: Actor, action: str, resource: str, region: str | None, payload_text: str
) -> dict[str, Any]:
    with engine.begin() as connection:
        head = connection.execute(
            sa.select(audit_log.c.seq, audit_log.c.entry_hash).order_by(audit_log.c.seq.desc()).limit(1)
        ).first()
        entry = {
            "seq": 1 if head is None else int(head.seq) + 1,
            "at": datetime.now(UTC).isoformat(timespec="microseconds"),
            "actor_token_id": actor.token_id,
            "actor": actor.name,
            "role": actor.role,
            "action": action,
            "resource": resource,
            "region": region,
            "payload": payload_text,
            "payload_sha256": _sha256(payload_text.encode()),
            "prev_hash": GENESIS_HASH if head is None else head.entry_hash,
        }
        entry["entry_hash"] = entry_hash(entry)
        connection.execute(audit_log.insert().values(**entry))
    return entry


@dataclass(frozen=True)
class ChainReport:
    """Outcome of :func:`verify_chain`: ``broken_seq`` is the first entry that fails, if any."""

    entries: int
    head_seq: int | None
    head: str
    broken_seq: int | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.broken_seq is None


def _rows(engine: Engine, batch: int = 5000) -> Iterator[dict[str, Any]]:
    last = 0
    while True:
        query = sa.select(audit_log).where(audit_log.c.seq > last).order_by(audit_log.c.seq).limit(batch)
        with engine.connect() as connection:
            rows = [dict(row._mapping) for row in connection.execute(query)]
        if not rows:
            return
        yield from rows
        last = int(rows[-1]["seq"])


def _entry_problem(row: dict[str, Any], expected_seq: int, prev_hash: str) -> str | None:
    if int(row["seq"]) != expected_seq:
        return f"entry {expected_seq} is missing (deleted?); next stored entry is {row['seq']}"
    if row["prev_hash"] != prev_hash:
        return "prev_hash does not match the previous entry's hash (an entry before it was changed or removed)"
    if _sha256(row["payload"].encode()) != row["payload_sha256"]:
        return "payload does not match its digest (payload edited)"
    if entry_hash(row) != row["entry_hash"]:
        return "entry hash does not match its fields (entry edited)"
    return None


def verify_chain(engine: Engine, *, expected_head: tuple[int, str] | None = None) -> ChainReport:
    """Walk the whole log; report the first entry that is edited, missing or out of chain.

    ``expected_head`` is a (seq, entry_hash) published earlier: it must still be in the chain.
    """
    prev_hash, expected_seq, count = GENESIS_HASH, 1, 0
    seen_expected = expected_head is None
    for row in _rows(engine):
        problem = _entry_problem(row, expected_seq, prev_hash)
        if problem:
            return ChainReport(count, expected_seq - 1 or None, prev_hash, broken_seq=expected_seq, reason=problem)
        if expected_head and int(row["seq"]) == expected_head[0]:
            if row["entry_hash"] != expected_head[1]:
                return ChainReport(
                    count,
                    expected_seq - 1 or None,
                    prev_hash,
                    broken_seq=expected_seq,
                    reason="differs from the published head",
                )
            seen_expected = True
        prev_hash, expected_seq, count = row["entry_hash"], expected_seq + 1, count + 1
    head_seq = expected_seq - 1 or None
    if not seen_expected:
        assert expected_head is not None
        return ChainReport(
            count,
            head_seq,
            prev_hash,
            broken_seq=expected_head[0],
            reason="published head is missing (entries deleted at the end)",
        )
    return ChainReport(count, head_seq, prev_hash)


def list_entries(
    engine: Engine,
    *,
    after_seq: int = 0,
    limit: int = 100,
    action: str | None = None,
    resource_prefix: str | None = None,
    actor_token_id: int | None = None,
) -> list[dict[str, Any]]:
    """Entries in chain order after ``after_seq`` (for the auditor's view), payload decoded."""
    query = sa.select(audit_log).where(audit_log.c.seq > after_seq)
    if action:
        query = query.where(audit_log.c.action == action)
    if resource_prefix:
        query = query.where(audit_log.c.resource.startswith(resource_prefix, autoescape=True))
    if actor_token_id is not None:
        query = query.where(audit_log.c.actor_token_id == actor_token_id)
    with engine.connect() as connection:
        rows = [dict(row._mapping) for row in connection.execute(query.order_by(audit_log.c.seq).limit(limit))]
    for row in rows:
        row["payload"] = json.loads(row["payload"])
    return rows
