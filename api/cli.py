"""The ``medcredit`` command line."""

from __future__ import annotations

import logging

import click

from .commands import register


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """medcredit — 定点医药机构信用评价与风险分级 / credit and risk rating of designated institutions."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


register(cli)


def main() -> None:
    cli(prog_name="medcredit")
