"""The audit suite: named SQL queries over the views of `OUT/audit.duckdb`, answering "what is in this
mixture, and why did this record go?".

Every audit is plain DuckDB SQL over the views `tracemill.audit_db` creates (tasks, trajectories,
test_runs, sft, rl, rejections, dispositions, manifest), so each one can be pasted into the `duckdb` CLI
unchanged (parameters are DuckDB's `$name` placeholders). `tracemill audit` and the data card run them
through `run`; nothing here reads the JSONL files directly.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import dataclass, field
from typing import Any

import duckdb

from tracemill import audit_db
from tracemill.errors import ConfigError

DB_NAME = "audit.duckdb"
VIEWS = (*audit_db.VIEWS, "manifest")


@dataclass(frozen=True)
class Audit:
    name: str
    title: str
    description: str
    sql: str
    needs: tuple[str, ...]
    params: dict[str, Any] = field(default_factory=dict)  # name -> default; bound as $name

    def bind(self, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        """Defaults updated with the overrides this audit uses (others are ignored)."""
        values = dict(self.params)
        for k, v in (overrides or {}).items():
            if k in values:
                values[k] = v
        return values

    def uses(self) -> dict[str, Any]:
        return {k: v for k, v in self.params.items() if f"${k}" in self.sql}


@dataclass
class Result:
    name: str
    title: str
    columns: list[str]
    rows: list[tuple]
    skipped: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def records(self) -> list[dict]:
        return [dict(zip(self.columns, row)) for row in self.rows]


# --------------------------------------------------------------------------------------------------
# The suite. Each query is independent; shared shapes are repeated rather than hidden in macros, so
# a user can copy any one of them into the duckdb CLI.

_RECONCILIATION = """
WITH inputs AS (
    SELECT i.path AS source, i.kind AS record_kind, i.records AS input
    FROM (SELECT unnest(inputs) AS i FROM manifest)
), ledger AS (
    SELECT source,
           count(*) AS ledger_rows,
           count(DISTINCT line) AS distinct_lines,
           count(*) FILTER (WHERE disposition = 'emitted') AS emitted,
           count(*) FILTER (WHERE disposition = 'filtered') AS filtered,
           count(*) FILTER (WHERE disposition = 'deduplicated') AS deduplicated,
           count(*) FILTER (WHERE disposition = 'dead_lettered') AS dead_lettered
    FROM dispositions GROUP BY source
)
SELECT coalesce(i.source, l.source) AS source,
       i.record_kind,
       coalesce(i.input, 0) AS input,
       coalesce(l.emitted, 0) AS emitted,
       coalesce(l.filtered, 0) AS filtered,
       coalesce(l.deduplicated, 0) AS deduplicated,
       coalesce(l.dead_lettered, 0) AS dead_lettered,
       coalesce(l.ledger_rows, 0) AS ledger_rows,
       -- ok: every input line has exactly one disposition, and the dispositions add up to the input
       (i.input IS NOT NULL
        AND coalesce(l.ledger_rows, 0) = i.input
        AND coalesce(l.distinct_lines, 0) = i.input
        AND coalesce(l.emitted + l.filtered + l.deduplicated + l.dead_lettered, 0) = i.input) AS ok
FROM inputs i FULL OUTER JOIN ledger l ON i.source = l.source
ORDER BY source
"""

_DISPOSITION_COUNTS = """
SELECT * FROM (
    SELECT source, record_kind, stage, disposition, reason, count(*) AS records
    FROM dispositions
    GROUP BY ALL
)
ORDER BY source, record_kind,
         CASE disposition WHEN 'emitted' THEN 0 WHEN 'filtered' THEN 1 WHEN 'deduplicated' THEN 2 ELSE 3 END,
         stage, reason NULLS FIRST
"""

_ACCEPTANCE = """
WITH src AS (
    SELECT record_id AS traj_id, min(source) AS source
    FROM dispositions WHERE record_kind = 'trajectory' AND disposition = 'emitted' GROUP BY record_id
), traj AS (
    SELECT t.traj_id, t.instance_id,
           coalesce(t.model, '?') AS model,
           coalesce(k.repo, '?') AS repo,
           coalesce(s.source, '?') AS source,
           coalesce(t.resolved, false) AS resolved,
           t.traj_id IN (SELECT traj_id FROM sft WHERE traj_id IS NOT NULL) AS in_sft
    FROM trajectories t
    LEFT JOIN (SELECT DISTINCT instance_id, repo FROM tasks) k ON k.instance_id = t.instance_id
    LEFT JOIN src s ON s.traj_id = t.traj_id
), grouped AS (
    SELECT 'task' AS level, instance_id AS key, * FROM traj
    UNION ALL SELECT 'repo', repo, * FROM traj
    UNION ALL SELECT 'model', model, * FROM traj
    UNION ALL SELECT 'source', source, * FROM traj
), per_task AS (
    -- pass@k is defined per task (n samples, c correct), then averaged over a group's tasks;
    -- 1 - C(n-c, k) / C(n, k) computed as a product, as in the Codex paper, to stay exact for large n.
    SELECT level, key, instance_id,
           count(*) AS n,
           count(*) FILTER (WHERE resolved) AS c,
           count(*) FILTER (WHERE in_sft) AS s
    FROM grouped GROUP BY level, key, instance_id
), scored AS (
    SELECT *, c / n AS p1,
           CASE WHEN n < $k THEN NULL
                WHEN c = 0 THEN 0.0
                WHEN n - c < $k THEN 1.0
                ELSE 1 - exp(list_sum([ln(1 - $k / i) for i in range(n - c + 1, n + 1)]))
           END AS pk
    FROM per_task
)
SELECT level, key,
       count(*) AS tasks,
       sum(n)::BIGINT AS graded,
       sum(c)::BIGINT AS resolved,
       round(sum(c) / sum(n), 6) AS acceptance_rate,
       sum(s)::BIGINT AS in_sft,
       round(avg(p1), 6) AS pass_at_1,
       $k AS k,
       round(avg(pk), 6) AS pass_at_k
FROM scored
GROUP BY level, key
ORDER BY CASE level WHEN 'task' THEN 0 WHEN 'repo' THEN 1 WHEN 'model' THEN 2 ELSE 3 END, key
"""

_REJECTION_REASONS = """
SELECT record_kind, stage, disposition, reason,
       count(*) AS records,
       count(signal) AS with_signal,
       min(signal) AS signal_min,
       quantile_cont(signal, 0.5) AS signal_p50,
       max(signal) AS signal_max,
       min("limit") AS limit_min,
       max("limit") AS limit_max
FROM rejections
GROUP BY ALL
ORDER BY records DESC, record_kind, stage, reason
"""

_SIGNAL_HISTOGRAM = """
WITH s AS (
    SELECT stage, reason, signal,
           min(signal) OVER w AS lo, max(signal) OVER w AS hi
    FROM rejections WHERE signal IS NOT NULL
    WINDOW w AS (PARTITION BY stage, reason)
), b AS (
    SELECT stage, reason, lo, hi,
           CASE WHEN hi = lo THEN 0 ELSE least(floor((signal - lo) / (hi - lo) * $bins)::BIGINT, $bins - 1) END AS bin
    FROM s
)
SELECT stage, reason, bin,
       lo + bin * (hi - lo) / $bins AS bin_lo,
       CASE WHEN hi = lo THEN hi ELSE lo + (bin + 1) * (hi - lo) / $bins END AS bin_hi,
       count(*) AS records
FROM b
GROUP BY ALL
ORDER BY stage, reason, bin
"""

_LIMIT_WHAT_IF = """
-- Signals are stored with every decision (and lengths with every example), so a different limit is
-- a query, not a re-run: how many records measure above $limit, per dataset and measure.
WITH measured AS (
    SELECT 'sft' AS dataset, 'num_tokens' AS measure, num_tokens::DOUBLE AS value, 'emitted' AS status FROM sft
    UNION ALL SELECT 'rl', 'num_tokens', num_tokens::DOUBLE, 'emitted' FROM rl
    UNION ALL SELECT 'trajectories', 'messages', len(messages)::DOUBLE, 'emitted' FROM trajectories
    UNION ALL SELECT 'rejections:' || stage || '/' || reason, 'signal', signal, disposition
              FROM rejections WHERE signal IS NOT NULL
)
SELECT dataset, measure, status,
       $limit AS "limit",
       count(*) AS records,
       count(*) FILTER (WHERE value > $limit) AS above_limit,
       count(*) FILTER (WHERE value <= $limit) AS within_limit,
       round(count(*) FILTER (WHERE value > $limit) / count(*), 6) AS share_above,
       sum(value) FILTER (WHERE value > $limit) AS value_above
FROM measured
GROUP BY dataset, measure, status
ORDER BY dataset, measure
"""

_TOKEN_LENGTHS = """
WITH x AS (
    SELECT 'sft' AS split, source, num_tokens FROM sft
    UNION ALL SELECT 'rl', source, num_tokens FROM rl
)
SELECT split,
       CASE WHEN grouping(source) = 1 THEN '*' ELSE source END AS source,
       count(*) AS examples,
       sum(num_tokens)::BIGINT AS tokens,
       min(num_tokens) AS min,
       quantile_cont(num_tokens, 0.5) AS p50,
       quantile_cont(num_tokens, 0.9) AS p90,
       quantile_cont(num_tokens, 0.99) AS p99,
       max(num_tokens) AS max,
       round(avg(num_tokens), 3) AS mean
FROM x
GROUP BY GROUPING SETS ((split, source), (split))
ORDER BY split, grouping(source), source
"""

_DUPLICATE_CLUSTERS = """
-- Dedup names the kept record (the smallest id of its component) in duplicate_of, so a cluster is the
-- keeper plus every record pointing at it. The example pair is the least similar member and the keeper.
WITH d AS (
    SELECT record_kind, duplicate_of AS keeper, record_id, reason, similarity,
           row_number() OVER (PARTITION BY record_kind, duplicate_of
                              ORDER BY similarity ASC NULLS LAST, record_id) AS rank
    FROM rejections
    WHERE disposition = 'deduplicated' AND duplicate_of IS NOT NULL
)
SELECT record_kind, keeper,
       count(*) + 1 AS size,
       list(record_id ORDER BY record_id) AS duplicates,
       string_agg(DISTINCT reason, ',' ORDER BY reason) AS reasons,
       keeper AS example_a,
       max(record_id) FILTER (WHERE rank = 1) AS example_b,
       max(similarity) FILTER (WHERE rank = 1) AS example_similarity
FROM d
GROUP BY record_kind, keeper
ORDER BY size DESC, record_kind, keeper
"""

_FLAKY_TESTS = """
-- Task builders run the clean suite several times; tests with mixed outcomes are kept out of
-- FAIL_TO_PASS/PASS_TO_PASS and recorded in provenance.flaky_tests (or flagged on the task).
SELECT instance_id, repo, test, evidence FROM (
    SELECT instance_id, repo,
           unnest(coalesce(json_extract_string(provenance, '$.flaky_tests[*]'), []::VARCHAR[])) AS test,
           'provenance.flaky_tests' AS evidence
    FROM tasks
    UNION ALL
    SELECT instance_id, repo, NULL, 'flags:' || flag
    FROM (SELECT instance_id, repo, unnest(coalesce(flags, []::VARCHAR[])) AS flag FROM tasks)
    WHERE flag LIKE '%flaky%'
)
ORDER BY instance_id, test NULLS FIRST, evidence
"""

_MIXTURE = """
WITH cfg AS (SELECT to_json(config) AS c FROM manifest),
conf AS (
    SELECT split, e.key AS source, e.value AS weight, budget FROM (
        SELECT split,
               unnest(map_entries(CAST(json_extract(c, '$.mix.' || split || '.weights')
                                       AS MAP(VARCHAR, DOUBLE)))) AS e,
               TRY_CAST(json_extract(c, '$.mix.' || split || '.token_budget') AS BIGINT) AS budget
        FROM cfg, (SELECT unnest(['sft', 'rl']) AS split)
    )
), conf_share AS (
    SELECT *, CASE WHEN sum(weight) OVER (PARTITION BY split) > 0
                   THEN weight / sum(weight) OVER (PARTITION BY split) ELSE 0 END AS weight_share
    FROM conf
), kept AS (
    SELECT 'sft' AS split, source, count(*) AS examples, sum(num_tokens) AS tokens FROM sft GROUP BY source
    UNION ALL
    SELECT 'rl', source, count(*), sum(num_tokens) FROM rl GROUP BY source
), dropped AS (
    SELECT substr(stage, 5) AS split, source, count(*) AS examples, sum(signal) AS tokens
    FROM rejections WHERE stage IN ('mix_sft', 'mix_rl') GROUP BY ALL
), joined AS (
    SELECT coalesce(c.split, k.split, d.split) AS split,
           coalesce(c.source, k.source, d.source) AS source,
           c.weight, c.weight_share,
           -- one budget per split, also on rows of sources that have no weight
           max(c.budget) OVER (PARTITION BY coalesce(c.split, k.split, d.split)) AS token_budget,
           coalesce(k.examples, 0) AS examples,
           coalesce(k.tokens, 0)::BIGINT AS tokens,
           coalesce(d.examples, 0) AS dropped_examples,
           coalesce(d.tokens, 0)::BIGINT AS dropped_tokens
    FROM conf_share c
    FULL OUTER JOIN kept k ON k.split = c.split AND k.source = c.source
    FULL OUTER JOIN dropped d ON d.split = coalesce(c.split, k.split) AND d.source = coalesce(c.source, k.source)
)
SELECT split, source, weight,
       round(weight_share, 6) AS weight_share,
       token_budget,
       round(token_budget * weight_share, 3) AS target_tokens,
       examples + dropped_examples AS candidate_examples,
       tokens + dropped_tokens AS candidate_tokens,
       examples, tokens,
       round(CASE WHEN sum(tokens) OVER (PARTITION BY split) > 0
                  THEN tokens / sum(tokens) OVER (PARTITION BY split) END, 6) AS token_share,
       dropped_examples, dropped_tokens,
       -- sources are never upsampled: a shortfall against the target is reported, not filled
       CASE WHEN token_budget IS NOT NULL AND weight_share IS NOT NULL
            THEN round(greatest(token_budget * weight_share - tokens, 0), 3) END AS shortfall_tokens
FROM joined
ORDER BY split DESC, source
"""

_STALENESS = """
-- Policy versions are strings such as "step-120"; the trailing integer orders them. within_rollout is
-- how far the policy moved during one rollout, behind_latest how far the rollout lags the newest policy
-- in this RL mixture (the off-policy gap a trainer sees).
WITH v AS (
    SELECT TRY_CAST(regexp_extract(policy_version_begin, '(\\d+)$', 1) AS BIGINT) AS b,
           TRY_CAST(regexp_extract(policy_version_end, '(\\d+)$', 1) AS BIGINT) AS e
    FROM rl
), m AS (
    SELECT 'within_rollout' AS measure, e - b AS staleness FROM v
    UNION ALL SELECT 'behind_latest', (SELECT max(e) FROM v) - e FROM v
)
SELECT measure, staleness, count(*) AS examples,
       round(count(*) / sum(count(*)) OVER (PARTITION BY measure), 6) AS share
FROM m
GROUP BY measure, staleness
ORDER BY measure DESC, staleness NULLS LAST
"""

_CONTAMINATION = """
-- Decontamination rejects with reason contaminat* or benchmark_<check> and names the benchmark item
-- in duplicate_of.
SELECT record_kind, record_id, source, stage, disposition, reason, signal, "limit",
       duplicate_of AS benchmark_item, detail
FROM rejections
WHERE reason LIKE 'contaminat%' OR reason LIKE 'benchmark\\_%' ESCAPE '\\' OR stage LIKE '%contam%'
ORDER BY reason, record_kind, record_id
"""

_DEAD_LETTERS = """
SELECT record_kind, stage, reason, error.type AS error_type, count(*) AS records,
       min(record_id) AS example_record, min(error.message) AS example_message
FROM rejections
WHERE disposition = 'dead_lettered'
GROUP BY ALL
ORDER BY records DESC, record_kind, stage, reason
"""

_GRADING_OUTCOMES = """
SELECT repo, outcome, infra_failure_reason, count(*) AS runs,
       sum(len(fail_to_pass.success))::BIGINT AS f2p_passed,
       sum(len(fail_to_pass.failure))::BIGINT AS f2p_failed,
       sum(len(pass_to_pass.failure))::BIGINT AS p2p_broken
FROM test_runs
GROUP BY ALL
ORDER BY repo, outcome, infra_failure_reason NULLS FIRST
"""

SUITE: tuple[Audit, ...] = (
    Audit("reconciliation", "Reconciliation per source",
          "Input records per source file against the ledger's dispositions; ok proves nothing was lost.",
          _RECONCILIATION, ("manifest", "dispositions")),
    Audit("disposition_counts", "Counts per source, stage and disposition",
          "Where every input record ended: emitted, filtered (reason), deduplicated or dead-lettered.",
          _DISPOSITION_COUNTS, ("dispositions",)),
    Audit("acceptance", "Acceptance rate and pass@k",
          "Graded rollouts per task, repo, model and source: resolved share, SFT acceptance, pass@1 and "
          "pass@k (unbiased estimator; null where a task has fewer than k samples).",
          _ACCEPTANCE, ("trajectories", "tasks", "dispositions", "sft"), {"k": 2}),
    Audit("rejection_reasons", "Rejection reasons",
          "Every rejection by stage and reason, with the measured signal's range and the configured limit.",
          _REJECTION_REASONS, ("rejections",)),
    Audit("signal_histogram", "Rejection signal histograms",
          "Equal-width bins of the measured signal per stage and reason.",
          _SIGNAL_HISTOGRAM, ("rejections",), {"bins": 10}),
    Audit("limit_what_if", "What would a limit of N have dropped?",
          "Records measuring above --param limit=N: example token counts, trajectory lengths and stored "
          "rejection signals.",
          _LIMIT_WHAT_IF, ("sft", "rl", "trajectories", "rejections"), {"limit": 4096}),
    Audit("token_lengths", "Token-length percentiles",
          "Tokens per example by split and source ('*' = whole split); linear-interpolated percentiles.",
          _TOKEN_LENGTHS, ("sft", "rl")),
    Audit("duplicate_clusters", "Duplicate clusters",
          "Each kept record with the duplicates that name it, cluster size and the least similar pair.",
          _DUPLICATE_CLUSTERS, ("rejections",)),
    Audit("flaky_tests", "Flaky tests found",
          "Tests with mixed outcomes across repeated clean runs, from task provenance and flags.",
          _FLAKY_TESTS, ("tasks",)),
    Audit("mixture_composition", "Mixture composition against weights and budgets",
          "Per split and source: configured weight and token target, what was kept and what the mix dropped.",
          _MIXTURE, ("manifest", "sft", "rl", "rejections")),
    Audit("policy_staleness", "RL policy staleness",
          "Distribution of policy-version gaps of RL examples (trailing integers of policy_version_*).",
          _STALENESS, ("rl",)),
    Audit("contamination", "Contamination hits",
          "Records rejected because they overlap an evaluation set, with the benchmark item matched.",
          _CONTAMINATION, ("rejections",)),
    Audit("dead_letters", "Dead letters",
          "Records that raised, by stage and error type, with one example message.",
          _DEAD_LETTERS, ("rejections",)),
    Audit("grading_outcomes", "Grading outcomes",
          "Sandboxed test runs per repo and outcome; infra failures are never negative labels.",
          _GRADING_OUTCOMES, ("test_runs",)),
)
AUDITS: dict[str, Audit] = {a.name: a for a in SUITE}


# --------------------------------------------------------------------------------------------------
# The database


def _is_stale(out_abs: str, path: str) -> bool:
    manifest = os.path.join(out_abs, "manifest.json")
    if os.path.exists(manifest) and os.path.getmtime(manifest) > os.path.getmtime(path):
        return True  # a newer run wrote into this folder
    try:
        con = duckdb.connect(path, read_only=True)
    except duckdb.Error:
        return True
    try:
        rows = con.execute("SELECT view_name, sql FROM duckdb_views() WHERE NOT internal").fetchall()
    except duckdb.Error:
        return True
    finally:
        con.close()
    views = {name: sql for name, sql in rows}
    if not set(VIEWS) <= set(views):
        return True
    # Views hold absolute paths; a moved or copied output folder points elsewhere.
    return any(out_abs not in sql for sql in views.values())


def ensure_db(out_dir: str) -> str:
    """Path of `OUT/audit.duckdb`, (re)created when missing or stale."""
    out_abs = os.path.abspath(out_dir)
    if not os.path.isdir(out_abs):
        raise ConfigError(f"no such output folder: {out_dir}")
    if not os.path.exists(os.path.join(out_abs, "manifest.json")):
        raise ConfigError(f"{out_dir} holds no tracemill run (manifest.json missing)")
    path = os.path.join(out_abs, DB_NAME)
    if not os.path.exists(path) or _is_stale(out_abs, path):
        try:
            audit_db.create(out_abs, DB_NAME)
        except duckdb.Error as exc:
            raise ConfigError(f"cannot build {path}: {str(exc).splitlines()[0]}") from exc
        except OSError as exc:
            raise ConfigError(f"cannot write {path}: {exc.strerror}") from exc
    return path


def connect(out_dir: str) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the run's audit database."""
    return duckdb.connect(ensure_db(out_dir), read_only=True)


def views(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}


def run(con: duckdb.DuckDBPyConnection, name: str, params: dict[str, Any] | None = None) -> Result:
    """Run one named audit; a missing view (a pipeline without that output) skips it."""
    if name not in AUDITS:
        raise ConfigError(f"unknown audit {name!r} (known: {', '.join(AUDITS)})")
    audit = AUDITS[name]
    missing = [v for v in audit.needs if v not in views(con)]
    if missing:
        return Result(name, audit.title, [], [], skipped=f"no view {', '.join(missing)} in this run")
    bound = audit.bind(params)
    try:
        cur = con.execute(audit.sql, bound) if bound else con.execute(audit.sql)
        rows = cur.fetchall()
    except duckdb.Error as exc:
        # An output written by another pipeline may lack a column an audit reads; say so, don't crash.
        return Result(name, audit.title, [], [], skipped=f"error: {str(exc).splitlines()[0]}")
    return Result(name, audit.title, [d[0] for d in cur.description], rows, params=bound)


def run_all(con: duckdb.DuckDBPyConnection, params: dict[str, Any] | None = None) -> list[Result]:
    return [run(con, a.name, params) for a in SUITE]


def run_sql(con: duckdb.DuckDBPyConnection, sql: str) -> Result:
    try:
        cur = con.execute(sql)
        rows = cur.fetchall() if cur.description else []
    except duckdb.Error as exc:
        raise ConfigError(f"SQL failed: {str(exc).splitlines()[0]}") from exc
    return Result("sql", sql.strip(), [d[0] for d in cur.description or []], rows)


# --------------------------------------------------------------------------------------------------
# Formatting


def plain(value: Any) -> Any:
    """A JSON-ready value: DuckDB decimals, dates, structs and lists become plain Python."""
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "__float__"):
        return float(value)
    return str(value)


def cell(value: Any, width: int | None = 60) -> str:
    """A compact text rendering of one value for tables."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        text = f"{value:.6g}" if abs(value) < 1e15 else f"{value:.6e}"
    elif isinstance(value, (list, dict, tuple)):
        text = json.dumps(plain(value), ensure_ascii=False, sort_keys=True)
    else:
        text = str(value)
    text = text.replace("\n", " ")
    if width and len(text) > width:
        text = text[: width - 1] + "…"
    return text


def as_table(result: Result) -> str:
    head = f"== {result.name}: {result.title}"
    if result.skipped:
        return f"{head}\n  (skipped: {result.skipped})\n"
    if not result.rows:
        return f"{head}\n  (no rows)\n"
    cells = [[cell(v) for v in row] for row in result.rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(result.columns)]
    numeric = [all(isinstance(row[i], (int, float)) or row[i] is None for row in result.rows)
               for i in range(len(result.columns))]

    def line(values: list[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)).rstrip()

    out = [head, line(result.columns), line(["-" * w for w in widths]), *(line(r) for r in cells)]
    return "\n".join(out) + "\n"


def as_csv(result: Result) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(result.columns)
    for row in result.rows:
        writer.writerow([cell(v, width=None) for v in row])
    return buf.getvalue()


def as_json(result: Result) -> list[dict]:
    return [{k: plain(v) for k, v in rec.items()} for rec in result.records()]


def render(results: list[Result], fmt: str, single: bool) -> str:
    """Text for `tracemill audit`: one result bare, several under their names."""
    if fmt == "table":
        return "\n".join(as_table(r) for r in results)
    if fmt == "csv":
        if single:
            return as_csv(results[0])
        return "\n".join(f"# {r.name}\n" + (f"# skipped: {r.skipped}\n" if r.skipped else as_csv(r))
                         for r in results)
    if fmt == "json":
        if single:
            r = results[0]
            body: Any = {"skipped": r.skipped} if r.skipped else as_json(r)
        else:
            body = {r.name: ({"title": r.title, "skipped": r.skipped} if r.skipped else
                             {"title": r.title, "params": plain(r.params), "rows": as_json(r)}) for r in results}
        return json.dumps(body, indent=2, ensure_ascii=False) + "\n"
    raise ConfigError(f"unknown format {fmt!r} (table, csv, json)")
