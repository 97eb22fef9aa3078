"""The one pattern every LLM stage shares: render a prompt per item, send all of a batch at once, pair results."""

from __future__ import annotations

from typing import Any, Callable, Sequence, TypeVar

from pydantic import BaseModel

from operators.context import StageContext
from operators.llm_engine import LLMRequest, LLMResult, sampling_from
from operators.prompts import render

T = TypeVar("T")


def ask(
    ctx: StageContext,
    stage: str,
    items: Sequence[T],
    template: str,
    values: Callable[[T], dict[str, Any]],
    output: type[BaseModel],
    schema: dict[str, Any] | None = None,
    sampling: Any = None,
) -> list[tuple[T, LLMResult]]:
    """One batched engine call for `items`; `values(item)` fills `template`."""
    if not items:
        return []
    if ctx.llm is None:
        raise RuntimeError(f"stage {stage} needs an engine but its operator has none")
    params = sampling_from(sampling or getattr(ctx.cfg.stages, stage).sampling)
    requests = [
        LLMRequest(render(template, ctx.prompts_dir, **values(item)), output, params, schema) for item in items
    ]
    return list(zip(items, ctx.llm.run(requests)))


def llm_failure(stage: str, result: LLMResult) -> str:
    tries = f" after {result.attempts} attempts" if result.attempts > 1 else ""
    return f"{stage} output unusable{tries}: {result.error}"
