"""Contamination: keep evaluation items out of the data, robust to light paraphrase and to items stored with their
context.

Each evaluation item is cut into sentences, and each sentence of at least `min_content_words` content words is
compared on its own: the share of its word `ngram`-grams (stemmed, so a plural does not hide it) found in the
candidate's question and reference answer (at or above `max_overlap` is a match), provided the candidate also holds
`min_content_share` of the sentence's content words. Per sentence, because an item stored with its passage would otherwise dilute a
candidate that copies only its question; small n with a content-word floor, because two changed words in a 25-word
item wipe out most of its 8-grams but few of its trigrams, while a shared template ("What are the main causes of
... and how can they be reduced?") shares trigrams but not content. An item too short to compare that way ("Show
your work.") matches only a question that is the item itself, never every question that ends the same way.
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
from operators.text import content_words, grams, normalise, sentences, stems

NAME = "contamination"


class ContaminationConfig(StageConfig):
    eval_files: list[str] = Field(
        default_factory=list,
        description="JSONL files of evaluation items (one object per line with a text field) to keep out of the "
                    "data. Required while the stage is enabled: decontamination is never silently off.")
    text_field: str = Field("text", description="The field of an evaluation item that holds its text.")
    id_field: str = Field("id", description="The field naming an evaluation item in reasons (default: file#line).")
    ngram: int = Field(3, ge=2, description="Word n-gram size compared per sentence of an evaluation item.")
    max_overlap: float = Field(
        0.5, gt=0, le=1,
        description="A sentence of an evaluation item whose n-grams occur in a candidate at this share or more (>=), "
                    "with `min_content_share` of its content words, makes the candidate contaminated.")
    min_content_share: float = Field(
        0.7, gt=0, le=1,
        description="Share of an evaluation sentence's content words a candidate must hold for its n-gram share to "
                    "count: a shared frame with another subject ('A ladder 5 m long ...' / 'A plank 4 m long ...') "
                    "is not the item.")
    min_content_words: int = Field(
        5, ge=1, description="Content words a sentence needs to be compared by share; an item with fewer in all "
                             "matches only a question equal to it.")


def silently_off(cfg: ContaminationConfig) -> str | None:
    """Why this config would run the stage without checking anything (the job refuses it), or None."""
    if cfg.enabled and not cfg.eval_files:
        return ("stages.contamination.eval_files: the stage is enabled with no evaluation sets; list them (JSONL, one "
                "item per line with a text field) or set stages.contamination.enabled=false")
    return None


@dataclass(frozen=True)
class Segment:
    item: int  # index into EvalIndex.names
    size: int  # distinct n-grams
    content: frozenset[str]


@dataclass(frozen=True)
class EvalIndex:
    n: int
    names: tuple[str, ...]  # "<file>#<line>" or the item's id
    segments: tuple[Segment, ...]
    postings: dict[tuple[str, ...], tuple[int, ...]]  # n-gram -> segments holding it
    short: dict[str, str]  # normalised text of an item too short to compare by share -> its name
    per_file: tuple[tuple[str, int, int], ...]  # (file, items, short items)

    def worst(self, question: str, answer: str, threshold: float, content_share: float) -> tuple[float, str | None]:
        """(share, item name) of the evaluation sentence the candidate holds most of, among those at or over the
        n-gram threshold that also hold `content_share` of its content words; (best share seen, None) when none."""
        if (name := self.short.get(normalise(question))) is not None:
            return 1.0, name
        tokens = stems(f"{question}\n{answer}")
        have = content_words(tokens)
        hits: Counter[int] = Counter()
        for gram in grams(tokens, self.n):
            for seg in self.postings.get(gram, ()):
                hits[seg] += 1
        best, best_name, seen = 0.0, None, 0.0
        for seg_id, count in hits.items():
            seg = self.segments[seg_id]
            share = count / seg.size
            seen = max(seen, share)
            if share < threshold or share <= best:
                continue
            if len(seg.content & have) / len(seg.content) >= content_share:
                best, best_name = share, self.names[seg.item]
        return (best, best_name) if best_name else (seen, None)


@lru_cache(maxsize=4)
def eval_index(files: tuple[str, ...], field: str, id_field: str, n: int, min_content: int) -> EvalIndex:
    """The index of the evaluation items' sentences; a bad line is an error naming the file and line."""
    names: list[str] = []
    segments: list[Segment] = []
    postings: dict[tuple[str, ...], list[int]] = {}
    short: dict[str, str] = {}
    per_file = []
    for path in files:
        n_items = n_short = 0
        with fsspec.open(path, "rt", encoding="utf-8", compression="infer") as f:
            for line_no, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                    text = str(obj[field])
                except (ValueError, KeyError, TypeError) as exc:
                    raise ValueError(f"eval file {path} line {line_no}: no {field!r} text ({exc})") from None
                item = len(names)
                names.append(str(obj.get(id_field) or f"{path}#{line_no}"))
                n_items += 1
                if len(content_words(stems(text))) < min_content:
                    if normalise(text):
                        short[normalise(text)] = names[-1]
                        n_short += 1
                    continue
                for sentence in sentences(text):
                    tokens = stems(sentence)
                    content = content_words(tokens)
                    if len(content) < min_content:
                        continue
                    seg_grams = grams(tokens, n)
                    for gram in seg_grams:
                        postings.setdefault(gram, []).append(len(segments))
                    segments.append(Segment(item, len(seg_grams), frozenset(content)))
        per_file.append((path, n_items, n_short))
    return EvalIndex(n, tuple(names), tuple(segments), {g: tuple(v) for g, v in postings.items()}, short,
                     tuple(per_file))


def index_for(cfg: ContaminationConfig) -> EvalIndex:
    return eval_index(tuple(cfg.eval_files), cfg.text_field, cfg.id_field, cfg.ngram, cfg.min_content_words)


def eval_sets(cfg: ContaminationConfig) -> dict:
    """What a run is checked against, for the summary and the report (loads and checks every file)."""
    if not cfg.enabled:
        return {"enabled": False, "eval_sets": []}
    index = index_for(cfg)
    return {"enabled": True, "ngram": cfg.ngram, "max_overlap": cfg.max_overlap,
            "eval_sets": [{"path": p, "items": n, "short_items": s} for p, n, s in index.per_file]}


def check(question: str, answer: str, cfg: ContaminationConfig) -> tuple[bool, str]:
    share, item = index_for(cfg).worst(question, answer, cfg.max_overlap, cfg.min_content_share)
    if item is None:
        return True, (f"no evaluation sentence reaches {cfg.max_overlap:.0%} of its {cfg.ngram}-grams with "
                      f"{cfg.min_content_share:.0%} of its content words (highest n-gram share {share:.0%})")
    return False, (f"{share:.0%} of a sentence of evaluation item {item} occurs in the question and answer "
                   f"(limit {cfg.max_overlap:.0%} of its {cfg.ngram}-grams, with {cfg.min_content_share:.0%} of its "
                   f"content words)")


def run(docs: list[DocumentState], ctx: StageContext) -> None:
    for doc in docs:
        for cand in doc.live_candidates():
            ok, reason = check(cand.question or "", cand.reference_answer or "", ctx.conf)
            cand.record(NAME, ok, reason)


STAGE = stage(NAME, run, "each evaluation sentence's share of n-grams and content words found in the question and "
                         "answer; short items only by equality",
              reads=["candidate.question", "candidate.reference_answer"], config=ContaminationConfig)
