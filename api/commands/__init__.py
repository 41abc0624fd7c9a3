"""Command groups of the ``medcredit`` program, one module per area."""

from __future__ import annotations

import click


def register(cli: click.Group) -> None:
    from . import data

    for module in (data,):
        for command in module.COMMANDS:
            cli.add_command(command)
