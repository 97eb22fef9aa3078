"""Chunking: paragraph-aligned chunks of a document, a few of them spread evenly over it.

A chunk is what one candidate is written from. At most `max_chunks_per_document` chunks go on, so a 5 MB document
is never sent whole; the full text is dropped once chunked (chunks carry what later stages need).
"""

from __future__ import annotations

import re

from pydantic import Field

from operators.stage import StageConfig, StageContext, stage
from operators.state import Chunk, DocumentState

NAME = "chunking"


class ChunkingConfig(StageConfig):
    chunk_chars: int = Field(2000, ge=200)
    max_chunks_per_document: int = Field(2, ge=1)


def _paragraphs(text: str) -> list[tuple[int, int]]:
    """Spans of the non-blank paragraphs (separated by blank lines), whitespace trimmed."""
    out, pos = [], 0
    for sep in list(re.finditer(r"\n[ \t\r\f\v]*\n\s*", text)) + [None]:
        end = sep.start() if sep else len(text)
        s, e = pos, end
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            out.append((s, e))
        pos = sep.end() if sep else len(text)
    return out


def chunk_text(text: str, chunk_chars: int, max_chunks: int) -> list[Chunk]:
    """Paragraph-aligned chunks of at most `chunk_chars` (a longer paragraph is cut at sentence ends or hard),
    then at most `max_chunks` of them taken evenly from start to end."""
    spans: list[tuple[int, int]] = []
    for start, end in _paragraphs(text):
        while end - start > chunk_chars:
            cut = text.rfind(". ", start, start + chunk_chars)
            cut = cut + 1 if cut > start + chunk_chars // 2 else start + chunk_chars
            spans.append((start, cut))
            start = cut
            while start < end and text[start].isspace():
                start += 1
        if end > start:
            spans.append((start, end))
    merged: list[tuple[int, int]] = []
    for s, e in spans:
        if merged and e - merged[-1][0] <= chunk_chars:
            merged[-1] = (merged[-1][0], e)
        else:
            merged.append((s, e))
    if len(merged) > max_chunks:
        step = len(merged) / max_chunks
        merged = [merged[int(i * step)] for i in range(max_chunks)]
    return [Chunk(index=i, start=s, end=e, text=text[s:e]) for i, (s, e) in enumerate(merged)]


def run(docs: list[DocumentState], ctx: StageContext) -> None:
    for doc in docs:
        if doc.alive and doc.text is not None:
            doc.chunks = chunk_text(doc.text, ctx.conf.chunk_chars, ctx.conf.max_chunks_per_document)
            if not doc.chunks:
                doc.record(NAME, False, "no text to chunk")
        doc.text = None  # never ship the whole document on


STAGE = stage(NAME, run, "paragraph-aligned chunks, a few spread over the document",
              reads=["document.text"], writes=["document.chunks"], config=ChunkingConfig, optional=False)
