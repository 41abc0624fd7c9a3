"""``medcredit audit verify`` and ``medcredit token create|list|revoke``."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click
from sqlalchemy.engine import Engine

from features import open_store

from ..audit import SYSTEM_ACTOR, append_entry, verify_chain
from ..auth import create_token, list_tokens, revoke_token
from ..store import ROLES

_DB = click.option(
    "--database-url", envvar="MEDCREDIT_DATABASE_URL", help="SQLAlchemy URL (default: SQLite in the data dir)."
)


@contextmanager
def _store(database_url: str | None) -> Iterator[Engine]:
    engine = open_store(database_url)
    try:
        yield engine
    finally:
        engine.dispose()


@click.group("audit")
def audit_group() -> None:
    """The append-only audit log (审计日志)."""


def _parse_head(value: str | None) -> tuple[int, str] | None:
    if not value:
        return None
    seq, _, digest = value.partition(":")
    if not seq.isdigit() or len(digest) != 64:
        raise click.BadParameter(
            f"expected SEQ:SHA256 as printed by an earlier verify; got {value!r}", param_hint="--head"
        )
    return int(seq), digest.lower()


@audit_group.command("verify")
@click.option("--head", help="A head printed earlier (SEQ:SHA256); it must still be in the chain.")
@_DB
def verify_command(head: str | None, database_url: str | None) -> None:
    """Walk the hash chain; exit 1 naming the first edited, inserted or deleted entry."""
    expected = _parse_head(head)
    with _store(database_url) as engine:
        report = verify_chain(engine, expected_head=expected)
    if report.ok:
        click.echo(f"审计链完整 audit chain intact: {report.entries} entries; head {report.head_seq}:{report.head}")
        return
    click.echo(
        f"审计链被破坏 audit chain BROKEN at entry {report.broken_seq}: {report.reason} "
        f"({report.entries} entries verified before it)",
        err=True,
    )
    sys.exit(1)


@click.group("token")
def token_group() -> None:
    """API tokens: created here, shown once, stored only as SHA-256."""


@token_group.command("create")
@click.option("--role", required=True, type=click.Choice(ROLES), help="What the holder may do.")
@click.option(
    "--region",
    "regions",
    multiple=True,
    required=True,
    help="County code (repeat for several), or 'all' for province/city users.",
)
@click.option("--name", required=True, help="Who holds the token (person or system).")
@_DB
def token_create_command(role: str, regions: tuple[str, ...], name: str, database_url: str | None) -> None:
    """Create a token and print it once."""
    with _store(database_url) as engine:
        try:
            token = create_token(engine, name=name, role=role, regions=list(regions))
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--region/--name") from error
        append_entry(
            engine,
            actor=SYSTEM_ACTOR,
            action="token.create",
            resource=f"/tokens/{token.token_id}",
            region=None if token.regions is None else ";".join(sorted(token.regions)),
            payload={"token_id": token.token_id, "name": name, "role": role},
        )
    scope = "all" if token.regions is None else ",".join(sorted(token.regions))
    click.echo(
        f"令牌 token #{token.token_id} for {name} ({role}, regions {scope}) — shown once, keep it safe:", err=True
    )
    click.echo(token.secret)


@token_group.command("list")
@_DB
def token_list_command(database_url: str | None) -> None:
    """List tokens (never their secrets)."""
    with _store(database_url) as engine:
        rows = list_tokens(engine)
    for row in rows:
        state = "revoked " + str(row["revoked_at"]) if row["revoked_at"] else "active"
        click.echo(f"#{row['token_id']:<4} {row['role']:<13} {row['regions']:<24} {row['name']}  ({state})")


@token_group.command("revoke")
@click.argument("token_id", type=int)
@_DB
def token_revoke_command(token_id: int, database_url: str | None) -> None:
    """Revoke a token at once."""
    with _store(database_url) as engine:
        if not revoke_token(engine, token_id):
            click.echo(f"no active token #{token_id}", err=True)
            sys.exit(1)
        append_entry(engine, actor=SYSTEM_ACTOR, action="token.revoke", resource=f"/tokens/{token_id}", payload={})
    click.echo(f"token #{token_id} revoked")


COMMANDS = [audit_group, token_group]
