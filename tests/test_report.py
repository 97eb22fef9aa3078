"""`ares report`: the funnel from the verdict columns, and the HTML page rendered in headless Chromium with the
numbers on it matching summary.json."""

from __future__ import annotations

import base64
import io
import shutil
import subprocess
from html.parser import HTMLParser

import pyarrow.parquet as pq
import pytest

from operators.output import OUTPUT_SCHEMA, to_table
from pipelines.ares import FLOW
from pipelines.output_reader import JobOutput
from pipelines.report import funnel
from tests.conftest import ARES, REPO


def _row(**kw):
    row = {name: None for name in OUTPUT_SCHEMA.names}
    row.update({"unit": "candidate", "verdicts": [], "document_verdicts": [], "errored": False, **kw})
    return row


def _v(stage, passed=True, reason="ok"):
    return {"stage": stage, "passed": passed, "reason": reason, "score": None}


def test_funnel_walks_verdicts_in_flow_order(tmp_path):
    """`quota` is recorded by plan (a candidate refused at birth) and by admission: each goes to its own stage."""
    through = [_v(s) for s in ("synthesis", "rubric_checks", "self_containment", "faithfulness", "leakage",
                               "rubric_judge", "discriminativeness")]
    accepted = [_row(record_key=f"f#{i}", candidate_id=f"a{i}", status="accepted", verdicts=through + [_v("admission")])
                for i in range(3)]
    rejected = [
        _row(record_key="f#3", candidate_id="r1", status="rejected", reject_stage="quota",
             reject_reason="quota of 2 accepted instances for domain 'Math' is met",
             verdicts=[_v("quota", False, "quota of 2 accepted instances for domain 'Math' is met")]),
        _row(record_key="f#3", candidate_id="r2", status="rejected", reject_stage="quota",
             reject_reason="quota of 2 accepted instances for domain 'Math' is met",
             verdicts=through + [_v("quota", False, "quota of 2 accepted instances for domain 'Math' is met")]),
        _row(record_key="f#4", candidate_id="r3", status="rejected", reject_stage="faithfulness",
             reject_reason="no: claim 1 unsupported",
             verdicts=through[:3] + [_v("faithfulness", False, "no: claim 1 unsupported")]),
        _row(record_key="f#5", candidate_id="doc-f#5", unit="document", status="rejected", reject_stage="read",
             reject_reason="f row 5: invalid JSON"),
        _row(record_key="f#6", candidate_id="doc-f#6", unit="document", status="rejected",
             reject_stage="document_filter", reject_reason="too short: 12 characters",
             document_verdicts=[_v("document_filter", False, "too short: 12 characters")]),
    ]
    for status, rows in (("accepted", accepted), ("rejected", rejected)):
        (tmp_path / status).mkdir()
        pq.write_table(to_table(rows).drop(["status"]), tmp_path / status / "part-0.parquet")
    f = funnel(JobOutput(str(tmp_path)), FLOW)
    cand = {r["stage"]: r for r in f["candidates"]}
    assert (cand["plan"]["in"], cand["plan"]["rejected"]) == (6, 1)
    assert (cand["synthesis"]["in"], cand["faithfulness"]["in"], cand["faithfulness"]["rejected"]) == (5, 5, 1)
    assert (cand["admission"]["in"], cand["admission"]["rejected"], cand["admission"]["out"]) == (4, 1, 3)
    assert cand["admission"]["top_reasons"] == [("quota of N accepted instances for domain '…' is met", 1)]
    assert "contamination" not in cand  # no row shows it ran (switched off here)
    docs = {r["stage"]: r for r in f["documents"]}
    assert (docs["ingest"]["in"], docs["ingest"]["rejected"]) == (7, 1)  # the read error belongs to ingest
    assert (docs["document_filter"]["in"], docs["document_filter"]["rejected"]) == (6, 1)
    assert docs["plan"]["out_candidates"] == 6


class _Marked(HTMLParser):
    """The text of every element with a data-summary / data-field attribute, as the browser's DOM holds it."""

    def __init__(self):
        super().__init__()
        self.summary, self.funnel, self.images = {}, {}, []
        self._open: list[tuple[str, str]] = []
        self._row = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.images.append(a.get("src", ""))
        if tag == "tr" and "data-funnel" in a:
            self._row = (a["data-funnel"], a["data-stage"])
        if "data-summary" in a:
            self._open.append(("summary", a["data-summary"]))
        elif "data-field" in a and self._row:
            self._open.append(("funnel", f"{self._row[0]}.{self._row[1]}.{a['data-field']}"))
        else:
            self._open.append(("", ""))

    def handle_endtag(self, tag):
        if self._open:
            self._open.pop()

    def handle_data(self, data):
        for kind, key in self._open:
            if kind == "summary":
                self.summary[key] = self.summary.get(key, "") + data.strip()
            elif kind == "funnel":
                self.funnel[key] = self.funnel.get(key, "") + data.strip()


@pytest.mark.e2e
def test_report_renders_in_chromium_with_the_summary_numbers(scripted_run, tmp_path):
    from PIL import Image

    out, _, summary = scripted_run
    html = tmp_path / "report.html"
    proc = subprocess.run(ARES + ["report", str(out), "--out", str(html)], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == f"report: {html}"
    text = html.read_text()
    assert "http://" not in text and "https://" not in text and "src=\"data:image/png;base64," in text  # standalone

    chromium = shutil.which("chromium")
    assert chromium, "chromium is missing: `make test` installs it (apt-get install chromium)"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1200,3000"]
    shot = tmp_path / "report.png"
    run = subprocess.run([chromium, *flags, f"--screenshot={shot}", html.as_uri()], capture_output=True, timeout=120)
    assert shot.exists(), run.stderr[-2000:]
    img = Image.open(shot).convert("L")
    assert img.size == (1200, 3000)
    lo, hi = img.getextrema()
    assert hi - lo > 100  # text and plots drawn, not a blank page
    dom = subprocess.run([chromium, *flags, "--dump-dom", html.as_uri()], capture_output=True, text=True,
                         timeout=120).stdout
    marked = _Marked()
    marked.feed(dom)

    for key in ("documents_read", "documents_rejected_before_candidates", "candidates", "accepted", "rejected"):
        assert marked.summary[key] == str(summary[key]), key
    assert marked.summary["acceptance_rate"] == f"{100 * summary['acceptance_rate']:.1f}%"
    for group in ("rejected_by_stage", "accepted_by_domain", "accepted_by_split"):
        shown = {k.split(".", 1)[1]: int(v) for k, v in marked.summary.items() if k.startswith(group + ".")}
        assert shown == summary[group], group
    # the funnel, counted from the verdict columns, agrees with summary.json's counts from reject_stage
    cand = {k.split(".")[1]: int(v) for k, v in marked.funnel.items() if k.startswith("candidates.")
            and k.endswith(".rejected")}
    assert sum(cand.values()) == summary["rejected"]
    assert int(marked.funnel["candidates.plan.in"]) == summary["candidates"]
    assert int(marked.funnel["candidates.admission.out"]) == summary["accepted"]
    assert int(marked.funnel["documents.ingest.in"]) == summary["documents_read"]
    assert "differs from summary.json" not in dom
    # every plot is a PNG that decodes
    assert len(marked.images) == 4
    for src in marked.images:
        Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).verify()
