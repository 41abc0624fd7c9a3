"""Command groups of the ``medcredit`` program, one module per area.

Each module defines ``COMMANDS``, a list of click commands or groups added to the program.
"""

from __future__ import annotations

import importlib
import importlib.util

import click

AREAS = ("data", "credit", "features", "model", "selection", "serve", "audit", "demo")


def register(cli: click.Group) -> None:
    for area in AREAS:
        name = f"{__name__}.{area}"
        if importlib.util.find_spec(name) is None:  # an area whose module is not installed in this build
            continue
        for command in importlib.import_module(name).COMMANDS:
            cli.add_command(command)
