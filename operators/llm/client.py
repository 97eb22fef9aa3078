"""A vLLM engine that answers chat requests with JSON-schema-constrained, validated outputs, and counts their tokens.

One `VLLMClient` owns one vLLM `AsyncLLM` (the engine core runs in its own process) driven by an event loop on a
thread of its own. `run(requests)` may be called from several threads at once (the runner keeps several batches of
documents in flight per actor): every request goes to the engine as soon as it is ready, so the engine never drains
while one batch parses its outputs or another is being prepared. Each prompt is rendered and tokenized once, in the
calling thread (overlapping the engine's work on other batches), and a retry reuses the token ids. Outputs that do
not validate are retried up to `max_attempts` (`SamplingConfig.vllm_kwargs(attempt)`: another seed, a temperature of
at least `retry_temperature`), each request on its own, then returned as errors: the caller records them as rejects.

Every result carries what it cost: engine calls (attempts), prompt tokens, prompt tokens served from vLLM's prefix
cache (`num_cached_tokens`), output tokens, and its share of the wall time of the `run` call it came in.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import threading
import time
from dataclasses import dataclass, field
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
    output: type[BaseModel] | None  # None: free text (no grammar, nothing to validate), e.g. a policy's answers
    sampling: SamplingConfig
    schema: dict[str, Any] | None = None  # a tighter JSON schema than output's own (enums, bounds from config)
    stage: str = ""  # who asks (the ledger counts per stage)
    owner: Any = None  # the document or candidate the call is for: its `usage` is charged (operators.llm.ledger)


@dataclass
class LLMResult:
    value: BaseModel | None
    error: str | None
    text: str = ""
    attempts: int = 1  # engine calls made for this request (retries included)
    output_tokens: int = 0  # over all attempts
    texts: list[str] = field(default_factory=list)  # every completion of a free-text request (sampling.n of them)
    prompt_tokens: int = 0  # over all attempts (a retry sends its prompt again)
    cached_prompt_tokens: int = 0  # of prompt_tokens, those vLLM served from its prefix cache
    seconds: float = 0.0  # this request's share of the wall time of the run() call it was part of


class EngineFailure(RuntimeError):
    """The engine itself failed (not a request): the actor should die so Ray restarts it and retries the batch."""


class LLMClient(Protocol):
    def run(self, requests: list[LLMRequest]) -> list[LLMResult]: ...


class StepStats:
    """vLLM stat logger that counts engine steps and the sequences running in each (benchmarks read it)."""

    def __init__(self) -> None:
        self.steps = 0
        self.running = 0

    def factory(self):
        from vllm.v1.metrics.loggers import StatLoggerBase

        stats = self

        class _Logger(StatLoggerBase):
            def __init__(self, vllm_config, engine_index: int = 0):
                pass

            def record(self, scheduler_stats, iteration_stats, mm_cache_stats=None, engine_idx: int = 0):
                if scheduler_stats is not None and iteration_stats is not None:
                    stats.steps += 1
                    stats.running += scheduler_stats.num_running_reqs

            def log_engine_initialized(self):
                pass

        return _Logger

    def install(self, engine) -> None:
        """Make this the only stat logger of a vLLM engine built with stats on (`AsyncLLM` or `LLM.llm_engine`)."""
        engine.logger_manager.stat_loggers = [self.factory()(None)]

    @property
    def mean_running(self) -> float:
        return self.running / self.steps if self.steps else 0.0

    def reset(self) -> None:
        self.steps = self.running = 0


class VLLMClient:
    """Owns one vLLM `AsyncLLM`; lives inside a Ray Data actor (one per pool member)."""

    def __init__(self, engine: EngineConfig, step_stats: StepStats | None = None):
        from vllm import AsyncEngineArgs
        from vllm.v1.engine.async_llm import AsyncLLM

        # The engine's environment, as its Ray actor gets it (runtime_env), also when the client is built in a process
        # of its own (a test, a benchmark): the engine's processes start from this environment.
        os.environ.update(engine.env)
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # weights come from a local folder, never from a hub
        kwargs: dict[str, Any] = dict(dtype="bfloat16", enable_prefix_caching=True)
        kwargs.update(engine.engine_kwargs)
        if engine.compact_json:
            kwargs["structured_outputs_config"] = compact_structured_outputs(kwargs.get("structured_outputs_config"))
        kwargs.setdefault("disable_log_stats", step_stats is None)  # per-step stats only when asked for
        args = AsyncEngineArgs(model=engine.model, max_model_len=engine.max_model_len,
                               tensor_parallel_size=engine.tensor_parallel_size, **kwargs)
        self.max_model_len = engine.max_model_len
        self.chat_template_kwargs = dict(engine.chat_template_kwargs)
        self._start_loop()

        async def make():  # inside the loop, so the engine's output handler runs on it
            return AsyncLLM.from_engine_args(args)

        self.engine = asyncio.run_coroutine_threadsafe(make(), self._loop).result()
        if step_stats is not None:
            step_stats.install(self.engine)
        self.tokenizer = self.engine.get_tokenizer()

    def _start_loop(self) -> None:
        """The event loop the engine lives on, on a thread of its own."""
        self._ids = itertools.count()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="vllm-engine-loop", daemon=True)
        self._thread.start()

    @staticmethod
    def sampling_params(req: LLMRequest, attempt: int):
        from vllm import SamplingParams
        from vllm.sampling_params import RequestOutputKind, StructuredOutputsParams

        final = RequestOutputKind.FINAL_ONLY  # no intermediate outputs to build and pass around
        if req.output is None:
            return SamplingParams(**req.sampling.vllm_kwargs(attempt), output_kind=final)
        schema = req.schema or req.output.model_json_schema()
        return SamplingParams(**req.sampling.vllm_kwargs(attempt), output_kind=final,
                              structured_outputs=StructuredOutputsParams(json=schema))

    def prompt_ids(self, req: LLMRequest) -> list[int]:
        """The prompt's token ids (chat template applied), computed once per request."""
        ids = self.tokenizer.apply_chat_template(req.messages, add_generation_prompt=True, tokenize=True,
                                                 **self.chat_template_kwargs)
        if isinstance(ids, dict) or hasattr(ids, "input_ids"):  # transformers may return a BatchEncoding
            ids = ids["input_ids"]
        return list(ids)

    async def _one(self, req: LLMRequest, ids: list[int]) -> LLMResult:
        """One request to the end: its attempts, parsed and validated."""
        if len(ids) + req.sampling.max_tokens > self.max_model_len:
            return LLMResult(None, f"prompt of {len(ids)} tokens + max_tokens {req.sampling.max_tokens} exceeds "
                                   f"max_model_len {self.max_model_len}", attempts=0)
        result = LLMResult(None, None, attempts=0)
        for attempt in range(req.sampling.max_attempts):
            final = None
            try:
                async for out in self.engine.generate({"prompt_token_ids": ids}, self.sampling_params(req, attempt),
                                                      f"r{next(self._ids)}"):
                    final = out
            except Exception as exc:
                raise EngineFailure(f"vLLM engine failed: {type(exc).__name__}: {exc}") from exc
            result.attempts += 1
            result.prompt_tokens += len(ids)
            result.cached_prompt_tokens += final.num_cached_tokens or 0
            if req.output is None:  # free text: every completion is an answer, none is retried
                result.texts = [c.text for c in final.outputs]
                result.text = result.texts[0] if result.texts else ""
                result.output_tokens += sum(len(c.token_ids) for c in final.outputs)
                break
            comp = final.outputs[0]
            result.value, result.error = parse_output(comp.text, comp.finish_reason, req.output, req.schema)
            result.text = comp.text
            result.output_tokens += len(comp.token_ids)
            if result.error is None:
                break
        return result

    def run(self, requests: list[LLMRequest]) -> list[LLMResult]:
        """Blocking; safe to call from several threads at once (each call's requests join the running engine)."""
        if not requests:
            return []
        started = time.perf_counter()
        ids = [self.prompt_ids(r) for r in requests]  # in the caller's thread, while the engine works on others

        async def all_of_them() -> list[LLMResult]:
            return await asyncio.gather(*(self._one(r, i) for r, i in zip(requests, ids)))

        results = asyncio.run_coroutine_threadsafe(all_of_them(), self._loop).result()
        share = (time.perf_counter() - started) / len(requests)
        for r in results:
            r.seconds = share
        return results

    def reset_prefix_cache(self) -> None:
        asyncio.run_coroutine_threadsafe(self.engine.reset_prefix_cache(), self._loop).result()

    def close(self) -> None:
        """Stop the engine's processes (an actor that exits does this implicitly)."""
        self.engine.shutdown()
        self._loop.call_soon_threadsafe(self._loop.stop)


def build_client(engine: EngineConfig) -> LLMClient:
    """The client `engines.<name>.client` names: vLLM by default, or a factory given as 'module:callable'."""
    if engine.client == "vllm":
        return VLLMClient(engine)
    import importlib

    module, _, attr = engine.client.partition(":")
    return getattr(importlib.import_module(module), attr)(engine)
