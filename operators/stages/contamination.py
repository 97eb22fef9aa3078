"""Contamination: drop instances whose question overlaps (word n-grams) with evaluation sets the user lists."""

from __future__ import annotations

import json
from functools import lru_cache

import fsspec
from pydantic import Field

from operators.stage import StageConfig, StageContext, stage
from operators.state import DocumentState
from operators.text import ngrams

NAME = "contamination"


class ContaminationConfig(StageConfig):
    eval_files: list[str] = Field(default_factory=list, description="JSONL files of evaluation items ({text}).")
    text_field: str = "text"
    ngram: int = Field(8, ge=3)
    max_overlap: float = Field(0.2, ge=0, le=1, description="Share of a question's n-grams found in an eval item.")


@lru_cache(maxsize=4)
def eval_index(files: tuple[str, ...], field: str, n: int) -> frozenset[str]:
    """All n-grams of the evaluation items; a bad line is an error naming the file and line."""
    grams: set[str] = set()
    for path in files:
        with fsspec.open(path, "rt", encoding="utf-8", compression="infer") as f:
            for line_no, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    text = json.loads(line)[field]
                except (ValueError, KeyError, TypeError) as exc:
                    raise ValueError(f"eval file {path} line {line_no}: no {field!r} text ({exc})") from None
                grams |= ngrams(str(text), n)
    return frozenset(grams)


def overlap(question: str, index: frozenset[str], n: int) -> float:
    grams = ngrams(question, n)
    return len(grams & index) / len(grams) if grams else 0.0


def check(question: str, cfg: ContaminationConfig) -> tuple[bool, str]:
    index = eval_index(tuple(cfg.eval_files), cfg.text_field, cfg.ngram)
    share = overlap(question, index, cfg.ngram)
    ok = share <= cfg.max_overlap
    return ok, f"{share:.0%} of the question's {cfg.ngram}-grams occur in the evaluation sets (max {cfg.max_overlap:.0%})"


def run(docs: list[DocumentState], ctx: StageContext) -> None:
    if not ctx.conf.eval_files:
        return
    for doc in docs:
        for cand in doc.live_candidates():
            ok, reason = check(cand.question or "", ctx.conf)
            cand.record(NAME, ok, reason)


STAGE = stage(NAME, run, "n-gram overlap with the evaluation sets listed",
              reads=["candidate.question", "candidate.reference_answer"], config=ContaminationConfig)
