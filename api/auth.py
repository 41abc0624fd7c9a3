"""API tokens, roles and region scope (属地管辖), checked in one place.

A token is random, shown once when created, and stored only as its SHA-256. Each token has a role
and a region scope: a list of county codes, or every region for province and city users. Views
declare the permission they need with :func:`requires`; :func:`check_request` (a ``before_request``
hook) enforces it for every endpoint, and refuses any API endpoint that declares nothing.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .audit import Actor
from .store import ALL_REGIONS, ROLES, api_tokens

TOKEN_PREFIX = "mc_"
_REGION = re.compile(r"^\d{6}$")

# Which role may do what. Reads of institutions and grades are open to every role (within the
# region scope); changes belong to the role whose work they are; admin may do everything.
PERMISSIONS: dict[str, frozenset[str]] = {
    "planner": frozenset(
        {
            "institutions:read",
            "grades:read",
            "model:read",
            "draws:read",
            "selections:read",
            "selections:write",
            "plans:read",
            "plans:write",
            "inspections:read",
            "objections:read",
        }
    ),
    "scheduler": frozenset(
        {
            "institutions:read",
            "grades:read",
            "model:read",
            "draws:read",
            "draws:write",
            "selections:read",
            "plans:read",
            "inspections:read",
            "inspections:write",
            "objections:read",
        }
    ),
    "credit_staff": frozenset(
        {
            "institutions:read",
            "grades:read",
            "model:read",
            "credit:run",
            "objections:read",
            "objections:write",
            "objections:decide",
            "draws:read",
            "plans:read",
            "inspections:read",
            "imports:read",
            "imports:write",
        }
    ),
    "auditor": frozenset(
        {
            "institutions:read",
            "grades:read",
            "model:read",
            "draws:read",
            "selections:read",
            "plans:read",
            "inspections:read",
            "objections:read",
            "imports:read",
            "audit:read",
        }
    ),
}
ALL_PERMISSIONS: frozenset[str] = frozenset().union(*PERMISSIONS.values())
PERMISSIONS["admin"] = ALL_PERMISSIONS
assert set(PERMISSIONS) == set(ROLES)


@dataclass(frozen=True)
class Principal:
    """The holder of a valid token: who, which role, which regions (None: all)."""

    token_id: int
    name: str
    role: str
    regions: frozenset[str] | None

    @property
    def actor(self) -> Actor:
        return Actor(self.token_id, self.name, self.role)

    def can(self, permission: str) -> bool:
        return permission in PERMISSIONS[self.role]

    def sees_region(self, region: str) -> bool:
        return self.regions is None or region in self.regions

    @property
    def scope_label(self) -> str:
        return "全部 all" if self.regions is None else ";".join(sorted(self.regions))


@dataclass(frozen=True)
class NewToken:
    """A token just created: ``secret`` is shown once and never stored."""

    token_id: int
    name: str
    role: str
    regions: frozenset[str] | None
    secret: str


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_regions(regions: str | Iterable[str] | None) -> frozenset[str] | None:
    """``None``, ``"*"`` or ``"all"``: every region; else 6-digit codes (``;`` or ``,`` separated)."""
    if regions is None:
        return None
    items = [regions] if isinstance(regions, str) else list(regions)
    codes = {part.strip() for item in items for part in re.split(r"[;,；，\s]+", item) if part.strip()}
    if not codes or codes & {ALL_REGIONS, "all"}:
        if codes - {ALL_REGIONS, "all"}:
            raise ValueError(f"regions must be 'all' or 6-digit region codes, not both; got {sorted(codes)}")
        return None
    bad = sorted(code for code in codes if not _REGION.match(code))
    if bad:
        raise ValueError(f"regions must be 6-digit region codes (e.g. 441502) or 'all'; got {bad}")
    return frozenset(codes)


def create_token(engine: Engine, *, name: str, role: str, regions: str | Iterable[str] | None) -> NewToken:
    """Create a token for ``role`` limited to ``regions``; the secret is returned once."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {list(ROLES)}; got {role!r}")
    if not name or len(name) > 100:
        raise ValueError(f"name must be 1 to 100 characters; got {name!r}")
    scope = parse_regions(regions)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    stored = ALL_REGIONS if scope is None else ";".join(sorted(scope))
    with engine.begin() as connection:
        token_id = connection.execute(
            api_tokens.insert().values(
                name=name,
                role=role,
                regions=stored,
                token_sha256=hash_token(secret),
                created_at=datetime.now(UTC).replace(tzinfo=None),
            )
        ).inserted_primary_key[0]
    return NewToken(int(token_id), name, role, scope, secret)


def revoke_token(engine: Engine, token_id: int) -> bool:
    """Revoke a token; False when no active token has this id."""
    with engine.begin() as connection:
        result = connection.execute(
            api_tokens.update()
            .where(api_tokens.c.token_id == token_id, api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC).replace(tzinfo=None))
        )
    return result.rowcount == 1


def list_tokens(engine: Engine) -> list[dict[str, Any]]:
    """Every token (never the secret nor its hash)."""
    columns = [c for c in api_tokens.c if c.name != "token_sha256"]
    with engine.connect() as connection:
        return [dict(r._mapping) for r in connection.execute(sa.select(*columns).order_by(api_tokens.c.token_id))]


# built once: this runs on every API request
_PRINCIPAL_QUERY = sa.select(api_tokens.c.token_id, api_tokens.c.name, api_tokens.c.role, api_tokens.c.regions).where(
    api_tokens.c.token_sha256 == sa.bindparam("token_sha256"), api_tokens.c.revoked_at.is_(None)
)


def principal_for_hash(engine: Engine, token_sha256: str) -> Principal | None:
    """The active token with this hash, or None (revocation takes effect on the next request)."""
    with engine.connect() as connection:
        row = connection.execute(_PRINCIPAL_QUERY, {"token_sha256": token_sha256}).first()
    if row is None:
        return None
    regions = None if row.regions == ALL_REGIONS else frozenset(row.regions.split(";"))
    return Principal(int(row.token_id), row.name, row.role, regions)


def principal_for_secret(engine: Engine, secret: str) -> Principal | None:
    return principal_for_hash(engine, hash_token(secret.strip()))


F = TypeVar("F", bound=Callable[..., Any])


def requires(permission: str | None, *, audit_read: str | None = None) -> Callable[[F], F]:
    """Declare the permission a view needs (None: public); ``audit_read`` names the audit action
    recorded when the view reads an institution's detail. Apply below ``@blp.route``."""
    if permission is not None and permission not in ALL_PERMISSIONS:
        raise ValueError(f"permission must be one of {sorted(ALL_PERMISSIONS)}; got {permission!r}")

    def mark(view: F) -> F:
        view._permission = permission  # type: ignore[attr-defined]
        view._public = permission is None  # type: ignore[attr-defined]
        view._audit_read = audit_read  # type: ignore[attr-defined]
        return view

    return mark


def bearer_secret(authorization: str | None) -> str | None:
    """The token in an ``Authorization: Bearer <token>`` header, or None."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()
