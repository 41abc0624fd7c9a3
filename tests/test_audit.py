"""The audit log: hash chain, append-only guards, tamper detection, concurrency, CLI."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from api.audit import Actor, append_entry, list_entries, verify_chain
from api.cli import cli
from api.store import audit_log

ACTOR = Actor(token_id=7, name="审计测试", role="admin")


def fill(engine, n: int = 5) -> None:
    for i in range(n):
        append_entry(
            engine,
            actor=ACTOR,
            action="test.change",
            resource=f"/things/{i}",
            region="441502",
            payload={"i": i, "text": "变更"},
        )


def drop_guards(engine) -> None:
    """What someone with database rights would do before tampering."""
    with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            connection.execute(sa.text("DROP TRIGGER audit_log_no_update"))
            connection.execute(sa.text("DROP TRIGGER audit_log_no_delete"))
        else:
            connection.execute(sa.text("DROP TRIGGER audit_log_append_only ON audit_log"))


def tamper(engine, statement: str) -> None:
    drop_guards(engine)
    with engine.begin() as connection:
        connection.execute(sa.text(statement))


def test_empty_log_verifies(store):
    report = verify_chain(store)
    assert report.ok and report.entries == 0 and report.head_seq is None


def test_entries_chain_to_their_predecessor(store):
    fill(store, 3)
    entries = list_entries(store)
    assert [e["seq"] for e in entries] == [1, 2, 3]
    assert entries[0]["prev_hash"] == "0" * 64
    assert entries[1]["prev_hash"] == entries[0]["entry_hash"]
    assert entries[2]["payload"] == {"i": 2, "text": "变更"}
    report = verify_chain(store)
    assert report.ok and report.entries == 3 and report.head == entries[-1]["entry_hash"]


def test_database_refuses_updates_and_deletes(store):
    fill(store, 2)
    for statement in ("UPDATE audit_log SET action = 'x' WHERE seq = 1", "DELETE FROM audit_log WHERE seq = 2"):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), store.begin() as connection:
            connection.execute(sa.text(statement))
    assert verify_chain(store).ok


@pytest.mark.parametrize(
    ("statement", "broken", "reason"),
    [
        ("UPDATE audit_log SET action = 'test.nothing' WHERE seq = 3", 3, "entry edited"),
        ("UPDATE audit_log SET payload = '[99]' WHERE seq = 2", 2, "payload edited"),
        ("DELETE FROM audit_log WHERE seq = 3", 3, "missing"),
        ("UPDATE audit_log SET actor_token_id = 1 WHERE seq = 5", 5, "entry edited"),
    ],
)
def test_tampering_is_found_at_the_first_broken_entry(store, statement, broken, reason):
    fill(store, 5)
    tamper(store, statement)
    report = verify_chain(store)
    assert not report.ok and report.broken_seq == broken and reason in report.reason


def test_rewriting_an_entry_with_a_fresh_hash_breaks_the_next_link(store):
    fill(store, 4)
    entry = list_entries(store)[1]
    from api.audit import entry_hash

    forged = {**entry, "action": "test.forged"}
    forged["entry_hash"] = entry_hash(forged)
    tamper(store, f"UPDATE audit_log SET action = 'test.forged', entry_hash = '{forged['entry_hash']}' WHERE seq = 2")
    report = verify_chain(store)
    assert report.broken_seq == 3 and "prev_hash" in report.reason


def test_deleting_the_newest_entries_is_caught_against_a_published_head(store):
    fill(store, 4)
    head = verify_chain(store)
    tamper(store, "DELETE FROM audit_log WHERE seq = 4")
    assert verify_chain(store).ok  # a shorter chain is still a chain...
    report = verify_chain(store, expected_head=(head.head_seq, head.head))
    assert not report.ok and report.broken_seq == 4  # ...but the head published earlier is gone


def test_concurrent_writers_never_fork_the_chain(store):
    def write(worker: int) -> None:
        for i in range(10):
            append_entry(store, actor=ACTOR, action="test.concurrent", resource=f"/w/{worker}/{i}", payload={})

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    report = verify_chain(store)
    assert report.ok and report.entries == 40


def test_cli_verify_exits_non_zero_on_tampering(store):
    url = store.url.render_as_string(hide_password=False)
    fill(store, 3)
    runner = CliRunner()
    ok = runner.invoke(cli, ["audit", "verify", "--database-url", url])
    assert ok.exit_code == 0 and "intact" in ok.output
    head = ok.output.strip().rsplit("head ", 1)[1]
    tamper(store, "DELETE FROM audit_log WHERE seq = 3")
    assert runner.invoke(cli, ["audit", "verify", "--database-url", url]).exit_code == 0
    broken = runner.invoke(cli, ["audit", "verify", "--database-url", url, "--head", head])
    assert broken.exit_code == 1 and "BROKEN at entry 3" in broken.output


def test_cli_token_create_prints_the_secret_once_and_logs_it(store):
    url = store.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(
        cli, ["token", "create", "--role", "scheduler", "--region", "441502", "--name", "调度员", "--database-url", url]
    )
    assert result.exit_code == 0, result.output
    secret = result.output.strip().splitlines()[-1]
    assert secret.startswith("mc_")
    with store.connect() as connection:
        stored = connection.execute(sa.text("SELECT token_sha256, regions, role FROM api_tokens")).one()
    assert secret not in stored and stored.regions == "441502" and stored.role == "scheduler"
    assert list_entries(store)[-1]["action"] == "token.create"


def test_cli_token_create_rejects_a_bad_region(store):
    url = store.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(
        cli, ["token", "create", "--role", "planner", "--region", "4415", "--name", "x", "--database-url", url]
    )
    assert result.exit_code != 0 and "6-digit" in result.output


def test_audit_rows_have_the_documented_columns(store):
    fill(store, 1)
    assert {c.name for c in audit_log.c} >= {
        "seq",
        "at",
        "actor_token_id",
        "role",
        "action",
        "resource",
        "region",
        "payload_sha256",
        "prev_hash",
        "entry_hash",
    }
