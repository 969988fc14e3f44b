"""`rollouts import`: report reading and joining, the Beam composites, and the CLI end to end."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

import schemas
from schemas import arrow
from tracemill.beam.rollouts_import import JoinReports, ReadAgentLogs
from tracemill.beam.stage import Stage
from tracemill.cli import build_parser
from tracemill.cli import main as cli_main
from tracemill.errors import ConfigError
from tracemill.records import ORIGIN
from tracemill.reports import JoinSettings, join, load_instances, read_entries, regrade_entries
from tracemill.sources.agent_logs import adapt

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"
PANDAS = "pandas-dev__pandas.95280573.pr_53652"
PYDANTIC = "pydantic__pydantic.acb0f10f.pr_8316"


def chat_row(iid: str, patch: str | None = "diff --git a/x b/x\n", **kw) -> dict:
    return {"instance_id": iid, "model_patch": patch, "messages": [
        {"role": "user", "content": f"fix {iid}"},
        {"role": "assistant", "content": "ok", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "bash", "arguments": "{\"command\": \"ls\"}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "x"}], **kw}


def traj(iid: str, traj_id: str | None = None, patch: str | None = "diff --git a/x b/x\n", model="unknown") -> dict:
    return {"traj_id": traj_id or f"t-{iid}", "instance_id": iid, "model": model, "patch": patch, "metadata": {},
            "resolved": None, "reward": None, ORIGIN: {"kind": "trajectory", "source": "logs.jsonl", "line": 1}}


def outcome(iid: str, resolved=True, applied=True, source="report.json", line=1) -> dict:
    return {ORIGIN: {"kind": "report", "source": source, "line": line}, "instance_id": iid, "entry": "outcome",
            "claimed_resolved": resolved, "patch_applied": applied, "patch_exists": True, "tests_status": None,
            "model": None}


def prediction(iid: str, patch: str, model="m-1", source="preds.jsonl", line=1) -> dict:
    return {ORIGIN: {"kind": "report", "source": source, "line": line}, "instance_id": iid, "entry": "prediction",
            "patch": patch, "model": model}


def run_join(iid, trajs, entries, settings=None):
    out = {"trajectory": [], "joined": [], "rejected": []}
    for tag, value in join(iid, trajs, entries, settings or JoinSettings()):
        out[tag].append(value)
    return out


# --- reading report files -----------------------------------------------------------------------

def test_read_swe_bench_nested_report(tmp_path):
    path = tmp_path / "report.json"
    path.write_text(json.dumps({"a__b-1": {"patch_is_None": False, "patch_exists": True,
                                           "patch_successfully_applied": True, "resolved": False,
                                           "tests_status": {}}}))
    [e] = read_entries(path)
    assert (e["instance_id"], e["entry"], e["claimed_resolved"], e["patch_applied"]) == ("a__b-1", "outcome", False, True)


def test_read_swe_smith_flat_report_takes_id_from_its_folder(tmp_path):
    folder = tmp_path / "run_evaluation" / "org__repo.abc.pr_1"
    folder.mkdir(parents=True)
    (folder / "report.json").write_text(json.dumps({"patch_successfully_applied": False, "resolved": True,
                                                     "tests_status": {}}))
    [e] = read_entries(folder / "report.json")
    assert e["instance_id"] == "org__repo.abc.pr_1" and e["patch_applied"] is False


def test_read_run_summary_and_predictions_shapes(tmp_path):
    summary = tmp_path / "gpt.run1.json"
    summary.write_text(json.dumps({"resolved_ids": ["a"], "unresolved_ids": ["b"], "error_ids": ["c"]}))
    got = {(e["instance_id"], e["claimed_resolved"], e.get("harness_error", False)) for e in read_entries(summary)}
    assert got == {("a", True, False), ("b", False, False), ("c", None, True)}
    preds = tmp_path / "preds.json"
    preds.write_text(json.dumps({"a": {"model_patch": "p", "model_name_or_path": "m"}}))
    assert [(e["instance_id"], e["patch"]) for e in read_entries(preds)] == [("a", "p")]
    msb = tmp_path / "patch.jsonl"
    msb.write_text(json.dumps({"org": "o", "repo": "r", "number": "7", "fix_patch": "fp"}) + "\n")
    assert [(e["instance_id"], e["patch"], e[ORIGIN]["line"]) for e in read_entries(msb)] == [("o__r-7", "fp", 1)]


def test_entries_of_one_json_file_are_numbered(tmp_path):
    summary = tmp_path / "s.json"
    summary.write_text(json.dumps({"resolved_ids": ["a", "b"], "unresolved_ids": []}))
    assert [e[ORIGIN]["line"] for e in read_entries(summary)] == [1, 2]


def test_unreadable_report_is_a_config_error_naming_the_line(tmp_path):
    path = tmp_path / "preds.jsonl"
    path.write_text('{"instance_id": "a", "model_patch": "p"}\n{broken\n')
    with pytest.raises(ConfigError, match=r"preds\.jsonl:2: not JSON"):
        read_entries(path)
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"hello": 1}))
    with pytest.raises(ConfigError, match="not a report or predictions file"):
        read_entries(other)


# --- joining ------------------------------------------------------------------------------------

def test_outcome_sets_resolved_and_cwm_reward():
    out = run_join("a", [traj("a")], [outcome("a", resolved=True)])
    [t] = out["trajectory"]
    assert (t["resolved"], t["reward"], t["metadata"]["report_join"]["rule"]) == (True, 1.0, "report")
    assert len(out["joined"]) == 1 and out["rejected"] == []


def test_trajectory_without_report_stays_unknown():
    [t] = run_join("a", [traj("a")], [])["trajectory"]
    assert t["resolved"] is None and t["metadata"]["report_join"]["status"] == "no_report"


def test_report_without_trajectory_is_rejected_not_guessed():
    out = run_join("zzz", [], [outcome("zzz")])
    [rej] = out["rejected"]
    assert (rej["reason"], rej["record_kind"], rej["record_id"]) == ("report_without_trajectory", "report", "zzz")


def test_one_report_for_several_trajectories_is_ambiguous():
    out = run_join("a", [traj("a", "t1"), traj("a", "t2")], [outcome("a")])
    assert [t["resolved"] for t in out["trajectory"]] == [None, None]
    assert [r["reason"] for r in out["rejected"]] == ["ambiguous_report"]


@pytest.mark.parametrize("policy,expected,rule", [("not-resolved", False, "patch_not_applied"),
                                                  ("trust-tests", True, "tests_status_trusted"),
                                                  ("unknown", None, "report_inconsistent")])
def test_resolved_report_whose_patch_did_not_apply(policy, expected, rule):
    [t] = run_join("a", [traj("a")], [outcome("a", resolved=True, applied=False)],
                   JoinSettings(on_apply_conflict=policy))["trajectory"]
    assert (t["resolved"], t["metadata"]["report_join"]["rule"]) == (expected, rule)


def test_identical_duplicate_reports_deduplicate_and_disagreeing_ones_all_fail():
    dup = run_join("a", [traj("a")], [outcome("a", line=1), outcome("a", source="r2.json", line=1)])
    assert dup["trajectory"][0]["resolved"] is True
    assert [(r["reason"], r["disposition"]) for r in dup["rejected"]] == [("duplicate_outcome", "deduplicated")]
    clash = run_join("a", [traj("a")], [outcome("a", resolved=True), outcome("a", resolved=False, source="r2.json")])
    assert clash["trajectory"][0]["resolved"] is None
    assert [r["reason"] for r in clash["rejected"]] == ["conflicting_outcomes", "conflicting_outcomes"]


def test_prediction_fills_missing_patch_and_model_and_flags_a_different_patch():
    [t] = run_join("a", [traj("a", patch=None)], [prediction("a", "P")])["trajectory"]
    assert (t["patch"], t["model"], t["metadata"]["report_join"]["patch_from_prediction"]) == ("P", "m-1", True)
    [t] = run_join("a", [traj("a", patch="Q", model="mine")], [prediction("a", "P")])["trajectory"]
    assert (t["patch"], t["model"], t["metadata"]["report_join"]["prediction_patch_differs"]) == ("Q", "mine", True)


# --- Beam composites ----------------------------------------------------------------------------

def test_read_adapt_join_routes_every_record(tmp_path):
    good = tmp_path / "rows.jsonl"
    good.write_text(json.dumps(chat_row("a")) + "\n" + json.dumps(chat_row("b")) + "\n{not json\n")
    weird = tmp_path / "weird.json"
    weird.write_text(json.dumps({"steps": []}))
    entries = [outcome("a", resolved=False), outcome("nope")]
    with BeamTestPipeline() as p:
        raw = p | ReadAgentLogs([str(good), str(weird)], "auto")
        adapted = raw | Stage("adapt", adapt)
        joined = (adapted.kept, p | "E" >> beam.Create(entries)) | JoinReports(JoinSettings())
        assert_that(joined.trajectories | beam.Map(lambda t: (t["instance_id"], t["resolved"], t["reward"])),
                    equal_to([("a", False, -1.0), ("b", None, None)]), label="kept")
        assert_that(adapted.dead | beam.Map(lambda d: (Path(d["source"]).name, d["line"], d["reason"])),
                    equal_to([("rows.jsonl", 3, "invalid_json"), ("weird.json", None, "unknown_format")]),
                    label="dead")
        assert_that(joined.rejected | beam.Map(lambda r: (r["record_id"], r["reason"])),
                    equal_to([("nope", "report_without_trajectory")]), label="rejected")
        assert_that(joined.joined | beam.Map(lambda e: e["instance_id"]), equal_to(["a"]), label="joined")


# --- CLI ----------------------------------------------------------------------------------------

def _import(tmp_path, *args) -> tuple[int, dict, list[dict], list[dict]]:
    out = tmp_path / "out"
    rc = cli_main(["rollouts", "import", *map(str, args), "--out", str(out)])
    manifest = json.loads((out / "manifest.json").read_text())
    trajs = [json.loads(line) for line in (out / "trajectories.jsonl").read_text().splitlines()]
    rejs = [json.loads(line) for line in (out / "rejections.jsonl").read_text().splitlines()]
    return rc, manifest, trajs, rejs


def test_cli_import_writes_reconciled_outputs_and_reports_unmatched_ids(tmp_path):
    logs = tmp_path / "logs.jsonl"
    logs.write_text("\n".join(json.dumps(r) for r in [chat_row("a"), chat_row("b", patch=None)]) + "\n{oops\n")
    preds = tmp_path / "preds.jsonl"
    preds.write_text("\n".join(json.dumps({"instance_id": i, "model_patch": "p", "model_name_or_path": "m"})
                               for i in ("b", "ghost")) + "\n")
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"a": {"patch_successfully_applied": True, "resolved": True, "tests_status": {}}}))
    rc, manifest, trajs, rejs = _import(tmp_path, logs, "--reports", report, preds, "--max-dead-letter-ratio", "0.5")
    assert rc == 0 and manifest["counts"]["reconciled"] is True
    assert manifest["counts"]["total"] == {"input": 6, "emitted": 4, "filtered": 1, "deduplicated": 0,
                                           "dead_lettered": 1}
    assert [(t["instance_id"], t["resolved"], t["patch"]) for t in trajs] == [("a", True, "diff --git a/x b/x\n"),
                                                                               ("b", None, "p")]
    assert manifest["metrics"]["report_join"]["reports_without_trajectory"] == ["ghost"]
    assert {r["reason"] for r in rejs} == {"invalid_json", "report_without_trajectory"}
    assert schemas.errors("manifest", manifest) == []
    assert all(schemas.errors("rejection", r) == [] for r in rejs)
    assert arrow.to_table("trajectory", trajs).num_rows == 2  # Parquet-ready for the downstream pipelines


def test_cli_import_is_deterministic(tmp_path):
    logs = tmp_path / "logs.jsonl"
    logs.write_text("\n".join(json.dumps(chat_row(i)) for i in "dcba") + "\n")
    first = tmp_path / "one"
    second = tmp_path / "two"
    assert cli_main(["rollouts", "import", str(logs), "--out", str(first)]) == 0
    # A different worker count must not change a byte (Beam flags pass through to PipelineOptions).
    assert cli_main(["rollouts", "import", str(logs), "--out", str(second), "--direct_num_workers=1"]) == 0
    for name in ("trajectories.jsonl", "rejections.jsonl", "dispositions.jsonl", "manifest.json"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_cli_import_too_many_dead_letters_exits_3(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{x\n{y\n")
    rc, manifest, trajs, _ = _import(tmp_path, bad)
    assert rc == 3 and trajs == [] and manifest["counts"]["total"]["dead_lettered"] == 2
    assert "dead-lettered, above --max-dead-letter-ratio" in capsys.readouterr().err


def test_cli_import_filters_report_reason_and_signal(tmp_path):
    logs = tmp_path / "logs.jsonl"
    logs.write_text(json.dumps(chat_row("a", patch=None)) + "\n" + json.dumps(chat_row("b")) + "\n")
    rc, _manifest, trajs, rejs = _import(tmp_path, logs, "--filter")
    assert rc == 0 and [t["instance_id"] for t in trajs] == ["b"]
    assert [(r["stage"], r["reason"], r["signal"]) for r in rejs] == [("filter_trajectory", "empty_patch", 0)]


def test_cli_missing_input_is_a_usage_error(tmp_path, capsys):
    assert cli_main(["rollouts", "import", str(tmp_path / "nope.traj"), "--out", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_rollouts_without_subcommand_prints_usage():
    assert cli_main(["rollouts"]) == 2


def test_generate_hook_registers_a_sibling_subcommand_not_a_top_level_one(monkeypatch):
    import pkgutil

    from tracemill import commands

    hook = types.ModuleType("tracemill.commands._rollouts_generate")

    def register(sub):
        p = sub.add_parser("generate", help="sample rollouts")
        p.set_defaults(func=lambda args, beam_args: 0, accepts_beam_args=True)

    hook.register = register
    monkeypatch.setitem(sys.modules, "tracemill.commands._rollouts_generate", hook)
    real = pkgutil.iter_modules

    def with_hook(path=None, prefix=""):
        found = list(real(path, prefix))
        if path == commands.__path__:
            found.append(pkgutil.ModuleInfo(None, "_rollouts_generate", False))
        return found

    monkeypatch.setattr(pkgutil, "iter_modules", with_hook)
    parser = build_parser()
    args, _ = parser.parse_known_args(["rollouts", "generate"])
    assert args.rollouts_command == "generate" and args.func(args, []) == 0
    top_level = next(a for a in parser._actions if a.dest == "command").choices
    assert "generate" not in top_level and "rollouts" in top_level


def test_real_fixtures_import_joins_swe_smith_reports(tmp_path):
    if not FIXTURES.exists():
        pytest.skip(f"shared fixtures absent at {FIXTURES}")
    runs = FIXTURES / "instances" / "swe-smith" / "run_evaluation"
    reports = [runs / PANDAS / "report.json", runs / PYDANTIC / "report.json"]
    preds = FIXTURES / "trajectories" / "swe-agent" / "legacy_pydicom-1458__all_preds.jsonl"
    rc, manifest, trajs, _rejs = _import(tmp_path, FIXTURES / "trajectories", "--reports", *reports, preds)
    assert rc == 0 and manifest["counts"]["reconciled"]
    by_id = {t["instance_id"]: t for t in trajs}
    # Both SWE-smith reports say the patch did not apply yet claim resolved: SWE-bench's rule wins by default.
    for iid in (PANDAS, PYDANTIC):
        assert (by_id[iid]["resolved"], by_id[iid]["metadata"]["report_join"]["rule"]) == (False, "patch_not_applied")
    assert manifest["metrics"]["report_join"]["apply_conflicts"] == [PANDAS, PYDANTIC]
    # The fixture renamed the pydicom trajectory file, so its id differs from the predictions' id: reported.
    assert manifest["metrics"]["report_join"]["reports_without_trajectory"] == ["pydicom__pydicom-1458"]
    assert manifest["metrics"]["source_formats"]["swe-agent-0"] == 2
    rc, manifest, trajs, _ = _import(tmp_path, FIXTURES / "trajectories", "--reports", *reports,
                                     "--on-apply-conflict", "trust-tests")
    assert {t["instance_id"]: t["resolved"] for t in trajs if t["resolved"] is not None} == {PANDAS: True, PYDANTIC: True}


# --- re-grading captured harness logs -----------------------------------------------------------

def _log_dir(tmp_path, iid: str, text: str) -> Path:
    folder = tmp_path / "run_evaluation" / iid
    folder.mkdir(parents=True)
    (folder / "test_output.txt").write_text(text)
    return folder / "test_output.txt"


def test_regrade_entries_grade_logs_against_instances(tmp_path):
    inst = {"instance_id": "o__r-1", "FAIL_TO_PASS": ["t.py::f"], "PASS_TO_PASS": ["t.py::p"]}
    (tmp_path / "inst.jsonl").write_text(json.dumps(inst) + "\n")
    ok = _log_dir(tmp_path, "o__r-1", "t.py::f PASSED\nt.py::p FAILED\n")
    lost = _log_dir(tmp_path, "o__r-2", "t.py::f PASSED\n")
    entries = regrade_entries([str(ok), str(lost)], load_instances([str(tmp_path / "inst.jsonl")]))
    assert [(e["instance_id"], e["claimed_resolved"], e["outcome"], e.get("ungradable", False)) for e in entries] == \
        [("o__r-1", False, "unresolved", False), ("o__r-2", None, "no_instance", True)]


def test_regraded_outcome_decides_and_the_harness_claim_is_kept():
    ours = {**outcome("a", resolved=True, applied=True, source="a/test_output.txt"), "graded_by": "tracemill",
            "outcome": "resolved"}
    theirs = outcome("a", resolved=True, applied=False, source="a/report.json")
    out = run_join("a", [traj("a")], [ours, theirs])
    [t] = out["trajectory"]
    note = t["metadata"]["report_join"]
    assert (t["resolved"], note["rule"]) == (True, "regraded:resolved")
    assert note["harness_claims"] == [{"source": "a/report.json", "resolved": True, "patch_successfully_applied": False}]
    assert len(out["joined"]) == 2 and out["rejected"] == []


def test_ungradable_log_is_rejected_and_the_report_still_applies():
    lost = {**outcome("a", resolved=None, applied=None, source="a/test_output.txt"), "graded_by": "tracemill",
            "outcome": "no_instance", "ungradable": True}
    out = run_join("a", [traj("a")], [lost, outcome("a", resolved=False)])
    assert out["trajectory"][0]["resolved"] is False
    assert [r["reason"] for r in out["rejected"]] == ["test_log_without_instance"]


def test_cli_regrades_the_captured_pandas_log(tmp_path):
    if not FIXTURES.exists():
        pytest.skip(f"shared fixtures absent at {FIXTURES}")
    smith = FIXTURES / "instances" / "swe-smith"
    rc, manifest, trajs, rejs = _import(
        tmp_path, FIXTURES / "trajectories" / "swe-smith", "--reports", *sorted(smith.glob("run_evaluation/*/report.json")),
        "--test-logs", smith / "run_evaluation", "--instances", smith / f"{PANDAS}.json")
    assert rc == 0 and manifest["counts"]["reconciled"]
    by_id = {t["instance_id"]: t for t in trajs}
    # Graded from its own log (tests ran, F2P pass, no apply failure recorded): resolved, whatever the
    # report's apply flag says; pydantic has no instance file here, so its report.json decides.
    assert (by_id[PANDAS]["resolved"], by_id[PANDAS]["metadata"]["report_join"]["rule"]) == (True, "regraded:resolved")
    assert by_id[PYDANTIC]["metadata"]["report_join"]["rule"] == "patch_not_applied"
    assert [(r["record_id"], r["reason"]) for r in rejs] == [(PYDANTIC, "test_log_without_instance")]
