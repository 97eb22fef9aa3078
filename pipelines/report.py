"""`ares report OUTPUT`: one self-contained HTML file about a job's output, built from its parquet files and
summary.json with pyarrow.

It shows the summary's counts, instances per domain and split, the funnel of documents and candidates through every
stage (pass rates, top reject reasons), criteria per instance, the weight distribution with the share of negative
criteria, persona variety, and a few accepted and rejected examples. Plots are matplotlib PNGs embedded as data
URIs, so the file opens anywhere, offline.

The funnel comes from each row's `verdicts` (a candidate's) or `document_verdicts` (a document that produced no
candidate): a stage's name is its verdict name, and a stage's verdicts follow those of the stages before it, so a
verdict name two stages record (`quota`: plan and admission) is given to the right one by walking the flow in order.
"""

from __future__ import annotations

import base64
import io
import re
import statistics
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from operators.stage import Stage
from pipelines.output_reader import JobOutput

TEMPLATE = Path(__file__).parent / "templates" / "report.html"
TOP_REASONS = 3


# -- the funnel ---------------------------------------------------------------------------------------------------------
def _positions(flow: list[Stage]) -> dict[str, list[int]]:
    pos: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(flow):
        for v in s.verdict_names:
            pos[v].append(i)
    return pos


def walk(verdicts: list[dict], positions: dict[str, list[int]], start: int = 0) -> tuple[list[int], int | None]:
    """(flow positions of the stages that recorded these verdicts, position of the first failing one or None)."""
    cur, seen, failed = start, [], None
    for v in verdicts or []:
        later = [i for i in positions.get(v["stage"], []) if i >= cur]
        if not later:
            continue
        cur = later[0]
        seen.append(cur)
        if not v["passed"] and failed is None:
            failed = cur
    return seen, failed


def normalise_reason(reason: str | None) -> str:
    """A reject reason with its particulars (numbers, ids, quoted text) blanked, so that alike reasons count
    together."""
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", reason or "(no reason)")
    text = re.sub(r"[\w.-]*\d[\w.-]*", "N", text)  # numbers and ids
    text = " ".join(text.split())
    return text if len(text) <= 140 else text[:139] + "…"


def funnel(out: JobOutput, flow: list[Stage]) -> dict[str, Any]:
    """Per stage: rows in, rejected, out and pass rate, for documents (up to the stage that makes candidates) and
    for candidates (from it on), with the top reject reasons; plus rejects no stage of the flow claims."""
    positions = _positions(flow)
    maker = next(i for i, s in enumerate(flow) if "document.candidates" in s.writes)
    end = len(flow)
    cols = ["record_key", "unit", "status", "reject_stage", "reject_reason", "verdicts", "document_verdicts"]
    rows = out.rows(cols)
    seen: set[int] = {i for i, s in enumerate(flow) if not s.optional}
    cand_pos: list[int] = []
    cand_reasons: dict[int, Counter] = defaultdict(Counter)
    other: Counter = Counter()
    docs_with_candidates: set[str] = set()
    doc_pos: dict[str, int] = {}
    doc_reasons: dict[int, Counter] = defaultdict(Counter)
    for r in rows.to_pylist():
        if r["unit"] == "candidate":
            docs_with_candidates.add(r["record_key"])
            stages, failed = walk(r["verdicts"], positions, maker)
            seen.update(stages)
            seen.update(walk(r["document_verdicts"], positions)[0])
            if r["status"] == "accepted":
                cand_pos.append(end)
                continue
            if failed is None and r["reject_stage"] in positions:
                failed = positions[r["reject_stage"]][-1]
            if failed is None:
                other[r["reject_stage"] or "(none)"] += 1
                cand_pos.append(-1)
                continue
            cand_pos.append(failed)
            cand_reasons[failed][normalise_reason(r["reject_reason"])] += 1
        else:
            stages, failed = walk(r["document_verdicts"], positions)
            seen.update(stages)
            if failed is None and r["reject_stage"] in positions:
                failed = positions[r["reject_stage"]][0]
            doc_pos[r["record_key"]] = end if failed is None else failed
            if failed is not None:
                doc_reasons[failed][normalise_reason(r["reject_reason"])] += 1
    for key in docs_with_candidates:
        doc_pos.setdefault(key, end)

    def table(positions_of_rows: list[int], reasons: dict[int, Counter], stage_range: range, unit: str) -> list[dict]:
        out_rows = []
        for i in stage_range:
            if i not in seen:
                continue
            reached = sum(1 for p in positions_of_rows if p >= i)
            rejected = sum(1 for p in positions_of_rows if p == i)
            out_rows.append({
                "stage": flow[i].name, "doc": flow[i].doc, "unit": unit, "in": reached, "rejected": rejected,
                "out": reached - rejected,
                "pass_rate": None if reached == 0 else round((reached - rejected) / reached, 4),
                "top_reasons": reasons[i].most_common(TOP_REASONS),
            })
        return out_rows

    documents = table(list(doc_pos.values()), doc_reasons, range(0, maker + 1), "documents")
    if documents and documents[-1]["stage"] == flow[maker].name:
        documents[-1]["out_candidates"] = len(cand_pos)
    candidates = table([p for p in cand_pos if p >= 0], cand_reasons, range(maker, end), "candidates")
    return {"documents": documents, "candidates": candidates, "unassigned": dict(other),
            "candidates_total": len(cand_pos), "documents_total": len(doc_pos)}


# -- the other figures --------------------------------------------------------------------------------------------------
def _counts(column: pa.ChunkedArray) -> dict[str, int]:
    vc = pc.value_counts(column)
    return {str(v["values"]): int(v["counts"]) for v in vc.to_pylist()}


def dataset_figures(out: JobOutput) -> dict[str, Any]:
    acc = out.table("accepted", ["domain", "split", "persona", "rubric"])
    by = {}
    if len(acc):
        grouped = acc.group_by(["domain", "split"]).aggregate([([], "count_all")])
        for r in grouped.to_pylist():
            by.setdefault(r["domain"], {})[r["split"]] = r["count_all"]
    splits = sorted({s for d in by.values() for s in d}, key=lambda s: ("train", "validation", "test").index(s)
                    if s in ("train", "validation", "test") else 9)
    n_criteria = pc.list_value_length(acc.column("rubric")).to_pylist() if len(acc) else []
    weights = pc.struct_field(pc.list_flatten(acc.column("rubric")), "weight").to_pylist() if len(acc) else []
    personas = Counter(acc.column("persona").to_pylist())
    per_domain_personas = {}
    for domain, group in _group_rows(acc, "domain").items():
        per_domain_personas[domain] = len(set(group))
    return {
        "domain_split": by, "splits": splits,
        "criteria": {
            "histogram": dict(sorted(Counter(n_criteria).items())),
            "mean": round(statistics.fmean(n_criteria), 2) if n_criteria else None,
            "median": statistics.median(n_criteria) if n_criteria else None,
            "total": len(weights),
        },
        "weights": {
            "histogram": dict(sorted(Counter(weights).items())),
            "negative": sum(1 for w in weights if w < 0),
            "negative_share": round(sum(1 for w in weights if w < 0) / len(weights), 4) if weights else None,
        },
        "personas": {
            "distinct": len(personas), "instances": len(acc),
            "distinct_share": round(len(personas) / len(acc), 4) if len(acc) else None,
            "top": personas.most_common(10), "per_domain": dict(sorted(per_domain_personas.items())),
        },
    }


def _group_rows(table: pa.Table, key: str) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = defaultdict(list)
    for k, persona in zip(table.column(key).to_pylist(), table.column("persona").to_pylist()):
        groups[k].append(persona)
    return groups


def _one_per_value_first(rows: list[dict], key: str) -> list[str]:
    """Candidate ids ordered so that the first row of each value of `key` comes first, then the rest in order."""
    firsts, seen = [], set()
    for r in rows:
        if r[key] not in seen:
            firsts.append(r["candidate_id"])
            seen.add(r[key])
    first_set = set(firsts)
    return firsts + [r["candidate_id"] for r in rows if r["candidate_id"] not in first_set]


def examples(out: JobOutput, n: int) -> dict[str, list[dict]]:
    """Up to n accepted instances (one per domain first) and n rejected candidates (one per rejecting stage first,
    those with a question preferred)."""
    import pyarrow.dataset as pads

    picked = _one_per_value_first(out.table("accepted", ["candidate_id", "domain"]).to_pylist(), "domain")
    rej = out.table("rejected", ["candidate_id", "unit", "reject_stage", "question"]).to_pylist()
    rej = [r for r in rej if r["unit"] == "candidate"]
    rej.sort(key=lambda r: r["question"] is None)
    chosen = _one_per_value_first(rej, "reject_stage")

    def load(status: str, ids: list[str]) -> list[dict]:
        if not ids:
            return []
        rows = out.table(status, None, pads.field("candidate_id").isin(ids)).to_pylist()
        order = {cid: i for i, cid in enumerate(ids)}
        return sorted(rows, key=lambda r: order[r["candidate_id"]])

    return {"accepted": load("accepted", picked[:n]), "rejected": load("rejected", chosen[:n])}


# -- plots --------------------------------------------------------------------------------------------------------------
def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def plots(data: dict[str, Any]) -> dict[str, str]:
    from matplotlib.figure import Figure

    figs: dict[str, str] = {}
    cand = data["funnel"]["candidates"]
    if cand:
        fig = Figure(figsize=(8, 0.45 * len(cand) + 1))
        ax = fig.add_subplot()
        names = [r["stage"] for r in cand][::-1]
        ax.barh(names, [r["in"] for r in cand][::-1], color="#c9d6e8", label="in")
        ax.barh(names, [r["out"] for r in cand][::-1], color="#3b6ea8", label="passed")
        ax.set_xlabel("candidates")
        ax.legend(loc="lower right")
        ax.set_title("Candidates through the stages")
        figs["funnel"] = _png(fig)
    by, splits = data["figures"]["domain_split"], data["figures"]["splits"]
    if by:
        fig = Figure(figsize=(8, 0.45 * len(by) + 1))
        ax = fig.add_subplot()
        domains = sorted(by)[::-1]
        left = [0] * len(domains)
        for split, color in zip(splits, ("#3b6ea8", "#e39b3b", "#6aa84f", "#999999")):
            vals = [by[d].get(split, 0) for d in domains]
            ax.barh(domains, vals, left=left, color=color, label=split)
            left = [a + b for a, b in zip(left, vals)]
        ax.set_xlabel("accepted instances")
        ax.legend(loc="lower right")
        ax.set_title("Instances per domain and split")
        figs["domains"] = _png(fig)
    hist = data["figures"]["criteria"]["histogram"]
    if hist:
        fig = Figure(figsize=(6, 3))
        ax = fig.add_subplot()
        ax.bar([str(k) for k in hist], list(hist.values()), color="#3b6ea8")
        ax.set_xlabel("criteria per instance")
        ax.set_ylabel("instances")
        ax.set_title("Criteria per instance")
        figs["criteria"] = _png(fig)
    whist = data["figures"]["weights"]["histogram"]
    if whist:
        fig = Figure(figsize=(6, 3))
        ax = fig.add_subplot()
        ax.bar([str(k) for k in whist], list(whist.values()),
               color=["#c0504d" if k < 0 else "#3b6ea8" for k in whist])
        ax.set_xlabel("weight")
        ax.set_ylabel("criteria")
        ax.set_title("Criterion weights (red: negative)")
        figs["weights"] = _png(fig)
    return figs


# -- the page -----------------------------------------------------------------------------------------------------------
def report_data(out: JobOutput, flow: list[Stage], n_examples: int = 3) -> dict[str, Any]:
    from operators import output as output_rows

    summary = out.summary
    summary_source = "summary.json"
    if summary is None:  # a job still running or killed: count what is written
        summary = output_rows.summarize(out.rows(["record_key", "unit", "candidate_id", "reject_stage", "domain",
                                                  "split", "errored", "status"]))
        summary_source = "the parquet files (no summary.json yet)"
    data = {"output": out.path, "summary": summary, "summary_source": summary_source,
            "funnel": funnel(out, flow), "figures": dataset_figures(out),
            "examples": examples(out, n_examples)}
    f = data["funnel"]
    by_verdict: Counter = Counter()
    for r in out.table("rejected", ["unit", "reject_stage"]).to_pylist():
        if r["unit"] == "candidate":
            by_verdict[r["reject_stage"]] += 1
    data["consistent"] = (f["candidates_total"] == summary.get("candidates") and
                          dict(by_verdict) == summary.get("rejected_by_stage", {}))
    data["plots"] = plots(data)
    return data


def render(data: dict[str, Any]) -> str:
    from jinja2 import Environment, StrictUndefined

    env = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["pct"] = lambda v: "-" if v is None else f"{100 * v:.1f}%"
    return env.from_string(TEMPLATE.read_text(encoding="utf-8")).render(**data)


def write_report(out: JobOutput, destination: str, flow: list[Stage], n_examples: int = 3) -> str:
    """Write the HTML report to `destination` (local path or s3://, through the output's storage settings)."""
    from operators import storage

    html = render(report_data(out, flow, n_examples))
    fs = storage.arrow_filesystem(destination, out.storage)
    path = storage.strip_scheme(destination)
    if not storage.is_s3(destination):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    with fs.open_output_stream(path) as f:
        f.write(html.encode("utf-8"))
    return destination
