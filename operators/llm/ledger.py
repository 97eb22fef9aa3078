"""The token ledger: what each engine call cost, charged to the document or candidate it was made for.

A call's usage travels with its document (`DocumentState.usage`, `Candidate.usage`, per stage) and is written with
its output row, so the ledger in summary.json is read from the committed output: exact after a resume (a killed
attempt's calls for rows never written are not counted twice, nor at all), and per accepted instance.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

from pydantic import BaseModel

FIELDS = ("calls", "prompt_tokens", "cached_prompt_tokens", "output_tokens", "seconds")


class Usage(BaseModel):
    calls: int = 0
    prompt_tokens: int = 0
    cached_prompt_tokens: int = 0  # of prompt_tokens, served from vLLM's prefix cache
    output_tokens: int = 0
    seconds: float = 0.0  # wall time of the stage's engine calls, shared evenly among the calls of one batch

    def add(self, result: Any) -> None:
        """Add an `LLMResult`'s cost."""
        self.calls += result.attempts
        self.prompt_tokens += result.prompt_tokens
        self.cached_prompt_tokens += result.cached_prompt_tokens
        self.output_tokens += result.output_tokens
        self.seconds += result.seconds


def charge(requests: Sequence[Any], results: Iterable[Any]) -> None:
    """Charge each result to its request's owner (a document or candidate), under the request's stage."""
    for req, res in zip(requests, results):
        if req.owner is not None:
            req.owner.usage.setdefault(req.stage, Usage()).add(res)
