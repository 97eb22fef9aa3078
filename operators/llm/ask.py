"""The one pattern every LLM stage shares: render a prompt per item, send all of a batch at once, pair results."""

from __future__ import annotations

from typing import Any, Callable, Sequence, TypeVar

from pydantic import BaseModel

from operators.llm.client import LLMRequest, LLMResult
from operators.llm.sampling import SamplingConfig
from operators.stage import StageContext
from operators.templates import render

T = TypeVar("T")


def ask(
    ctx: StageContext,
    items: Sequence[T],
    values: Callable[[T], dict[str, Any]],
    output: type[BaseModel],
    *,
    schema: dict[str, Any] | Callable[[T], dict[str, Any]] | None = None,
    template: str | None = None,
    sampling: SamplingConfig | None = None,
) -> list[tuple[T, LLMResult]]:
    """One batched engine call for `items`: `values(item)` fills the template (the stage's own by default), the
    stage's sampling applies unless another is given; `schema` is one JSON schema or a function of the item."""
    if not items:
        return []
    if ctx.llm is None:
        raise RuntimeError(f"stage {ctx.stage} needs an engine but its operator has none")
    params = sampling or ctx.conf.sampling
    name = template or ctx.stage
    schema_of = schema if callable(schema) else (lambda _: schema)
    requests = [
        LLMRequest(render(name, ctx.prompts_dir, **values(item)), output, params, schema_of(item), stage=ctx.stage)
        for item in items
    ]
    return list(zip(items, ctx.llm.run(requests)))


def llm_failure(what: str, result: LLMResult) -> str:
    tries = f" after {result.attempts} attempts" if result.attempts > 1 else ""
    return f"{what} output unusable{tries}: {result.error}"
