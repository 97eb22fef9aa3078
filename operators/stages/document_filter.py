"""Document filter: cheap quality heuristics run before any model sees a document.

A document that is too short, mostly symbols, repetitive, boilerplate, or that addresses a model (prompt
injection) is rejected with the measured value in its reason. Optional: with it off, every readable document goes
on to chunking.
"""

from __future__ import annotations

import re
from collections import Counter

from pydantic import Field

from operators.stage import StageConfig, StageContext, stage
from operators.state import DocumentState
from operators.text import words as text_words

NAME = "document_filter"

# Text that speaks to a model rather than to a reader: instructions to ignore instructions, chat-role markup,
# our own delimiters, planted verdict JSON. Documents are untrusted data; these are screened out before any model.
_INSTRUCTIONS = [
    re.compile(r"\b(ignore|disregard|forget)\s+(all\s+|any\s+|the\s+)?(previous|prior|above|earlier|preceding)"
               r"\s+(instructions|prompts?|directions|rules)", re.I),
    re.compile(r"<\s*/?\s*(document|system|assistant|user|im_start|im_end|question|answer|criterion)\s*>", re.I),
    re.compile(r"^\s*(system|assistant)(\s+prompt)?\s*:", re.I | re.M),
    re.compile(r"\"(verdict|criteria_met|informative|self_contained)\"\s*:", re.I),
    re.compile(r"\byou\s+are\s+(now\s+)?(an?|the)\s+(ai|assistant|language\s+model|chatbot|grader|judge)\b", re.I),
]


def heuristics(text: str, cfg: "DocumentFilterConfig") -> tuple[bool, str]:
    """(passed, reason) of the cheap checks, the first failing one named with its measured value."""
    n = len(text)
    if n < cfg.min_chars:
        return False, f"too short: {n} characters < {cfg.min_chars}"
    if cfg.reject_instructions:
        found = [m.group(0) for p in _INSTRUCTIONS if (m := p.search(text))]
        if found:
            return False, "instructions aimed at a model (prompt injection): " + "; ".join(repr(f[:40]) for f in found)
    non_space = [c for c in text if not c.isspace()]
    symbols = sum(1 for c in non_space if not c.isalnum())
    ratio = symbols / max(1, len(non_space))
    if ratio > cfg.max_symbol_ratio:
        return False, f"symbol ratio {ratio:.2f} > {cfg.max_symbol_ratio}"
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if len(lines) >= 4:
        dup = 1 - len(set(lines)) / len(lines)
        if dup > cfg.max_duplicate_line_ratio:
            return False, f"duplicate line ratio {dup:.2f} > {cfg.max_duplicate_line_ratio}"
    words = text_words(text)
    if not words:
        return False, "no words"
    mean_len = sum(map(len, words)) / len(words)
    if not (cfg.min_mean_word_length <= mean_len <= cfg.max_mean_word_length):
        return False, f"mean word length {mean_len:.1f} outside [{cfg.min_mean_word_length}, {cfg.max_mean_word_length}]"
    long_words = [w for w in words if len(w) > 3]
    if len(long_words) >= 20:
        top, count = Counter(long_words).most_common(1)[0]
        share = count / len(long_words)
        if share > cfg.max_top_word_ratio:
            return False, f"repetitive: {top!r} is {share:.0%} of words longer than 3 letters"
    lowered = text.lower()
    hits = [m for m in cfg.boilerplate_markers if m in lowered]
    if len(hits) > cfg.max_boilerplate_hits:
        return False, f"boilerplate markers: {', '.join(hits)}"
    return True, f"{n} characters, symbol ratio {ratio:.2f}, mean word length {mean_len:.1f}"


class DocumentFilterConfig(StageConfig):
    min_chars: int = Field(400, ge=0)
    max_symbol_ratio: float = Field(0.25, gt=0, le=1)
    max_duplicate_line_ratio: float = Field(0.3, gt=0, le=1)
    max_top_word_ratio: float = Field(0.2, gt=0, le=1)
    min_mean_word_length: float = Field(3.0, ge=0)
    max_mean_word_length: float = Field(12.0, gt=0)
    boilerplate_markers: list[str] = Field(
        default_factory=lambda: [
            "lorem ipsum",
            "all rights reserved",
            "cookie policy",
            "click here",
            "subscribe to our newsletter",
            "javascript is disabled",
        ]
    )
    max_boilerplate_hits: int = Field(1, ge=0)
    reject_instructions: bool = Field(
        True, description="Reject documents that address the model (prompt injection): bad data, and a risk."
    )


def run(docs: list[DocumentState], ctx: StageContext) -> None:
    for doc in docs:
        if doc.alive and doc.text is not None:
            passed, reason = heuristics(doc.text, ctx.conf)
            doc.record(NAME, passed, reason)


STAGE = stage(NAME, run, "length, symbol ratio, repeated lines and words, boilerplate, prompt injection",
              reads=["document.text"], config=DocumentFilterConfig)
