"""CLI subcommands: one module per command, each exposing `register(subparsers)`.

A module's `register` adds its parser and sets `func=callable(args, beam_args) -> int`.
Modules are discovered by name, so adding a command never edits a shared file.
"""
