"""An engine client (`run(requests) -> results`, like `operators.llm.client.VLLMClient`) that sends each request to
an OpenAI-compatible chat endpoint, e.g. the judge `ares serve-judge` starts.

Requests go out concurrently (a thread pool of `max_concurrency`), each constrained to its output's JSON schema
(`response_format` json_schema, which vLLM's server enforces) and validated like the engine's outputs: one that does
not validate is asked again (`sampling.max_attempts`, the retry temperature and next seed as in the engine client).
Transport failures are retried by the openai library (`max_retries`, exponential backoff with jitter, on connection
errors, timeouts, 408/409/429 and 5xx); what still fails becomes that request's error, named: the caller reports it,
it is never a silent "not met".
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from operators.llm.client import LLMRequest, LLMResult
from operators.llm.parsing import parse_output

log = logging.getLogger(__name__)


class JudgeUnavailable(RuntimeError):
    """The endpoint cannot be used at all (unreachable, the key refused, no model); one line."""


class OpenAIJudgeClient:
    def __init__(self, base_url: str, api_key: str | None, model: str | None = None, *, max_concurrency: int = 16,
                 timeout: float = 60.0, max_retries: int = 3):
        from openai import OpenAI

        if max_concurrency < 1:
            raise ValueError("max_concurrency must be >= 1")
        self.base_url = base_url.rstrip("/")
        self.timeout, self.max_retries, self.max_concurrency = timeout, max_retries, max_concurrency
        # The key goes into the Authorization header only; a server without auth accepts any placeholder.
        self.client = OpenAI(base_url=self.base_url, api_key=api_key or "no-key", timeout=timeout,
                             max_retries=max_retries)
        self._model = model

    def describe_error(self, exc: Exception) -> str:
        """One line for a failed call, without the key or the request body."""
        import openai

        if isinstance(exc, openai.AuthenticationError):
            return f"judge at {self.base_url} refused the API key (HTTP 401)"
        if isinstance(exc, openai.APITimeoutError):
            return f"judge at {self.base_url} did not answer within {self.timeout:g} s ({self.max_retries} retries)"
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__ or exc
            return f"judge at {self.base_url} unreachable after {self.max_retries} retries: {type(cause).__name__}"
        if isinstance(exc, openai.APIStatusError):
            return f"judge at {self.base_url} answered HTTP {exc.status_code}: {str(exc.message)[:200]}"
        return f"judge call failed: {type(exc).__name__}: {str(exc)[:200]}"

    @property
    def model(self) -> str:
        """The model to ask: as given, else the endpoint's first (a judge server serves one)."""
        if self._model is None:
            try:
                models = self.client.models.list().data
            except Exception as exc:
                raise JudgeUnavailable(self.describe_error(exc)) from None
            if not models:
                raise JudgeUnavailable(f"judge at {self.base_url} serves no model")
            self._model = models[0].id
        return self._model

    def _request(self, req: LLMRequest, attempt: int) -> dict[str, Any]:
        params = req.sampling.vllm_kwargs(attempt)
        schema = req.schema or req.output.model_json_schema()
        body: dict[str, Any] = dict(
            model=self.model, messages=req.messages, max_tokens=params["max_tokens"],
            temperature=params["temperature"], top_p=params["top_p"],
            frequency_penalty=params["frequency_penalty"], presence_penalty=params["presence_penalty"],
            response_format={"type": "json_schema",
                             "json_schema": {"name": req.output.__name__, "schema": schema, "strict": True}},
            extra_body={"repetition_penalty": params["repetition_penalty"]},
        )
        if params.get("seed") is not None:
            body["seed"] = params["seed"]
        return body

    def _one(self, req: LLMRequest) -> LLMResult:
        text, error, tokens, attempt = "", "no attempt made", 0, 0
        for attempt in range(req.sampling.max_attempts):
            try:
                resp = self.client.chat.completions.create(**self._request(req, attempt))
            except Exception as exc:  # transport and HTTP errors, after the library's own retries
                return LLMResult(None, self.describe_error(exc), text, attempt + 1, tokens)
            choice = resp.choices[0]
            text = choice.message.content or ""
            tokens += resp.usage.completion_tokens if resp.usage else 0
            value, error = parse_output(text, choice.finish_reason, req.output, req.schema)
            if error is None:
                return LLMResult(value, None, text, attempt + 1, tokens)
        return LLMResult(None, error, text, attempt + 1, tokens)

    def run(self, requests: list[LLMRequest]) -> list[LLMResult]:
        if not requests:
            return []
        try:
            self.model  # resolved once, before the threads start
        except JudgeUnavailable as exc:
            return [LLMResult(None, str(exc), attempts=0) for _ in requests]
        with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(requests)),
                                thread_name_prefix="ares-judge") as pool:
            return list(pool.map(self._one, requests))
