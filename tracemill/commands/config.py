"""`tracemill config show`: the resolved configuration (defaults, then --config, then --set) as YAML."""

from __future__ import annotations

import sys

import yaml

from tracemill.config import config_hash, load_config, to_dict


def register(sub) -> None:
    p = sub.add_parser("config", help="show the resolved configuration",
                       description="Inspect tracemill's one typed configuration. Defaults run the bundled "
                                   "sample; a YAML preset (--config) and --set key=value override values. "
                                   "Unknown keys and bad values are one-line errors (exit 2).")
    actions = p.add_subparsers(dest="config_action", metavar="ACTION", required=True)
    show = actions.add_parser("show", help="print the resolved config as YAML, with its hash",
                              description="Print the configuration a run with these flags would use, as YAML "
                                          "(the same tree the manifest records), headed by its config_hash.")
    show.add_argument("--config", metavar="FILE", help="YAML preset overriding the defaults")
    show.add_argument("--set", metavar="KEY=VALUE", action="append", default=[], dest="overrides",
                      help="override one value, e.g. --set mix.sft.token_budget=5000 (repeatable)")
    p.set_defaults(func=run, accepts_beam_args=False)


def show(config: str | None, overrides: list[str]) -> str:
    cfg = load_config(config, overrides)
    tree = to_dict(cfg)
    body = yaml.safe_dump(tree, sort_keys=True, default_flow_style=False, allow_unicode=True)
    return f"# config_hash: {config_hash(cfg)}\n{body}"


def run(args, beam_args: list[str]) -> int:
    sys.stdout.write(show(args.config, args.overrides))
    return 0
