"""`tracemill config show`: the resolved config as YAML with its hash; it round-trips as a preset."""

from __future__ import annotations

import yaml

from tracemill.cli import main
from tracemill.config import config_hash, load_config, to_dict


def test_show_prints_resolved_yaml_with_hash(capsys):
    assert main(["config", "show", "--set", "mix.sft.token_budget=5000", "--set", "dedup.threshold=0.9"]) == 0
    text = capsys.readouterr().out
    cfg = load_config(None, ["mix.sft.token_budget=5000", "dedup.threshold=0.9"])
    assert text.splitlines()[0] == f"# config_hash: {config_hash(cfg)}"
    assert yaml.safe_load(text) == to_dict(cfg)


def test_shown_config_is_a_valid_preset(tmp_path, capsys):
    preset = tmp_path / "p.yaml"
    preset.write_text("grading: {timeout_s: 30}\nmix: {sft: {weights: {rollouts: 2, traces: 1}}}\n")
    assert main(["config", "show", "--config", str(preset)]) == 0
    shown = tmp_path / "shown.yaml"
    shown.write_text(capsys.readouterr().out)
    assert config_hash(load_config(str(shown))) == config_hash(load_config(str(preset)))


def test_bad_keys_and_values_are_one_line_exit_2(capsys):
    assert main(["config", "show", "--set", "mix.bogus=1"]) == 2
    assert main(["config", "show", "--set", "dedup.threshold=abc"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and all(line.startswith("tracemill: error:") for line in err)
