"""Harness outcomes and predictions, read from the files harnesses write, joined to trajectories by id.

Test outcomes usually live outside an agent's log. Accepted inputs (`--reports FILE...`):
- SWE-bench per-instance `report.json`: `{instance_id: {patch_successfully_applied, resolved, tests_status}}`;
- SWE-smith `report.json`: the same entry without the id wrapper; the id is the parent folder
  (`run_evaluation/<run>/<instance_id>/report.json`, where the harness writes it);
- SWE-bench run summaries (`<model>.<run_id>.json`): `resolved_ids`, `unresolved_ids`, `error_ids`, ...;
- predictions: JSONL/JSON rows `{instance_id, model_patch, model_name_or_path}`, a JSON object keyed by
  instance id (SWE-agent `preds.json`, mini-swe-agent `results.json`), Multi-SWE-bench rows
  `{org, repo, number, fix_patch}`.

Captured harness logs (`--test-logs DIR` with `--instances FILE`) are graded by tracemill's own
SWE-bench v5 grader (`verify/harness_report.py`); such an outcome decides the label, and any report.json
for the same id is kept beside it as the harness's claim.

Each entry becomes one in-flight record of kind `report` (so the manifest accounts for it). The join
never guesses: an id in a report with no trajectory, a trajectory with no outcome, several
trajectories for one outcome, and disagreeing outcomes are all reported, not resolved by assumption.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tracemill.errors import ConfigError
from tracemill.records import ORIGIN, Rejection, origin, rejection_record
from tracemill.sources.agent_logs._common import reward_for
from tracemill.verify.harness_report import verdict_from_log
from tracemill.verify.patches import sha256_text

OUTCOME, PREDICTION = "outcome", "prediction"
REPORT_KIND = "report"
# Policies for a report that says the patch did not apply yet claims `resolved: true` (seen in
# SWE-smith reports, whose harness never sets patch_successfully_applied): SWE-bench's rule says a
# patch that did not apply is never resolved.
CONFLICT_POLICIES = ("not-resolved", "trust-tests", "unknown")


@dataclass(frozen=True)
class JoinSettings:
    on_apply_conflict: str = "not-resolved"

    def __post_init__(self):
        if self.on_apply_conflict not in CONFLICT_POLICIES:
            raise ConfigError(f"on_apply_conflict must be one of {', '.join(CONFLICT_POLICIES)}")


def _entry(source: str, line: int | None, kind: str, instance_id: str, **fields) -> dict:
    return {ORIGIN: {"kind": REPORT_KIND, "source": source, "line": line},
            "instance_id": instance_id, "entry": kind, **fields}


def _is_report_entry(v: Any) -> bool:
    return isinstance(v, dict) and "resolved" in v and ("tests_status" in v or "patch_successfully_applied" in v)


def _outcome(source: str, line: int | None, iid: str, e: dict) -> dict:
    return _entry(source, line, OUTCOME, iid, claimed_resolved=bool(e.get("resolved")),
                  patch_applied=e.get("patch_successfully_applied"), patch_exists=e.get("patch_exists"),
                  tests_status=e.get("tests_status"), model=e.get("model_name_or_path"))


def _prediction(source: str, line: int | None, iid: str, patch: Any, model: Any) -> dict:
    return _entry(source, line, PREDICTION, iid, patch=patch if isinstance(patch, str) else None,
                  model=model if isinstance(model, str) else None)


def _from_object(path: Path, obj: Any, line: int | None) -> Iterator[dict]:
    source = str(path)
    if isinstance(obj, dict) and _is_report_entry(obj):
        yield _outcome(source, line, path.parent.name, obj)  # SWE-smith: the folder is the instance id
    elif isinstance(obj, dict) and {"resolved_ids", "unresolved_ids"} & set(obj):
        for key, resolved in (("resolved_ids", True), ("unresolved_ids", False)):
            for iid in obj.get(key) or []:
                yield _entry(source, line, OUTCOME, str(iid), claimed_resolved=resolved, patch_applied=None,
                             patch_exists=True, tests_status=None, model=None)
        for iid in obj.get("error_ids") or []:
            yield _entry(source, line, OUTCOME, str(iid), claimed_resolved=None, patch_applied=None,
                         patch_exists=True, tests_status=None, model=None, harness_error=True)
    elif isinstance(obj, dict) and "instance_id" in obj and ("model_patch" in obj or "patch" in obj):
        yield _prediction(source, line, str(obj["instance_id"]), obj.get("model_patch", obj.get("patch")),
                          obj.get("model_name_or_path"))
    elif isinstance(obj, dict) and {"org", "repo", "number", "fix_patch"} <= set(obj):
        iid = f"{obj['org']}__{obj['repo']}-{obj['number']}"  # Multi-SWE-bench's instance id
        yield _prediction(source, line, iid, obj["fix_patch"], None)
    elif isinstance(obj, dict) and obj and all(_is_report_entry(v) for v in obj.values()):
        for iid, e in obj.items():
            yield _outcome(source, line, str(iid), e)
    elif isinstance(obj, dict) and obj and all(isinstance(v, dict) and "model_patch" in v for v in obj.values()):
        for iid, e in obj.items():
            yield _prediction(source, line, str(e.get("instance_id") or iid), e.get("model_patch"),
                              e.get("model_name_or_path"))
    elif isinstance(obj, list):
        for i, row in enumerate(obj):
            yield from _from_object(path, row, i + 1)
    else:
        keys = ", ".join(sorted(obj)[:6]) if isinstance(obj, dict) else type(obj).__name__
        raise ConfigError(f"{source}{f':{line}' if line else ''}: not a report or predictions file ({keys})")


def read_entries(path: str | Path) -> list[dict]:
    """Every outcome/prediction entry of one file; ConfigError names the file and line it cannot read.

    `_origin.line` is the JSONL line, or for a JSON file the entry's ordinal within it.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read report {path}: {exc.strerror}") from exc
    try:
        whole = json.loads(text)
    except json.JSONDecodeError:
        whole = None
    if whole is not None:
        # A JSON file holds many entries: number them (1-based) so each is accounted for separately.
        out = list(_from_object(path, whole, None))
        for i, e in enumerate(out, 1):
            e[ORIGIN] = {**e[ORIGIN], "line": i}
        return out
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{path}:{n}: not JSON: {exc.msg}") from exc
            out.extend(_from_object(path, obj, n))
    return out


def load_instances(paths: list[str]) -> dict[str, dict]:
    """Instances (FAIL_TO_PASS/PASS_TO_PASS) by id from JSON objects, JSON lists or JSONL files."""
    out: dict[str, dict] = {}
    from tracemill.readers import read_json_records

    for path in paths:
        for row in read_json_records(path):
            if isinstance(row, dict) and "instance_id" in row and "FAIL_TO_PASS" in row:
                out[str(row["instance_id"])] = row
    return out


def regrade_entries(log_paths: list[str], instances: dict[str, dict], fmt: str = "pytest") -> list[dict]:
    """Outcome entries from captured harness logs (`<instance_id>/test_output.txt`), graded by tracemill.

    The instance id is the log's folder, where SWE-bench and SWE-smith write it. A log whose instance
    is not among `instances` cannot be graded (its tests are unknown): its entry is marked `ungradable`
    and the join rejects it as `test_log_without_instance`.
    """
    out = []
    for path in sorted(log_paths):
        iid = Path(path).parent.name
        if iid not in instances:
            out.append(_entry(str(path), None, OUTCOME, iid, claimed_resolved=None, patch_applied=None,
                              patch_exists=None, tests_status=None, model=None, graded_by="tracemill",
                              outcome="no_instance", ungradable=True))
            continue
        v = verdict_from_log(instances[iid], Path(path).read_text(encoding="utf-8", errors="replace"), fmt=fmt)
        out.append(_entry(str(path), None, OUTCOME, iid, claimed_resolved=v.resolved if v.valid else None,
                          patch_applied=v.patch_applied, patch_exists=v.patch_exists, tests_status=v.tests_status,
                          model=None, graded_by="tracemill", outcome=v.outcome, harness_error=not v.valid))
    return out


def resolved_from(outcome: dict, settings: JoinSettings) -> tuple[bool | None, str]:
    """The label an outcome supports, and the rule that decided it."""
    claimed = outcome.get("claimed_resolved")
    if outcome.get("harness_error") or claimed is None:
        return None, "harness_error"
    if outcome.get("patch_exists") is False:
        return False, "no_patch"
    if outcome.get("patch_applied") is False and claimed:
        if settings.on_apply_conflict == "not-resolved":
            return False, "patch_not_applied"
        if settings.on_apply_conflict == "unknown":
            return None, "report_inconsistent"
        return True, "tests_status_trusted"
    return bool(claimed), "report"


def join(instance_id: str, trajectories: list[dict], entries: list[dict], settings: JoinSettings = JoinSettings()):
    """Join one instance id's trajectories with its report entries.

    Yields ("trajectory", traj) for each trajectory, ("joined", entry) for each consumed entry and
    ("rejected", rejection) for each entry that could not be attributed.
    """
    outcomes = [e for e in entries if e["entry"] == OUTCOME]
    predictions = [e for e in entries if e["entry"] == PREDICTION]
    ordered = sorted(trajectories, key=lambda t: t["traj_id"])

    if len(ordered) != 1:
        for t in ordered:
            note = {"status": "ambiguous", "trajectories_for_id": len(ordered)} if entries else {"status": "no_report"}
            yield "trajectory", _with_join(t, note)
        for e in entries:
            reason = "report_without_trajectory" if not ordered else "ambiguous_report"
            detail = (f"no imported trajectory has instance_id {instance_id}" if not ordered else
                      f"{len(ordered)} trajectories share instance_id {instance_id}; not attributed")
            yield "rejected", rejection_record(e, "join_reports", Rejection(reason, detail=detail))
        return

    traj = dict(ordered[0])
    note: dict = {"status": "no_report" if not entries else "joined"}
    for e in [e for e in outcomes if e.get("ungradable")]:
        yield "rejected", rejection_record(e, "join_reports", Rejection(
            "test_log_without_instance", detail=f"no instance {instance_id} given with --instances"))
    outcomes = [e for e in outcomes if not e.get("ungradable")]
    regraded = [e for e in outcomes if e.get("graded_by") == "tracemill"]
    if regraded:
        # Our own grade of the captured log decides; the harness's claims are kept beside it.
        harness = [e for e in outcomes if e.get("graded_by") != "tracemill"]
        for e in sorted(harness, key=lambda e: str(origin(e).get("source"))):
            yield "joined", e
        note["harness_claims"] = [{"source": origin(e).get("source"), "resolved": e.get("claimed_resolved"),
                                   "patch_successfully_applied": e.get("patch_applied")} for e in harness]
        outcomes = regraded
    kept_outcome = _one(outcomes, "outcome", instance_id)
    kept_prediction = _one(predictions, "prediction", instance_id)
    for e, rej in kept_outcome[1] + kept_prediction[1]:
        yield "rejected", rejection_record(e, "join_reports", rej)
    outcome, prediction = kept_outcome[0], kept_prediction[0]
    if prediction is not None:
        yield "joined", prediction
        note["prediction"] = f"{origin(prediction).get('source')}:{origin(prediction).get('line') or ''}".rstrip(":")
        if prediction.get("model") and traj.get("model") in (None, "", "unknown"):
            traj["model"] = prediction["model"]
        if traj.get("patch") is None:
            traj["patch"] = prediction["patch"]
            note["patch_from_prediction"] = True
        elif prediction.get("patch") is not None and _norm(prediction["patch"]) != _norm(traj["patch"]):
            # The harness graded the predicted patch; the label is about that patch, not the log's.
            note["prediction_patch_differs"] = True
            note["prediction_patch_sha256"] = sha256_text(prediction["patch"])
    if outcome is not None:
        yield "joined", outcome
        resolved, rule = resolved_from(outcome, settings)
        traj["resolved"], traj["reward"] = resolved, reward_for(resolved)
        if outcome.get("graded_by"):
            rule = f"regraded:{outcome.get('outcome')}"
        note.update({"report": f"{origin(outcome).get('source')}", "rule": rule,
                     "claimed_resolved": outcome.get("claimed_resolved"),
                     "patch_successfully_applied": outcome.get("patch_applied")})
        if outcome.get("tests_status") is not None:
            note["tests_status"] = outcome["tests_status"]
    elif entries:
        note["status"] = "prediction_only"
    yield "trajectory", _with_join(traj, note)


def _one(entries: list[dict], what: str, instance_id: str):
    """(kept entry or None, [(entry, Rejection)]): identical duplicates dedup, disagreeing ones all fail."""
    if not entries:
        return None, []
    ordered = sorted(entries, key=lambda e: (str(origin(e).get("source")), origin(e).get("line") or 0))
    first = ordered[0]
    sig = _signature(first)
    if all(_signature(e) == sig for e in ordered[1:]):
        where = f"{origin(first).get('source')}:{origin(first).get('line') or ''}".rstrip(":")
        return first, [(e, Rejection(f"duplicate_{what}", duplicate_of=instance_id, disposition="deduplicated",
                                     detail=f"same {what} as {where}")) for e in ordered[1:]]
    return None, [(e, Rejection(f"conflicting_{what}s", detail=f"{len(ordered)} disagreeing {what}s for "
                                f"{instance_id}; none applied")) for e in ordered]


def _signature(e: dict) -> str:
    body = {k: v for k, v in e.items() if k != ORIGIN}
    return json.dumps(body, sort_keys=True)


def _norm(patch: str | None) -> str:
    return (patch or "").replace("\r\n", "\n").strip()


def _with_join(traj: dict, note: dict) -> dict:
    meta = dict(traj.get("metadata") or {})
    meta["report_join"] = note
    return {**traj, "metadata": meta}
