"""A vLLM engine that answers batches of chat requests with JSON-schema-constrained, validated outputs.

Every request of a batch goes to vLLM in one `LLM.chat` call, so the engine schedules them together and requests
that share a prefix (the document comes first in every prompt) reuse its KV cache. Outputs that do not validate are
retried up to `max_attempts` with a fresh seed, then returned as errors: the caller records them as rejects.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel

from operators.llm_parsing import parse_output

log = logging.getLogger(__name__)

Messages = list[dict[str, str]]


@dataclass
class Sampling:
    max_tokens: int = 512
    temperature: float = 0.7
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    seed: int | None = None
    max_attempts: int = 1


@dataclass
class LLMRequest:
    messages: Messages
    output: type[BaseModel]
    sampling: Sampling
    schema: dict[str, Any] | None = None  # a tighter JSON schema than output's own (enums, bounds from config)


@dataclass
class LLMResult:
    value: BaseModel | None
    error: str | None
    text: str = ""
    attempts: int = 1
    output_tokens: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class EngineFailure(RuntimeError):
    """The engine itself failed (not a request): the actor should die so Ray restarts it and retries the batch."""


class LLMClient(Protocol):
    model_name: str

    def run(self, requests: list[LLMRequest]) -> list[LLMResult]: ...


def sampling_from(cfg: Any) -> Sampling:
    """Build from a SamplingConfig (pydantic) without importing the pipelines package here."""
    return Sampling(**cfg.model_dump())


COMPACT_JSON_BACKENDS = ("xgrammar", "guidance")  # vLLM's structured-output backends that honour disable_any_whitespace


def compact_structured_outputs(given: dict[str, Any] | None) -> dict[str, Any]:
    """Engine-level grammar settings for compact JSON: no whitespace the model may spend tokens on.

    vLLM applies `disable_any_whitespace` from the engine's `structured_outputs_config` (the per-request flag has no
    effect, STACK.md), and only the xgrammar and guidance backends support it; xgrammar is chosen unless the
    user named one of the two."""
    cfg = dict(given or {})
    if cfg.get("backend") not in COMPACT_JSON_BACKENDS:
        cfg["backend"] = COMPACT_JSON_BACKENDS[0]
    cfg["disable_any_whitespace"] = True
    return cfg


class VLLMClient:
    """Owns one `vllm.LLM`; lives inside a Ray Data actor (one per pool member)."""

    def __init__(self, model: str, max_model_len: int, tensor_parallel_size: int = 1, compact_json: bool = True,
                 **engine_kwargs: Any):
        from vllm import LLM

        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # weights come from a local folder, never from a hub
        kwargs = dict(dtype="bfloat16", enable_prefix_caching=True)
        kwargs.update(engine_kwargs)
        if compact_json:
            kwargs["structured_outputs_config"] = compact_structured_outputs(kwargs.get("structured_outputs_config"))
        self.model_name = os.path.basename(model.rstrip("/"))
        self.llm = LLM(
            model=model, max_model_len=max_model_len, tensor_parallel_size=tensor_parallel_size, **kwargs
        )
        self.max_model_len = max_model_len
        self.tokenizer = self.llm.get_tokenizer()

    def _params(self, req: LLMRequest, attempt: int):
        from vllm import SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        seed = None if req.sampling.seed is None else req.sampling.seed + attempt
        schema = req.schema or req.output.model_json_schema()
        return SamplingParams(
            max_tokens=req.sampling.max_tokens,
            temperature=req.sampling.temperature,
            top_p=req.sampling.top_p,
            repetition_penalty=req.sampling.repetition_penalty,
            frequency_penalty=req.sampling.frequency_penalty,
            presence_penalty=req.sampling.presence_penalty,
            seed=seed,
            structured_outputs=StructuredOutputsParams(json=schema),
        )

    def _fits(self, req: LLMRequest) -> int:
        """Prompt tokens, so that an over-long prompt becomes a reject instead of an engine error."""
        ids = self.tokenizer.apply_chat_template(req.messages, add_generation_prompt=True, tokenize=True)
        if isinstance(ids, dict) or hasattr(ids, "input_ids"):  # transformers may return a BatchEncoding
            ids = ids["input_ids"]
        return len(ids)

    def run(self, requests: list[LLMRequest]) -> list[LLMResult]:
        results: list[LLMResult | None] = [None] * len(requests)
        pending = []
        for i, req in enumerate(requests):
            n_prompt = self._fits(req)
            if n_prompt + req.sampling.max_tokens > self.max_model_len:
                results[i] = LLMResult(
                    None,
                    f"prompt of {n_prompt} tokens + max_tokens {req.sampling.max_tokens} exceeds "
                    f"max_model_len {self.max_model_len}",
                )
            else:
                pending.append(i)
        attempt = 0
        while pending:
            try:
                outs = self.llm.chat(
                    [requests[i].messages for i in pending],
                    [self._params(requests[i], attempt) for i in pending],
                    use_tqdm=False,
                )
            except Exception as exc:
                raise EngineFailure(f"vLLM engine failed: {type(exc).__name__}: {exc}") from exc
            retry = []
            for i, out in zip(pending, outs):
                comp = out.outputs[0]
                value, error = parse_output(comp.text, comp.finish_reason, requests[i].output)
                prev = results[i]
                tokens = len(comp.token_ids) + (prev.output_tokens if prev else 0)
                results[i] = LLMResult(value, error, comp.text, attempt + 1, tokens)
                if error and attempt + 1 < requests[i].sampling.max_attempts:
                    retry.append(i)
            pending = retry
            attempt += 1
        return results  # type: ignore[return-value]
