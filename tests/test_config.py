import pytest

from tracemill.config import Config, config_hash, load_config, to_dict
from tracemill.errors import ConfigError


def test_defaults_point_at_the_bundled_sample():
    cfg = load_config()
    assert cfg.inputs.tasks == ("@sample/tasks.jsonl",)
    assert cfg.inputs.repos == {"tracemill/textkit": "@sample"}


def test_yaml_then_set_overrides(tmp_path):
    preset = tmp_path / "p.yaml"
    preset.write_text("dedup:\n  threshold: 0.7\nmix:\n  sft:\n    token_budget: 100\n")
    cfg = load_config(str(preset), ["dedup.threshold=0.9", "mix.rl.weights={rollouts: 2, traces: 1}"])
    assert cfg.dedup.threshold == 0.9
    assert cfg.dedup.num_perm == 128  # untouched siblings keep defaults
    assert cfg.mix.sft.token_budget == 100
    assert cfg.mix.rl.weights == {"rollouts": 2.0, "traces": 1.0}


@pytest.mark.parametrize("override,message", [
    ("dedup.nope=1", "unknown config key dedup.nope"),
    ("dedup.threshold=abc", "dedup.threshold: expected float"),
    ("dedup.threshold=1.5", "dedup.threshold must be in (0, 1]"),
    ("output.shards=0", "output.shards must be >= 1"),
    ("grading=3", "grading: expected a mapping"),
    ("nokey", "--set expects key=value"),
    ("dedup.text=task.nothing", "unknown dedup text 'task.nothing'"),
])
def test_bad_values_raise_one_clear_config_error(override, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        load_config(None, [override])


def test_unreadable_and_non_mapping_presets(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(str(tmp_path / "missing.yaml"))
    bad = tmp_path / "list.yaml"
    bad.write_text("- 1\n")
    with pytest.raises(ConfigError, match="mapping at the top level"):
        load_config(str(bad))


def test_hash_is_stable_and_value_sensitive():
    assert config_hash(load_config()) == config_hash(Config())
    assert config_hash(load_config(None, ["mix.seed=1"])) != config_hash(Config())
    assert to_dict(Config())["inputs"]["tasks"] == ["@sample/tasks.jsonl"]
