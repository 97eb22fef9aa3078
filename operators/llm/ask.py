"""The one pattern every LLM stage shares: render a prompt per item, send all of a batch at once, pair results.

Each call is charged to the item it was made for (the token ledger): a document, a candidate, or for a tuple such as
(document, candidate) its last document or candidate."""

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
    output: type[BaseModel] | None | Callable[[T], type[BaseModel]],
    *,
    schema: dict[str, Any] | Callable[[T], dict[str, Any]] | None = None,
    template: str | None = None,
    sampling: SamplingConfig | None = None,
    messages: Callable[[T], list[dict[str, str]]] | None = None,
    suffix: Callable[[T], str] | None = None,
) -> list[tuple[T, LLMResult]]:
    """One batched engine call for `items`: `values(item)` fills the template (the stage's own by default), the
    stage's sampling applies unless another is given; `schema` is one JSON schema or a function of the item.
    `output=None` asks for free text (no grammar); `messages(item)` then may give the chat itself, no template.
    `output` may be a function of the item (a judge with flagged points answers a wider model); `suffix(item)` is
    appended to the last message (after the shared prefix: the flagged points a judge must rule on)."""
    if not items:
        return []
    if ctx.llm is None:
        raise RuntimeError(f"stage {ctx.stage} needs an engine but its operator has none")
    params = sampling or ctx.conf.sampling
    name = template or ctx.stage
    schema_of = schema if callable(schema) else (lambda _: schema)
    chat = messages or (lambda item: render(name, ctx.prompts_dir, **values(item)))
    output_of = output if callable(output) and not isinstance(output, type) else (lambda _: output)
    requests = [LLMRequest(_appended(chat(item), suffix(item) if suffix else ""), output_of(item), params,
                           schema_of(item), stage=ctx.stage, owner=owner_of(item))
                for item in items]
    results = ctx.llm.run(requests)
    charge(requests, results)
    return list(zip(items, results))


def _appended(messages: list[dict[str, str]], text: str) -> list[dict[str, str]]:
    if not text:
        return messages
    return [*messages[:-1], {**messages[-1], "content": messages[-1]["content"] + text}]


def owner_of(item: Any) -> Any:
    """What a call for `item` is charged to: the item, or in a tuple the last document or candidate (the candidate
    of (doc, cand), the document of (doc, chunk))."""
    parts = reversed(item) if isinstance(item, tuple) else (item,)
    return next((p for p in parts if hasattr(p, "usage")), None)


def llm_failure(what: str, result: LLMResult) -> str:
    tries = f" after {result.attempts} attempts" if result.attempts > 1 else ""
    return f"{what} output unusable{tries}: {result.error}"
