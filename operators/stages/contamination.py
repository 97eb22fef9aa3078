"""Contamination: keep evaluation items out of the data, the way decontamination is usually done.

For each evaluation item, the share of *its* word n-grams that occur in the candidate (question and reference
answer together): an item pasted verbatim into a longer question still scores 100%, and a light paraphrase keeps
most of its n-grams. An item shorter than n words has no n-gram; it matches when its normalised text occurs in the
candidate's normalised text. The item with the highest share is named in the reason.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

import fsspec
from pydantic import Field

from operators.stage import StageConfig, StageContext, stage
from operators.state import DocumentState
from operators.text import ngrams, normalise

NAME = "contamination"


class ContaminationConfig(StageConfig):
    eval_files: list[str] = Field(default_factory=list, description="JSONL files of evaluation items ({text}).")
    text_field: str = "text"
    id_field: str = "id"
    ngram: int = Field(8, ge=3)
    max_overlap: float = Field(
        0.5, ge=0, lt=1, description="Share of an evaluation item's n-grams found in a candidate above which the "
                                     "candidate is contaminated.")


@dataclass(frozen=True)
class EvalIndex:
    n: int
    names: tuple[str, ...]  # "<file>#<line>" or the item's id
    sizes: tuple[int, ...]  # number of distinct n-grams of each long item
    postings: dict[str, tuple[int, ...]]  # n-gram -> the long items holding it
    short: tuple[tuple[str, str], ...]  # (name, normalised text) of items shorter than n words

    def worst(self, text: str) -> tuple[float, str | None]:
        """(share, item name) of the evaluation item that `text` holds most of."""
        hits: Counter[int] = Counter()
        for gram in ngrams(text, self.n):
            for item in self.postings.get(gram, ()):
                hits[item] += 1
        best, name = 0.0, None
        for item, count in hits.items():
            share = count / self.sizes[item]
            if share > best:
                best, name = share, self.names[item]
        padded = f" {normalise(text)} "
        for short_name, short_text in self.short:
            if f" {short_text} " in padded:
                return 1.0, short_name
        return best, name


@lru_cache(maxsize=4)
def eval_index(files: tuple[str, ...], field: str, id_field: str, n: int) -> EvalIndex:
    """The n-gram index of the evaluation items; a bad line is an error naming the file and line."""
    names: list[str] = []
    sizes: list[int] = []
    postings: dict[str, list[int]] = {}
    short: list[tuple[str, str]] = []
    for path in files:
        with fsspec.open(path, "rt", encoding="utf-8", compression="infer") as f:
            for line_no, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                    text = str(obj[field])
                except (ValueError, KeyError, TypeError) as exc:
                    raise ValueError(f"eval file {path} line {line_no}: no {field!r} text ({exc})") from None
                name = str(obj.get(id_field) or f"{path}#{line_no}")
                grams = ngrams(text, n)
                if grams:
                    for gram in grams:
                        postings.setdefault(gram, []).append(len(names))
                    names.append(name)
                    sizes.append(len(grams))
                elif normalise(text):
                    short.append((name, normalise(text)))
    return EvalIndex(n, tuple(names), tuple(sizes), {g: tuple(v) for g, v in postings.items()}, tuple(short))


def check(question: str, answer: str, cfg: ContaminationConfig) -> tuple[bool, str]:
    index = eval_index(tuple(cfg.eval_files), cfg.text_field, cfg.id_field, cfg.ngram)
    share, item = index.worst(f"{question}\n{answer}")
    if item is None:
        return True, f"no evaluation item shares a {cfg.ngram}-gram (max {cfg.max_overlap:.0%})"
    ok = share <= cfg.max_overlap
    return ok, (f"{share:.0%} of evaluation item {item}'s {cfg.ngram}-grams occur in the question and answer "
                f"(max {cfg.max_overlap:.0%})")


def run(docs: list[DocumentState], ctx: StageContext) -> None:
    if not ctx.conf.eval_files:
        return
    for doc in docs:
        for cand in doc.live_candidates():
            ok, reason = check(cand.question or "", cand.reference_answer or "", ctx.conf)
            cand.record(NAME, ok, reason)


STAGE = stage(NAME, run, "share of each evaluation item's n-grams found in the question and answer",
              reads=["candidate.question", "candidate.reference_answer"], config=ContaminationConfig)
