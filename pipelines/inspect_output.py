"""`ares inspect OUTPUT [--n N] [--domain D] [--rejected] [--stage S]`: instances printed readably in a terminal.

Accepted instances by default; `--rejected` shows rejected candidates (and documents that produced none) with the
stage and reason that rejected them; `--stage S` shows those rejected at stage S (a stage name, or a verdict name
such as `quota` or `read`) and implies `--rejected`.
"""

from __future__ import annotations

import shutil
import textwrap
from typing import Any

import pyarrow.dataset as pads

from operators.stage import Stage
from pipelines.output_reader import JobOutput


class InspectError(ValueError):
    """A filter that names nothing the output or the flow knows; one line."""


def stage_names(flow: list[Stage]) -> dict[str, set[str]]:
    """Each name `--stage` accepts -> the reject_stage values it selects."""
    names: dict[str, set[str]] = {"pipeline": {"pipeline"}}
    for s in flow:
        names[s.name] = set(s.verdict_names)
        for v in s.verdicts:
            names.setdefault(v, set()).add(v)
    return names


def select(out: JobOutput, flow: list[Stage], n: int, domain: str | None, rejected: bool,
           stage: str | None) -> tuple[list[dict[str, Any]], int]:
    """(up to n rows matching the filters, how many match in all)."""
    if stage is not None:
        known = stage_names(flow)
        if stage not in known:
            raise InspectError(f"unknown stage {stage!r} (stages and verdicts: {', '.join(sorted(known))})")
        rejected = True
    status = "rejected" if rejected else "accepted"
    expr = None
    if domain is not None:
        expr = pads.field("domain") == domain
    if stage is not None:
        cond = pads.field("reject_stage").isin(sorted(stage_names(flow)[stage]))
        expr = cond if expr is None else expr & cond
    rows, total = out.head(status, n, expr)
    if total == 0 and domain is not None:
        present = sorted(d for d in set(out.table(status, ["domain"]).column("domain").to_pylist()) if d)
        if domain not in present:
            raise InspectError(f"no {status} rows in domain {domain!r} (domains there: {', '.join(present) or 'none'})")
    return rows, total


def _wrap(text: str | None, width: int, indent: str = "  ") -> str:
    if not text:
        return indent + "(none)"
    paras = [textwrap.fill(p, width=width, initial_indent=indent, subsequent_indent=indent) for p in text.splitlines()]
    return "\n".join(p if p.strip() else "" for p in paras)


def format_row(r: dict[str, Any], i: int, total: int, width: int | None = None) -> str:
    width = width or min(100, shutil.get_terminal_size((100, 20)).columns)
    lines = []
    if r["unit"] == "document":
        head = f"[{i}/{total}] document {r['doc_id'] or '(no id)'} rejected at {r['reject_stage']}"
        lines += ["=" * min(width, max(len(head), 20)), head, f"source:   {r['record_key']}",
                  "reason:", _wrap(r["reject_reason"], width)]
        return "\n".join(lines)
    head = f"[{i}/{total}] {r['status']} · {r['domain']} · {r['split'] or '-'} · {r['candidate_id']}"
    chunk = f", chunk {r['chunk_index']}, characters {r['chunk_start']}-{r['chunk_end']}" \
        if r["chunk_start"] is not None else ""
    lines += ["=" * min(width, max(len(head), 20)), head, f"persona:  {r['persona']}",
              f"source:   {r['record_key']} (document {r['doc_id']}{chunk})"]
    if r["status"] == "rejected":
        lines += [f"rejected at {r['reject_stage']}:", _wrap(r["reject_reason"], width)]
    lines += ["question:", _wrap(r["question"], width), "reference answer:", _wrap(r["reference_answer"], width)]
    rubric = r["rubric"] or []
    if rubric:
        neg = sum(1 for c in rubric if c["weight"] < 0)
        pos = sum(c["weight"] for c in rubric if c["weight"] > 0)
        lines.append(f"rubric ({len(rubric)} criteria, {neg} negative; positive weights sum to {pos}):")
        for c in rubric:
            lines.append(textwrap.fill(c["criterion"], width=width, initial_indent=f"  {c['weight']:+d}  ",
                                       subsequent_indent=" " * 7))
    if r["reference_score"] is not None or r["flawed_score"] is not None:
        fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
        lines.append(f"scores:   reference {fmt(r['reference_score'])}, flawed answer {fmt(r['flawed_score'])}")
    lines.append("verdicts:")
    for v in r["verdicts"] or []:
        mark = "ok " if v["passed"] else "NO "
        lines.append("  " + textwrap.shorten(f"{mark} {v['stage']}: {v['reason']}", width=width - 2, placeholder=" …"))
    return "\n".join(lines)
