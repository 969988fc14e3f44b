"""The data card: written by every sft-mix run, self-contained, deterministic, and it renders in headless
Chromium with its plots and audit tables present."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser

import pytest

from tests.fixed_run import fixed_run, read_output  # noqa: F401 - fixture
from tracemill import audit, card

pytestmark = pytest.mark.sandbox

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Links(HTMLParser):
    """Every src/href an HTML page would fetch."""

    def __init__(self):
        super().__init__()
        self.fetches: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("src", "href") and value and not value.startswith(("#", "data:")):
                self.fetches.append(f"{tag} {name}={value}")
            if tag == "link" and name == "rel":
                self.fetches.append(f"link rel={value}")


def test_run_writes_card_files(fixed_run):  # noqa: F811
    for name in ("card.html", "card.md", *(f"card_plots/{p}.svg" for p, _ in card.PLOTS)):
        assert (fixed_run / name).stat().st_size > 0, name


def test_html_is_self_contained(fixed_run):  # noqa: F811
    text = (fixed_run / "card.html").read_text()
    parser = Links()
    parser.feed(text)
    assert parser.fetches == []
    assert "@import" not in text and "url(http" not in text
    assert text.count("<svg") == len(card.PLOTS)
    ids = re.findall(r'\bid="([^"]+)"', text)
    assert len(ids) == len(set(ids)), "inline SVG ids collide"


def test_card_holds_inputs_outputs_config_and_counts(fixed_run):  # noqa: F811
    manifest = json.loads((fixed_run / "manifest.json").read_text())
    html_text = (fixed_run / "card.html").read_text()
    md = (fixed_run / "card.md").read_text()
    for text in (html_text, md):
        assert manifest["config_hash"] in text
        for i in manifest["inputs"]:
            assert i["path"] in text
        for o in manifest["outputs"]:
            assert o["sha256"] in text
        assert "threshold: 0.8" in text  # the resolved config, as YAML
    for p, _ in card.PLOTS:
        assert f"](card_plots/{p}.svg)" in md
    for name, a in audit.AUDITS.items():
        assert f"### {a.title}" in md and f'id="audit-{name}"' in html_text
    total = manifest["counts"]["total"]
    assert f"| all | {total['input']} | {total['emitted']} |" in md


def test_card_is_deterministic_and_free_of_paths(fixed_run, tmp_path):  # noqa: F811
    copy = tmp_path / "copy"
    shutil.copytree(fixed_run, copy, ignore=shutil.ignore_patterns("card*", "audit.duckdb"))
    card.write(str(copy))
    for name in ("card.html", "card.md", *(f"card_plots/{p}.svg" for p, _ in card.PLOTS)):
        assert (copy / name).read_bytes() == (fixed_run / name).read_bytes(), name
    assert str(fixed_run) not in (fixed_run / "card.html").read_text()


def test_card_renders_in_headless_chromium(fixed_run):  # noqa: F811
    exe = chromium()
    if not exe:
        pytest.skip("chromium is not installed (apt-get install -y chromium; .ci/run does it)")
    with tempfile.TemporaryDirectory(prefix="tracemill-chromium-") as profile:
        res = subprocess.run([exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--window-size=1280,2000",
                              "--dump-dom", (fixed_run / "card.html").as_uri()],
                             check=False, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    dom = res.stdout
    # The page's own script counted plots and tables with a non-empty layout box.
    body = re.search(r"<body([^>]*)>", dom).group(1)
    plots = int(re.search(r'data-rendered-plots="(\d+)"', body).group(1))
    tables = int(re.search(r'data-rendered-tables="(\d+)"', body).group(1))
    assert plots == len(card.PLOTS)
    non_empty = [r for r in audit.run_all(audit.connect(str(fixed_run))) if r.rows]
    assert tables >= len(non_empty) + 4  # audits with rows + inputs, outputs, counts, examples
    for p, _ in card.PLOTS:
        assert f'id="plot-{p}"' in dom
    # the reconciliation table rendered with ok=true for both sources
    recon = re.search(r'data-audit="reconciliation".*?</table>', dom, re.DOTALL).group(0)
    assert recon.count('class="ok">true<') == 2
    # axis labels are text inside the inline SVG (svg.fonttype none), so the plots carry real data
    assert "tokens per example" in dom and "cluster size" in dom
    sft = read_output(fixed_run, "sft")
    assert f"sft (n={len(sft)})" in dom
