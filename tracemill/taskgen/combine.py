"""Harder mutate-fix tasks: 2-3 validated mutants of one file applied together.

Validated single-mutant tasks are grouped by file; consecutive ones (in seeded order) whose edits
do not overlap are combined into one candidate, which is then confirmed like any mutant (one full
run against the clean baseline). Combined candidates are new records: they are counted as inputs
of kind `combined_mutant` in the manifest, so the run still reconciles.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

from tracemill.records import ORIGIN, stable_hash
from tracemill.sources.mutations import Edit, apply_edits, unified_diff
from tracemill.verify import workspace

KIND = "combined_mutant"
SEQ_OFFSET = 1_000_000  # combined candidates rank after every single mutant


@dataclass
class MutantCombiner:
    """(path, [validated tasks]) -> combined candidates, at most `per_file` of `size` mutants each."""

    repo_path: str
    base_commit: str
    slug: str
    edits_by_id: dict[str, list[list]]  # mutant_id -> [[start, end, text], ...] on the clean file
    size: int = 2
    per_file: int = 1
    seed: int = 0

    def __call__(self, kv):
        path, tasks = kv
        tasks = sorted(tasks, key=lambda t: t["instance_id"])
        original = (Path(workspace.pristine_tree(self.repo_path, self.base_commit)) / path).read_text(
            encoding="utf-8", errors="replace")
        made, i = 0, 0
        while i + self.size <= len(tasks) and made < self.per_file:
            group = tasks[i:i + self.size]
            ids = [t["provenance"]["mutant_id"] for t in group]
            edits = sorted((Edit(*e) for mid in ids for e in self.edits_by_id.get(mid, [])), key=lambda e: e.start)
            if any(a.end > b.start for a, b in itertools.pairwise(edits)) or not edits:
                i += 1
                continue
            mutated = apply_edits(original, edits)
            try:
                compile(mutated, path, "exec")
            except (SyntaxError, ValueError):
                i += 1
                continue
            combo_id = stable_hash(path, ids)[:16]
            lines = sorted({n for t in group for n in t["provenance"]["lines"]})
            yield {
                ORIGIN: {"kind": KIND, "source": path, "line": made},
                "instance_id": f"{self.slug}.combo.{combo_id[:12]}",
                "seq": SEQ_OFFSET + made, "seed": self.seed, "path": path,
                "operator": "+".join(t["provenance"]["operator"] for t in group),
                "function": ",".join(t["provenance"]["function"] for t in group),
                "lines": lines, "mutant_id": combo_id, "combined_from": [t["instance_id"] for t in group],
                "bug_patch": unified_diff(path, original, mutated), "patch": unified_diff(path, mutated, original),
                "screen": {"selected": 0, "full_run": True, "statuses": {}, "duration_s": 0.0},
            }
            made += 1
            i += self.size
