"""``medcredit serve``: the API and dashboard under gunicorn."""

from __future__ import annotations

import os
from typing import Any

import click

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def _default_workers() -> int:
    return max(2, min(4, (os.cpu_count() or 1) * 2))


def gunicorn_options(host: str, port: int, workers: int, threads: int, **extra: Any) -> dict[str, Any]:
    """Options for gunicorn: threaded workers keep connections alive between requests."""
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": threads,
        "keepalive": 5,
        "timeout": 120,
        "graceful_timeout": 10,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
        **extra,
    }


def run_gunicorn(
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    workers: int | None = None,
    threads: int = 4,
    config: dict[str, Any] | None = None,
    **extra: Any,
) -> None:
    """Serve ``api.app.create_app(config)`` under gunicorn until interrupted (blocks).

    The store is migrated once here, before the workers start, so workers never race to migrate.
    """
    from gunicorn.app.base import BaseApplication

    from features.storage import database_url, open_store

    from ..app import create_app

    config = dict(config or {})
    config.setdefault("DATABASE_URL", os.environ.get("MEDCREDIT_DATABASE_URL") or database_url())
    open_store(config["DATABASE_URL"]).dispose()

    class _Server(BaseApplication):
        def load_config(self) -> None:
            for key, value in gunicorn_options(host, port, workers or _default_workers(), threads, **extra).items():
                self.cfg.set(key, value)

        def load(self):
            return create_app(config)

    _Server().run()


def demo_tokens(engine) -> list:
    """One token per kind of user for the demo: city-wide admin, credit staff, planner and auditor,
    and a scheduler of the first county (to show 属地管辖). Returns ``api.auth.NewToken`` objects."""
    from ..auth import create_token
    from ..store import region_codes

    counties = region_codes(engine, None)
    users = [
        ("admin", "all", "演示-市局管理员"),
        ("credit_staff", "all", "演示-信用管理科"),
        ("planner", "all", "演示-监管规划"),
        ("auditor", "all", "演示-审计"),
    ]
    if counties:
        users.append(("scheduler", [counties[0]], f"演示-{counties[0]}检查调度"))
    return [create_token(engine, name=name, role=role, regions=regions) for role, regions, name in users]


@click.command("serve")
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="Address to listen on.")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", type=click.IntRange(1, 64), help="gunicorn worker processes (default: 2 per core, 2–4).")
@click.option("--threads", default=4, show_default=True, type=click.IntRange(1, 64), help="Threads per worker.")
@click.option(
    "--database-url", envvar="MEDCREDIT_DATABASE_URL", help="SQLAlchemy URL (default: SQLite in the data dir)."
)
@click.option("--access-log", is_flag=True, help="Log every request to stderr.")
def serve_command(
    host: str, port: int, workers: int | None, threads: int, database_url: str | None, access_log: bool
) -> None:
    """Serve the API (/api/v1, docs at /api/v1/docs) and the dashboard (/) under gunicorn."""
    click.echo(f"medcredit: http://{host}:{port}/  (API http://{host}:{port}/api/v1/docs)", err=True)
    extra = {"accesslog": "-"} if access_log else {}
    run_gunicorn(
        host=host,
        port=port,
        workers=workers,
        threads=threads,
        config={"DATABASE_URL": database_url} if database_url else None,
        **extra,
    )


COMMANDS = [serve_command]
