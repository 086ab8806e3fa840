"""The ``yts-pipeline`` command: the headless sync runner, the local Dagster instance, search and maintenance."""

import argparse
from collections.abc import Callable


def add_command(
    sub: argparse._SubParsersAction, name: str, summary: str, handler: Callable[[argparse.Namespace], int]
) -> argparse.ArgumentParser:
    """A subcommand whose summary is its line in ``yts-pipeline --help`` and the opening of its own help."""
    command = sub.add_parser(name, help=summary, description=summary[0].upper() + summary[1:] + ".")
    command.set_defaults(handler=handler)
    return command
