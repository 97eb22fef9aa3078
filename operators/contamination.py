"""Contamination check: drop instances whose question overlaps (word n-grams) with evaluation sets the user lists."""

from __future__ import annotations

import json
from functools import lru_cache

import fsspec

from operators.rubric_checks import normalise

STAGE = "contamination"


def ngrams(text: str, n: int) -> set[str]:
    words = normalise(text).split()
    return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}


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


def check(question: str, cfg) -> tuple[bool, str]:
    index = eval_index(tuple(cfg.eval_files), cfg.text_field, cfg.ngram)
    share = overlap(question, index, cfg.ngram)
    ok = share <= cfg.max_overlap
    return ok, f"{share:.0%} of the question's {cfg.ngram}-grams occur in the evaluation sets (max {cfg.max_overlap:.0%})"
