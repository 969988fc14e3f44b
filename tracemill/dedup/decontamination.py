"""Decontamination: find records whose text overlaps an evaluation set, and name the benchmark item.

Evaluation sets come from files: SWE-bench-style instances (JSON list or JSONL; `FAIL_TO_PASS` and
`PASS_TO_PASS` may be lists or JSON-encoded strings, as in the Hugging Face release),
HumanEval-style prompt files (`task_id`, `prompt`, `canonical_solution`) and a deny list of
repositories and instance ids. Three checks, strongest first:

- deny list: the record's repo or instance id is listed (whole repositories held out);
- near-duplicate: exact Jaccard of 5-gram shingle sets >= `jaccard` (MinHash preselects);
- n-gram overlap: the share of a benchmark text's 13-gram hashes found in the record (its
  containment) >= `min_containment` - catches a benchmark patch or prompt pasted into a longer text.

The index is a few sorted numpy arrays (SWE-bench's 2,294 test instances take tens of MB), built
once per worker (`DoFn.setup`) from files read through Beam's file systems.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

from tracemill.dedup.shingles import ngram_hashes64, shingle_hashes
from tracemill.dedup.signatures import Signer
from tracemill.dedup.similarity import exact_jaccard
from tracemill.errors import ConfigError
from tracemill.records import Rejection

SWE_BENCH_FIELDS = ("problem_statement", "patch", "test_patch")
HUMANEVAL_FIELDS = ("prompt", "solution")


@dataclass(frozen=True)
class BenchmarkItem:
    benchmark: str
    item_id: str
    repo: str | None
    texts: Mapping[str, str]
    tests: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.benchmark}:{self.item_id}"


@dataclass(frozen=True)
class DenyList:
    repos: frozenset[str] = frozenset()
    instance_ids: frozenset[str] = frozenset()


@dataclass(frozen=True)
class DecontamSources:
    """Where the evaluation sets are and how strict the checks are (picklable: shipped to workers)."""

    swe_bench: tuple[str, ...] = ()
    humaneval: tuple[str, ...] = ()
    deny_lists: tuple[str, ...] = ()
    ngram: int = 13
    min_containment: float = 0.5
    jaccard: float = 0.8
    min_ngrams: int = 3  # benchmark texts shorter than this many n-grams are too generic to match on


def sources_from(section) -> DecontamSources:
    """Sources from any config section with fields of the same names (e.g. `Config.decontam`)."""
    names = {f.name for f in dataclasses.fields(DecontamSources)}
    return DecontamSources(**{n: getattr(section, n) for n in names if hasattr(section, n)})


@dataclass(frozen=True)
class Match:
    check: str  # deny_list | near_duplicate | ngram_overlap
    item: str  # benchmark:item_id
    signal: float
    limit: float
    record_field: str | None = None
    item_field: str | None = None

    @property
    def reason(self) -> str:
        return f"benchmark_{self.check}"

    def rejection(self) -> Rejection:
        where = f"{self.record_field} vs {self.item_field}" if self.record_field else "repo/instance id"
        return Rejection(reason=self.reason, signal=self.signal, limit=self.limit, duplicate_of=self.item,
                         similarity=self.signal if self.check == "near_duplicate" else None,
                         detail=f"matches {self.item} ({self.check}, {where})", disposition="filtered")


def _json_rows(path: str) -> list[dict]:
    from tracemill.readers import read_json_records  # lazy: Beam's file systems

    rows = read_json_records(path)
    if not all(isinstance(r, dict) for r in rows):
        raise ConfigError(f"{path}: every evaluation item must be a JSON object")
    return rows


def _test_list(value) -> tuple[str, ...]:
    if isinstance(value, str):  # the Hugging Face release stores these lists as JSON strings
        try:
            value = json.loads(value) if value.strip() else []
        except json.JSONDecodeError:
            value = [value]
    return tuple(str(v) for v in value or ())


def load_swe_bench(path: str, benchmark: str = "swe-bench") -> list[BenchmarkItem]:
    items = []
    for row in _json_rows(path):
        if "instance_id" not in row:
            raise ConfigError(f"{path}: SWE-bench instance without instance_id")
        texts = {f: row[f] for f in SWE_BENCH_FIELDS if isinstance(row.get(f), str) and row[f].strip()}
        tests = _test_list(row.get("FAIL_TO_PASS")) + _test_list(row.get("PASS_TO_PASS"))
        items.append(BenchmarkItem(benchmark, row["instance_id"], row.get("repo"), texts, tests))
    return items


def load_humaneval(path: str, benchmark: str = "humaneval") -> list[BenchmarkItem]:
    items = []
    for row in _json_rows(path):
        if "task_id" not in row or not isinstance(row.get("prompt"), str):
            raise ConfigError(f"{path}: HumanEval-style items need task_id and prompt")
        texts = {"prompt": row["prompt"]}
        if isinstance(row.get("canonical_solution"), str):
            # As it appears in code: the signature and docstring followed by the body.
            texts["solution"] = row["prompt"] + row["canonical_solution"]
        items.append(BenchmarkItem(benchmark, str(row["task_id"]), None, texts))
    return items


def load_deny_list(path: str) -> DenyList:
    """One entry a line: `repo:owner/name`, `instance:ID`, or bare (a `/` means a repo); `#` comments."""
    from tracemill.readers import iter_lines  # lazy: Beam's file systems

    repos, instances = set(), set()
    try:
        lines = [text for _, text in iter_lines(path)]
    except Exception as exc:
        raise ConfigError(f"cannot read deny list {path}: {exc}") from exc
    for raw in lines:
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("repo:"):
            repos.add(line[5:].strip())
        elif line.startswith("instance:"):
            instances.add(line[9:].strip())
        elif "/" in line:
            repos.add(line)
        else:
            instances.add(line)
    return DenyList(frozenset(repos), frozenset(instances))


@dataclass
class _Entries:
    keys: list[tuple[int, str]] = field(default_factory=list)  # (item index, item field)
    hashes: list[np.ndarray] = field(default_factory=list)


class DecontaminationIndex:
    """All checks against one set of evaluation items; `match` is a pure function of a record."""

    def __init__(self, items: Iterable[BenchmarkItem], deny: DenyList = DenyList(), ngram: int = 13,
                 min_containment: float = 0.5, jaccard: float = 0.8, min_ngrams: int = 3):
        self.items = sorted(items, key=lambda it: it.key)
        self.deny, self.ngram = deny, ngram
        self.min_containment, self.jaccard = min_containment, jaccard
        self._signer = Signer()
        # Deny list also covers each item's own instance id: a record *of* a test instance is contaminated.
        self._item_ids = {it.item_id: it.key for it in self.items}
        grams, shingles = _Entries(), _Entries()
        for i, item in enumerate(self.items):
            for name, text in sorted(item.texts.items()):
                g = ngram_hashes64(text, ngram)
                if len(g) >= min_ngrams:
                    grams.keys.append((i, name))
                    grams.hashes.append(g)
                s = shingle_hashes(text)
                if len(s):
                    shingles.keys.append((i, name))
                    shingles.hashes.append(s)
        self._gram_keys = grams.keys
        self._gram_sizes = np.array([len(h) for h in grams.hashes], dtype=np.int64)
        owners = np.repeat(np.arange(len(grams.hashes)), self._gram_sizes)
        flat = np.concatenate(grams.hashes) if grams.hashes else np.empty(0, np.uint64)
        order = np.argsort(flat, kind="stable")
        self._gram_hashes, self._gram_owners = flat[order], owners[order]
        self._shingle_keys, self._shingle_sets = shingles.keys, shingles.hashes
        self._shingle_sigs = self._signer.from_hashes(shingles.hashes)

    @classmethod
    def from_sources(cls, sources: DecontamSources) -> DecontaminationIndex:
        items: list[BenchmarkItem] = []
        for path in sources.swe_bench:
            items.extend(load_swe_bench(path))
        for path in sources.humaneval:
            items.extend(load_humaneval(path))
        repos, instances = set(), set()
        for path in sources.deny_lists:
            d = load_deny_list(path)
            repos |= d.repos
            instances |= d.instance_ids
        if not items and not repos and not instances:
            raise ConfigError("decontamination needs at least one evaluation file or deny list")
        return cls(items, DenyList(frozenset(repos), frozenset(instances)), sources.ngram,
                   sources.min_containment, sources.jaccard, sources.min_ngrams)

    def __len__(self) -> int:
        return len(self.items)

    def match_ids(self, repo: str | None, instance_id: str | None) -> Match | None:
        if repo and repo in self.deny.repos:
            return Match("deny_list", f"repo:{repo}", 1.0, 1.0)
        if instance_id and instance_id in self.deny.instance_ids:
            return Match("deny_list", f"instance:{instance_id}", 1.0, 1.0)
        if instance_id and instance_id in self._item_ids:
            return Match("deny_list", self._item_ids[instance_id], 1.0, 1.0)
        return None

    def _near_duplicates(self, name: str, text: str) -> Iterator[Match]:
        if not self._shingle_keys:
            return
        hashes = shingle_hashes(text)
        if not len(hashes):
            return
        sig = self._signer.from_hashes([hashes])[0]
        estimates = (self._shingle_sigs == sig).mean(axis=1)
        # MinHash preselects with a margin (its standard error at 128 permutations is <= 0.045);
        # the decision is the exact Jaccard.
        for k in np.flatnonzero(estimates >= self.jaccard - 0.15):
            sim = exact_jaccard(hashes, self._shingle_sets[k])
            if sim >= self.jaccard:
                item, item_field = self._shingle_keys[k]
                yield Match("near_duplicate", self.items[item].key, round(sim, 6), self.jaccard, name, item_field)

    def _overlaps(self, name: str, text: str) -> Iterator[Match]:
        if not len(self._gram_hashes):
            return
        grams = ngram_hashes64(text, self.ngram)
        lo = np.searchsorted(self._gram_hashes, grams, side="left")
        hi = np.searchsorted(self._gram_hashes, grams, side="right")
        hit = hi > lo
        if not hit.any():
            return
        # A hash may belong to several items: expand each [lo, hi) range of owners.
        lo, hi = lo[hit], hi[hit]
        counts = hi - lo
        starts = np.repeat(lo - np.concatenate(([0], np.cumsum(counts)[:-1])), counts)
        owners = self._gram_owners[starts + np.arange(counts.sum())]
        shared = np.bincount(owners, minlength=len(self._gram_keys))
        contained = shared / np.maximum(self._gram_sizes, 1)
        for k in np.flatnonzero(contained >= self.min_containment):
            item, item_field = self._gram_keys[k]
            yield Match("ngram_overlap", self.items[item].key, round(float(contained[k]), 6),
                        self.min_containment, name, item_field)

    def match(self, texts: Mapping[str, str], repo: str | None = None,
              instance_id: str | None = None) -> Match | None:
        """The strongest match of a record (deny list > near-duplicate > n-gram overlap), or None.

        Within a check the highest signal wins; ties go to the smaller benchmark key, so the
        answer never depends on anything but the record and the index.
        """
        by_id = self.match_ids(repo, instance_id)
        if by_id:
            return by_id
        for check in (self._near_duplicates, self._overlaps):
            found = [m for name, text in sorted(texts.items()) if text for m in check(name, text)]
            if found:
                return min(found, key=lambda m: (-m.signal, m.item, m.record_field or "", m.item_field or ""))
        return None
