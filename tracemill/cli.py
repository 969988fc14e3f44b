"""The `tracemill` command: discovers subcommands, turns fatal errors into one clean line and exit 2.

Unknown flags are passed through untouched to Beam's PipelineOptions (`--runner`, ...).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys

from tracemill import __version__, commands
from tracemill.errors import ConfigError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tracemill",
        description="Curate execution-aware code-model training data: verified tasks, graded rollouts, traces.",
        epilog="Flags not listed by a subcommand are passed to Apache Beam (e.g. --runner, --direct_num_workers).",
    )
    parser.add_argument("--version", action="version", version=f"tracemill {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if mod.name.startswith("_"):
            continue  # private helpers, e.g. sub-subcommands a command registers itself
        importlib.import_module(f"{commands.__name__}.{mod.name}").register(sub)
    return parser


class _QuietBeamImports(logging.Filter):
    # Beam's GCP I/O modules warn at import time about optional clients nobody asked for.
    def filter(self, record: logging.LogRecord) -> bool:
        return "apitools" not in record.getMessage()


def main(argv: list[str] | None = None) -> int:
    # Sandboxed runs fork while Beam's gRPC threads are alive; gRPC's fork handlers only log noise.
    os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    verbose = "-v" in (argv or sys.argv[1:]) or "--verbose" in (argv or sys.argv[1:])
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(_QuietBeamImports())
    parser = build_parser()
    args, beam_args = parser.parse_known_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    if beam_args and not getattr(args, "accepts_beam_args", False):
        parser.error(f"unrecognized arguments: {' '.join(beam_args)}")
    try:
        return int(args.func(args, beam_args) or 0)
    except ConfigError as exc:
        print(f"tracemill: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
