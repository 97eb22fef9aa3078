"""The one pattern every LLM stage shares: render a prompt per item, send all of a batch at once, pair results.

Each call is charged to the item it was made for (the token ledger): a document, a candidate, or for a tuple such as
(document, candidate) its last element."""

from __future__ import annotations

from typing import Any, Callable, Sequence, TypeVar

from pydantic import BaseModel

from operators.llm.client import LLMRequest, LLMResult
from operators.llm.ledger import charge
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
    schema: dict[str, Any] | None = None,
    template: str | None = None,
    sampling: SamplingConfig | None = None,
) -> list[tuple[T, LLMResult]]:
    """One batched engine call for `items`: `values(item)` fills the template (the stage's own by default), the
    stage's sampling applies unless another is given."""
    if not items:
        return []
    if ctx.llm is None:
        raise RuntimeError(f"stage {ctx.stage} needs an engine but its operator has none")
    params = sampling or ctx.conf.sampling
    name = template or ctx.stage
    requests = [
        LLMRequest(render(name, ctx.prompts_dir, **values(item)), output, params, schema, stage=ctx.stage,
                   owner=owner_of(item))
        for item in items
    ]
    results = ctx.llm.run(requests)
    charge(requests, results)
    return list(zip(items, results))


def owner_of(item: Any) -> Any:
    """What a call for `item` is charged to: the item, or a tuple's last element (the candidate of (doc, cand))."""
    owner = item[-1] if isinstance(item, tuple) else item
    return owner if hasattr(owner, "usage") else None


def llm_failure(what: str, result: LLMResult) -> str:
    tries = f" after {result.attempts} attempts" if result.attempts > 1 else ""
    return f"{what} output unusable{tries}: {result.error}"
