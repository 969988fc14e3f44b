"""Sync test: every `tracemill` subcommand explains itself (--help, description, help on every flag) and
is mentioned in the README as `tracemill <command>`."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from tracemill.cli import build_parser, main

README = Path(__file__).resolve().parents[1] / "README.md"


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def command_help() -> dict[str, str | None]:
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return {a.dest: a.help for a in sub._choices_actions}


def nested(parser: argparse.ArgumentParser, path: str):
    """(path, parser) for a parser and every sub-action parser below it (e.g. `config show`)."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, child in action.choices.items():
                assert helps.get(name), f"`tracemill {path} {name}` has no help line"
                yield from nested(child, f"{path} {name}")


def test_there_are_commands():
    assert {"sft-mix", "audit", "validate", "config"} <= set(subcommands())


@pytest.mark.parametrize("name", sorted(subcommands()))
def test_command_explains_itself(name):
    assert command_help()[name], f"`tracemill {name}` has no help line in `tracemill --help`"
    for path, parser in nested(subcommands()[name], name):
        assert parser.description and len(parser.description) > 20, f"`tracemill {path}` has no description"
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            flag = "/".join(action.option_strings) or action.dest
            assert action.help and action.help != argparse.SUPPRESS, f"`tracemill {path}` {flag} has no help"


@pytest.mark.parametrize("name", sorted(subcommands()))
def test_help_runs(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([name, "--help"])
    assert exit_info.value.code == 0
    assert f"tracemill {name}" in capsys.readouterr().out


def test_every_command_is_in_the_readme():
    text = README.read_text() if README.exists() else ""
    missing = [name for name in sorted(subcommands()) if not re.search(rf"\btracemill {re.escape(name)}\b", text)]
    assert not missing, f"README.md does not mention: {', '.join(f'`tracemill {m}`' for m in missing)}"
