"""The data card: `OUT/card.html` (self-contained, inline SVG plots) and `OUT/card.md` (+ `OUT/card_plots/`).

Written after the manifest and audit database, from them only: what went in, what came out, the
config and its hash, the counts, every audit table (`tracemill.audit`) and plots rendered with
matplotlib. The card is deterministic like the rest of the run (no timestamps, no absolute paths,
fixed SVG ids), so two identical runs give byte-identical cards.
"""

from __future__ import annotations

import html
import io
import json
import os
import re
import string
from collections.abc import Callable
from importlib import resources
from typing import Any

import yaml

from tracemill import audit
from tracemill.sinks import atomic_write

PLOTS_DIR = "card_plots"
MAX_ROWS = 200  # per audit table in the card; the full result is one `tracemill audit --query` away


# --------------------------------------------------------------------------------------------------
# Plots


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display, no GUI toolkit: cards are written by batch jobs
    import matplotlib.pyplot as plt

    matplotlib.rcParams.update({
        "svg.hashsalt": "tracemill-card",  # stable clip-path ids -> byte-identical SVG
        "svg.fonttype": "none",  # text stays text: smaller, searchable, selectable
        "font.size": 9,
        "axes.spines.top": False,
        "axes.spines.right": False,
    })
    return plt


def _svg(fig, name: str) -> str:
    import matplotlib

    matplotlib.rcParams["svg.id"] = f"plot-svg-{name}"
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    text = buf.getvalue()
    # Inline SVGs share one HTML id namespace; prefix matplotlib's ids with the plot name.
    text = re.sub(r'(\bid="|url\(#|href="#)', lambda m: f"{m.group(1)}{name}-", text)
    text = text.replace(f'id="{name}-plot-svg-{name}"', f'id="plot-svg-{name}"')
    start = text.find("<svg")
    return text[start:].strip() + "\n"


def _empty(ax, message: str = "no data in this run") -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color="#59636e")
    ax.set_xticks([])
    ax.set_yticks([])


def plot_token_lengths(con) -> Callable:
    rows = con.execute("SELECT 'sft' AS split, num_tokens FROM sft UNION ALL "
                       "SELECT 'rl', num_tokens FROM rl ORDER BY 1, 2").fetchall()

    def draw(ax):
        data = {s: [n for sp, n in rows if sp == s] for s in ("sft", "rl")}
        data = {s: v for s, v in data.items() if v}
        if not data:
            return _empty(ax)
        ax.hist(list(data.values()), bins=20, label=[f"{s} (n={len(v)})" for s, v in data.items()],
                color=["#0969da", "#bf8700"][: len(data)], stacked=False)
        ax.set_xlabel("tokens per example")
        ax.set_ylabel("examples")
        ax.legend(frameon=False)

    return draw


def plot_acceptance(results: dict[str, audit.Result]) -> Callable:
    res = results.get("acceptance")
    rows = [r for r in (res.records() if res and not res.skipped else []) if r["level"] in ("source", "model")]

    def draw(ax):
        if not rows:
            return _empty(ax)
        labels = [f"{r['level']}: {r['key']}" for r in rows]
        y = range(len(rows))
        ax.barh([i + 0.2 for i in y], [r["acceptance_rate"] or 0 for r in rows], height=0.4,
                label="acceptance rate (resolved / graded)", color="#1a7f37")
        ax.barh([i - 0.2 for i in y], [r["pass_at_1"] or 0 for r in rows], height=0.4,
                label="pass@1 (mean over tasks)", color="#8c959f")
        ax.set_yticks(list(y), labels)
        ax.set_xlim(0, 1)
        ax.invert_yaxis()
        ax.set_xlabel("share of graded rollouts")
        ax.legend(frameon=False, loc="lower right")

    return draw


def plot_rejections(results: dict[str, audit.Result]) -> Callable:
    res = results.get("rejection_reasons")
    rows = res.records() if res and not res.skipped else []
    colors = {"filtered": "#bf8700", "deduplicated": "#0969da", "dead_lettered": "#cf222e"}

    def draw(ax):
        if not rows:
            return _empty(ax, "no rejections in this run")
        labels = [f"{r['stage']} / {r['reason']}" for r in rows]
        ax.barh(range(len(rows)), [r["records"] for r in rows],
                color=[colors.get(r["disposition"], "#8c959f") for r in rows])
        ax.set_yticks(range(len(rows)), labels)
        ax.invert_yaxis()
        ax.set_xlabel("records")
        ax.xaxis.get_major_locator().set_params(integer=True)
        from matplotlib.patches import Patch

        present = [d for d in colors if any(r["disposition"] == d for r in rows)]
        ax.legend(handles=[Patch(color=colors[d], label=d) for d in present], frameon=False,
                  loc="upper left", bbox_to_anchor=(1.0, 1.0))

    return draw


def plot_mixture(results: dict[str, audit.Result]) -> Callable:
    res = results.get("mixture_composition")
    rows = res.records() if res and not res.skipped else []

    def draw(ax):
        if not rows:
            return _empty(ax)
        labels = [f"{r['split']}: {r['source']}" for r in rows]
        x = range(len(rows))
        ax.bar([i - 0.2 for i in x], [r["weight_share"] or 0 for r in rows], width=0.4,
               label="configured weight share", color="#8c959f")
        ax.bar([i + 0.2 for i in x], [r["token_share"] or 0 for r in rows], width=0.4,
               label="kept token share", color="#0969da")
        ax.set_xticks(list(x), labels, rotation=20, ha="right")
        ax.set_ylim(0, 1.3)
        ax.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
        ax.set_ylabel("share of the split's tokens")
        ax.legend(frameon=False, loc="upper left", ncol=2)

    return draw


def plot_clusters(results: dict[str, audit.Result]) -> Callable:
    res = results.get("duplicate_clusters")
    sizes = [r["size"] for r in (res.records() if res and not res.skipped else [])]

    def draw(ax):
        if not sizes:
            return _empty(ax, "no duplicates in this run")
        counts: dict[int, int] = {}
        for s in sizes:
            counts[s] = counts.get(s, 0) + 1
        xs = sorted(counts)
        ax.bar([str(x) for x in xs], [counts[x] for x in xs], color="#0969da")
        ax.set_xlabel("cluster size (kept record + its duplicates)")
        ax.set_ylabel("clusters")
        ax.yaxis.get_major_locator().set_params(integer=True)

    return draw


PLOTS = (
    ("token_lengths", "Token-length distribution of the SFT and RL examples."),
    ("acceptance", "Acceptance rate and pass@1 by input source and model."),
    ("rejection_reasons", "Rejections by stage and reason, coloured by disposition."),
    ("mixture_composition", "Mixture composition: configured weight share against kept token share."),
    ("dedup_cluster_sizes", "Duplicate cluster sizes."),
)


def render_plots(con, results: dict[str, audit.Result]) -> dict[str, str]:
    """plot name -> SVG text."""
    plt = _pyplot()
    draws = {
        "token_lengths": plot_token_lengths(con) if {"sft", "rl"} <= audit.views(con) else None,
        "acceptance": plot_acceptance(results),
        "rejection_reasons": plot_rejections(results),
        "mixture_composition": plot_mixture(results),
        "dedup_cluster_sizes": plot_clusters(results),
    }
    out = {}
    for name, caption in PLOTS:
        fig, ax = plt.subplots(figsize=(6.4, 3.4))
        try:
            draw = draws[name]
            if draw is None:
                _empty(ax)
            else:
                draw(ax)
            ax.set_title(caption.split(":")[0].rstrip("."), loc="left", fontsize=10)
            out[name] = _svg(fig, name)
        finally:
            plt.close(fig)
    return out


# --------------------------------------------------------------------------------------------------
# Tables


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def html_table(columns: list[str], rows: list[tuple | list], attrs: str = "") -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for v in row:
            text = html.escape(audit.cell(v, width=None))
            if isinstance(v, bool):
                cells.append(f'<td class="{"ok" if v else "bad"}">{text}</td>')
            else:
                cells.append(f'<td class="num">{text}</td>' if _is_num(v) else f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<div class="wrap"><table{(" " + attrs) if attrs else ""}><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")


def md_table(columns: list[str], rows: list[tuple | list]) -> str:
    def esc(v: Any) -> str:
        return audit.cell(v, width=120).replace("|", "\\|")

    lines = ["| " + " | ".join(columns) + " |",
             "| " + " | ".join("---:" if rows and all(_is_num(r[i]) or r[i] is None for r in rows) else "---"
                               for i in range(len(columns))) + " |"]
    lines += ["| " + " | ".join(esc(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _inputs(manifest: dict) -> tuple[list[str], list[tuple]]:
    return (["path", "kind", "records", "sha256"],
            [(i["path"], i["kind"], i["records"], i["sha256"][:16]) for i in manifest.get("inputs", [])])


def _outputs(manifest: dict) -> tuple[list[str], list[tuple]]:
    """One row per output folder: shards, rows (from the JSONL twins) and bytes per format."""
    folders: dict[str, dict] = {}
    for o in manifest.get("outputs", []):
        folder, _, name = o["path"].rpartition("/")
        f = folders.setdefault(folder or name, {"shards": set(), "rows": None, "parquet": 0, "jsonl": 0})
        f["shards"].add(name.split(".", 1)[0])
        if o.get("rows") is not None:
            f["rows"] = (f["rows"] or 0) + o["rows"]
        kind = "parquet" if name.endswith(".parquet") else "jsonl"
        f[kind] += o.get("bytes") or 0
    return (["output", "shards", "rows", "parquet_bytes", "jsonl_bytes"],
            [(k, len(f["shards"]), f["rows"], f["parquet"], f["jsonl"]) for k, f in folders.items()])


def _files(manifest: dict) -> tuple[list[str], list[tuple]]:
    return (["path", "rows", "bytes", "sha256"],
            [(o["path"], o.get("rows"), o.get("bytes"), o["sha256"]) for o in manifest.get("outputs", [])])


def _totals(manifest: dict) -> tuple[list[str], list[tuple]]:
    counts = manifest.get("counts", {})
    cols = ["record_kind", "input", "emitted", "filtered", "deduplicated", "dead_lettered"]
    rows = []
    for kind, c in counts.get("by_kind", {}).items():
        rows.append((kind, sum(c.values()), c.get("emitted", 0), c.get("filtered", 0), c.get("deduplicated", 0),
                     c.get("dead_lettered", 0)))
    t = counts.get("total", {})
    if t:
        rows.append(("all", t.get("input"), t.get("emitted"), t.get("filtered"), t.get("deduplicated"),
                     t.get("dead_lettered")))
    return cols, rows


def _examples(manifest: dict) -> tuple[list[str], list[tuple]]:
    ex = manifest.get("counts", {}).get("examples", {})
    return ["split", "emitted", "dropped_by_mix"], [(s, c.get("emitted"), c.get("dropped_by_mix"))
                                                    for s, c in ex.items()]


def _config_yaml(manifest: dict) -> str:
    return yaml.safe_dump(manifest.get("config", {}), sort_keys=True, default_flow_style=False, allow_unicode=True)


# --------------------------------------------------------------------------------------------------
# Writing


def _template() -> string.Template:
    text = resources.files("tracemill").joinpath("card_templates", "card.html").read_text(encoding="utf-8")
    return string.Template(text)


def _atomic_write(path: str, text: str) -> None:
    atomic_write(path, text.encode("utf-8"))


def render_html(manifest: dict, results: list[audit.Result], plots: dict[str, str]) -> str:
    reconciled = manifest.get("counts", {}).get("reconciled")
    meta = [("pipeline", manifest.get("pipeline")), ("tracemill", manifest.get("tracemill_version")),
            ("config_hash", manifest.get("config_hash")), ("seed", manifest.get("seed"))]
    meta_html = "".join(f"<dt>{html.escape(k)}</dt><dd><code>{html.escape(str(v))}</code></dd>" for k, v in meta)
    meta_html += (f'<dt>counts</dt><dd class="{"ok" if reconciled else "bad"}">'
                  f'{"reconciled" if reconciled else "NOT reconciled"}</dd>')
    counts = html_table(*_totals(manifest), attrs='id="counts-total"')
    counts += "<h3>Examples</h3>" + html_table(*_examples(manifest), attrs='id="counts-examples"')
    figures = []
    for name, caption in PLOTS:
        figures.append(f'<figure class="plot" id="plot-{name}" data-plot="{name}">{plots[name]}'
                       f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    sections = []
    for r in results:
        a = audit.AUDITS.get(r.name)
        head = f'<section class="audit" id="audit-{r.name}"><h3>{html.escape(r.title)}</h3>'
        head += f'<p class="desc">{html.escape(a.description if a else "")}'
        if r.params:
            head += " Parameters: " + html.escape(", ".join(f"{k}={v}" for k, v in r.params.items())) + "."
        head += f' <code>tracemill audit OUT_DIR --query {r.name}</code></p>'
        if r.skipped:
            body = f'<p class="muted">skipped: {html.escape(r.skipped)}</p>'
        elif not r.rows:
            body = f'<p class="muted" data-audit-empty="{r.name}">No rows in this run.</p>'
        else:
            body = html_table(r.columns, r.rows[:MAX_ROWS], attrs=f'class="audit" data-audit="{r.name}"')
            if len(r.rows) > MAX_ROWS:
                body += f'<p class="muted">{len(r.rows) - MAX_ROWS} more rows not shown.</p>'
        sections.append(head + body + "</section>")
    title = f"tracemill data card: {manifest.get('pipeline', 'run')}"
    return _template().substitute(
        title=html.escape(title), version=html.escape(str(manifest.get("tracemill_version", ""))),
        meta=meta_html, inputs=html_table(*_inputs(manifest), attrs='id="inputs-table"'),
        outputs=html_table(*_outputs(manifest), attrs='id="outputs-table"')
        + "<details><summary>Every file with its sha256</summary>"
        + html_table(*_files(manifest), attrs='id="files-table"') + "</details>", counts=counts,
        plots="\n".join(figures), audits="\n".join(sections),
        config_hash=html.escape(str(manifest.get("config_hash", ""))),
        config=html.escape(_config_yaml(manifest)),
    )


def render_md(manifest: dict, results: list[audit.Result]) -> str:
    reconciled = manifest.get("counts", {}).get("reconciled")
    out = [f"# tracemill data card: {manifest.get('pipeline', 'run')}", "",
           f"- tracemill: `{manifest.get('tracemill_version')}`",
           f"- config_hash: `{manifest.get('config_hash')}`",
           f"- seed: `{manifest.get('seed')}`",
           f"- counts: {'reconciled' if reconciled else '**NOT reconciled**'}", "",
           "Plots and tables are also in `card.html`; every table is one `tracemill audit OUT_DIR --query NAME`.",
           "", "## What went in", "", md_table(*_inputs(manifest)), "",
           "## What came out", "", md_table(*_outputs(manifest)), "",
           "<details><summary>Every file with its sha256</summary>", "", md_table(*_files(manifest)), "",
           "</details>", "",
           "## Counts", "", md_table(*_totals(manifest)), "", md_table(*_examples(manifest)), "",
           "## Plots", ""]
    for name, caption in PLOTS:
        out += [f"![{caption}]({PLOTS_DIR}/{name}.svg)", ""]
    out += ["## Audits", ""]
    for r in results:
        a = audit.AUDITS.get(r.name)
        out += [f"### {r.title}", "", f"{a.description if a else ''} (`--query {r.name}`)", ""]
        if r.skipped:
            out += [f"_skipped: {r.skipped}_", ""]
        elif not r.rows:
            out += ["_No rows in this run._", ""]
        else:
            out += [md_table(r.columns, r.rows[:MAX_ROWS]), ""]
            if len(r.rows) > MAX_ROWS:
                out += [f"_{len(r.rows) - MAX_ROWS} more rows not shown._", ""]
    out += ["## Configuration", "", f"config_hash `{manifest.get('config_hash')}`", "", "```yaml",
            _config_yaml(manifest).rstrip("\n"), "```", ""]
    return "\n".join(out)


def write(out_dir: str, manifest: dict | None = None) -> tuple[str, str]:
    """Write `card.html`, `card.md` and `card_plots/*.svg` into `out_dir`; returns the two card paths."""
    if "://" in out_dir:
        return "", ""  # remote outputs: build the card later from a local copy with `tracemill audit`
    if manifest is None:
        with open(os.path.join(out_dir, "manifest.json"), encoding="utf-8") as fh:
            manifest = json.load(fh)
    # The same card whether given the in-memory manifest or the file (whose keys are sorted).
    manifest = json.loads(json.dumps(manifest, sort_keys=True))
    con = audit.connect(out_dir)
    try:
        results = audit.run_all(con)
        plots = render_plots(con, {r.name: r for r in results})
    finally:
        con.close()
    plots_dir = os.path.join(out_dir, PLOTS_DIR)
    os.makedirs(plots_dir, exist_ok=True)
    for name, svg in plots.items():
        _atomic_write(os.path.join(plots_dir, f"{name}.svg"),
                      '<?xml version="1.0" encoding="utf-8" standalone="no"?>\n' + svg)
    html_path, md_path = os.path.join(out_dir, "card.html"), os.path.join(out_dir, "card.md")
    _atomic_write(html_path, render_html(manifest, results, plots))
    _atomic_write(md_path, render_md(manifest, results))
    return html_path, md_path
