"""One typed configuration: frozen dataclasses with defaults that run the bundled sample.

YAML presets and `--set a.b=value` override values only; unknown keys and wrongly typed values raise
ConfigError (one line, exit 2). The resolved config and its hash go into every manifest.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tracemill.errors import ConfigError
from tracemill.sample import SAMPLE_REF


@dataclass(frozen=True)
class InputsConfig:
    tasks: tuple[str, ...] = ("@sample/tasks.jsonl",)
    rollouts: tuple[str, ...] = ("@sample/rollouts.jsonl",)
    # repo name -> local git repository; "@sample" materializes the bundled sample project.
    repos: dict[str, str] = field(default_factory=lambda: {"tracemill/textkit": SAMPLE_REF})
    # Ready-made sft_example files (e.g. `tracemill traces` output sft.jsonl), mixed by their `source`.
    sft_examples: tuple[str, ...] = ()


@dataclass(frozen=True)
class FilterConfig:
    """Trajectory filters (see filters/trajectory.py) and the run's dead-letter guard.

    Defaults suit rejection sampling: a rollout without a patch or one that edits tests still goes
    to grading, because it is a legitimate negative RL example (grading restores the tests).
    """

    max_turns: int | None = 200
    max_tokens: int | None = 128_000
    require_patch: bool = False
    allow_test_file_edits: bool = True
    max_repeated_actions: int | None = 5
    max_tool_error_rate: float | None = 0.6
    secrets: str = "scrub"
    max_policy_staleness: int | None = None
    max_dead_letter_ratio: float = 0.5


@dataclass(frozen=True)
class DedupConfig:
    exact: bool = True
    near: bool = True
    threshold: float = 0.8
    num_perm: int = 128
    ngram: int = 5
    seed: int = 1
    text: str = "trajectory.text"  # what near-dedup compares (tracemill.dedup.texts.TEXT_FUNCTIONS)


@dataclass(frozen=True)
class DecontamConfig:
    """Evaluation sets tasks must not overlap (off while every list is empty). A contaminated task is
    dropped with the matched benchmark item, and so are its rollouts (`task_contaminated`)."""

    swe_bench: tuple[str, ...] = ()
    humaneval: tuple[str, ...] = ()
    deny_lists: tuple[str, ...] = ()
    ngram: int = 13
    min_containment: float = 0.5
    jaccard: float = 0.8

    @property
    def enabled(self) -> bool:
        return bool(self.swe_bench or self.humaneval or self.deny_lists)


@dataclass(frozen=True)
class GradingConfig:
    timeout_s: float = 15.0
    memory_mb: int = 2048
    infra_retries: int = 2
    python: str | None = None
    concurrency: int = 0  # sandboxed test runs at once per worker; 0 = one per core


@dataclass(frozen=True)
class SamplingConfig:
    reward_resolved: float = 1.0
    reward_unresolved: float = -1.0


@dataclass(frozen=True)
class SplitMix:
    # source name -> weight; a source's share of the budget is weight / sum(weights).
    weights: dict[str, float] = field(default_factory=lambda: {"rollouts": 1.0})
    token_budget: int | None = None  # None keeps everything


@dataclass(frozen=True)
class MixConfig:
    seed: int = 0
    tokenizer: str = "approx"
    sft: SplitMix = field(default_factory=SplitMix)
    rl: SplitMix = field(default_factory=SplitMix)


@dataclass(frozen=True)
class OutputConfig:
    shards: int = 2
    jsonl: bool = True


@dataclass(frozen=True)
class Config:
    inputs: InputsConfig = field(default_factory=InputsConfig)
    filters: FilterConfig = field(default_factory=FilterConfig)
    dedup: DedupConfig = field(default_factory=DedupConfig)
    decontam: DecontamConfig = field(default_factory=DecontamConfig)
    grading: GradingConfig = field(default_factory=GradingConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    mix: MixConfig = field(default_factory=MixConfig)
    output: OutputConfig = field(default_factory=OutputConfig)

    def validate(self) -> Config:
        if not 0 < self.dedup.threshold <= 1:
            raise ConfigError(f"dedup.threshold must be in (0, 1], got {self.dedup.threshold}")
        from tracemill.dedup.texts import text_function  # light module; validates the name

        text_function(self.dedup.text)
        if self.output.shards < 1:
            raise ConfigError("output.shards must be >= 1")
        if not 0 <= self.filters.max_dead_letter_ratio <= 1:
            raise ConfigError("filters.max_dead_letter_ratio must be in [0, 1]")
        for split in ("sft", "rl"):
            mix: SplitMix = getattr(self.mix, split)
            if any(w < 0 for w in mix.weights.values()) or not mix.weights:
                raise ConfigError(f"mix.{split}.weights must be non-empty and non-negative")
            if mix.token_budget is not None and mix.token_budget < 0:
                raise ConfigError(f"mix.{split}.token_budget must be >= 0")
        if self.filters.secrets not in ("scrub", "drop", "off"):
            raise ConfigError(f"filters.secrets must be scrub, drop or off, got {self.filters.secrets!r}")
        if not (0 < self.decontam.min_containment <= 1 and 0 < self.decontam.jaccard <= 1):
            raise ConfigError("decontam.min_containment and decontam.jaccard must be in (0, 1]")
        if self.grading.timeout_s <= 0:
            raise ConfigError("grading.timeout_s must be > 0")
        return self


def to_dict(cfg: Any) -> Any:
    if dataclasses.is_dataclass(cfg):
        return {f.name: to_dict(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}
    if isinstance(cfg, tuple):
        return [to_dict(v) for v in cfg]
    if isinstance(cfg, dict):
        return {k: to_dict(v) for k, v in sorted(cfg.items())}
    return cfg


def config_hash(cfg: Config) -> str:
    return hashlib.sha256(json.dumps(to_dict(cfg), sort_keys=True).encode()).hexdigest()


def _coerce(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
        return _build(tp, value, where)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{where}: bad value {value!r}")
    if origin is tuple:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        (item,) = typing.get_args(tp)[:1]
        return tuple(_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        _, vt = typing.get_args(tp)
        return {str(k): _coerce(v, vt, f"{where}.{k}") for k, v in value.items()}
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp in (int, str, bool) and type(value) is tp:
        return value
    raise ConfigError(f"{where}: expected {getattr(tp, '__name__', tp)}, got {value!r}")


def _build(cls: type, values: dict, where: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(f"unknown config key {where + '.' if where else ''}{unknown[0]} "
                          f"(known: {', '.join(sorted(names))})")
    base = cls()
    kwargs = {}
    for name in names:
        if name in values:
            sub = f"{where}.{name}" if where else name
            current = getattr(base, name)
            value = values[name]
            if dataclasses.is_dataclass(current) and isinstance(value, dict):
                merged = {**to_dict(current), **value}
                kwargs[name] = _coerce(merged, hints[name], sub)
            else:
                kwargs[name] = _coerce(value, hints[name], sub)
    return dataclasses.replace(base, **kwargs)


def _set_path(tree: dict, dotted: str, raw: str) -> None:
    keys = dotted.split(".")
    node = tree
    for k in keys[:-1]:
        node = node.setdefault(k, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {dotted}: {k} is not a section")
    node[keys[-1]] = yaml.safe_load(raw) if raw != "" else ""


def _deep_merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_config(path: str | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Defaults, then the YAML file at `path`, then `key=value` overrides."""
    tree: dict = {}
    if path:
        try:
            loaded = yaml.safe_load(Path(path).read_text()) or {}
        except OSError as exc:
            raise ConfigError(f"cannot read config {path}: {exc.strerror}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"config {path} is not valid YAML: {str(exc).splitlines()[0]}") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"config {path} must be a mapping at the top level")
        tree = loaded
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        key, raw = item.split("=", 1)
        patch: dict = {}
        _set_path(patch, key.strip(), raw)
        tree = _deep_merge(tree, patch)
    return _build(Config, tree, "").validate()
