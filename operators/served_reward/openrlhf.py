"""OpenRLHF's remote reward model for ARES data (OpenRLHF v0.11.0, `openrlhf/utils/agent.py`
SingleTurnAgentExecutor, `openrlhf/cli/serve_rm.py`).

OpenRLHF POSTs `{"query": [...], "prompts": [...], "labels": [...]}` to `--reward.remote_url` and expects
`{"rewards": [...], "scores": [...], "extra_logs": {...}}`, one value per query: `query` is the prompt and the
response decoded together (special tokens kept), `prompts` the prompt as the dataset gave it after its chat
template, `labels` the dataset's `--data.label_key` column (`ares export --format openrlhf` writes the question and
rubric there). `ares serve-reward` serves `app(client)` at /get_reward; `reward_func` is the same for OpenRLHF's
Python-file route (`--reward.remote_url /path/to/openrlhf.py`).

OpenRLHF retries a failed HTTP call 5 times and then leaves the sample without a reward, which its experience maker
cannot handle, so the server always answers 200 with a number per query: a response the judge could not score gets
0.0 in `rewards` and `scores`, and `extra_logs` carries `judge_ok` (0.0 for it) and `judge_errors` per query, which
OpenRLHF logs with the rollout, so judge trouble is visible; one warning line is logged per call. A label that is
not an ARES label is answered with HTTP 422 naming it: a data error, not judge trouble.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from operators.served_reward.client import RewardClient
from operators.served_reward.labels import LabelError, parse_label

log = logging.getLogger(__name__)
FAILED_REWARD = 0.0
_TRAILING_SPECIAL = re.compile(r"(\s*(<\|[^|<>]{1,40}\|>|</s>|<eos>|<end_of_turn>))+\s*$")


def response_of(query: str, prompt: str) -> str:
    """The response part of OpenRLHF's query (prompt + response decoded with special tokens), without the
    end-of-turn tokens that follow it."""
    if query.startswith(prompt):
        response = query[len(prompt):]
    elif prompt and prompt in query:
        response = query.split(prompt, 1)[1]
    else:  # the tokenizer did not reproduce the prompt exactly: drop as much of it as matches
        n = next((i for i, (a, b) in enumerate(zip(query, prompt)) if a != b), min(len(query), len(prompt)))
        response = query[n:]
    return _TRAILING_SPECIAL.sub("", response).strip()


def rewards(client: RewardClient, queries: list[str], prompts: list[str], labels: list[Any]) -> dict[str, Any]:
    """OpenRLHF's response body for one request (see the module docstring)."""
    if not (len(queries) == len(prompts) == len(labels)):
        raise ValueError(f"query, prompts and labels differ in length ({len(queries)}, {len(prompts)}, "
                         f"{len(labels)})")
    parsed = [parse_label(lab) for lab in labels]
    results = client.score_many([(lab.question, response_of(q, p), lab.rubric)
                                 for q, p, lab in zip(queries, prompts, parsed)])
    failed = [r for r in results if not r.ok]
    if failed:
        log.warning("ARES reward: %d of %d queries not scored (first: %s); OpenRLHF gets reward %.1f and "
                    "judge_ok 0 for them", len(failed), len(results), failed[0].error, FAILED_REWARD)
    values = [float(r.score) if r.ok else FAILED_REWARD for r in results]
    return {"rewards": values, "scores": values,
            "extra_logs": {"judge_ok": [1.0 if r.ok else 0.0 for r in results],
                           "judge_errors": [float(r.judge_errors) for r in results]}}


def app(client: RewardClient):
    """The FastAPI app `ares serve-reward` runs: POST /get_reward (OpenRLHF's contract), GET /health.
    (Request is imported at module level: FastAPI resolves the handler's annotations by name.)"""
    api = FastAPI(title="ARES rubric reward for OpenRLHF")

    @api.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @api.post("/get_reward")
    async def get_reward(request: Request) -> JSONResponse:
        try:
            data = await request.json()
            queries, prompts = list(data["query"]), list(data.get("prompts") or [])
            labels = list(data.get("labels") or [])
        except Exception as exc:
            return JSONResponse({"error": f"expected {{query, prompts, labels}} JSON: {type(exc).__name__}: {exc}"},
                                status_code=400)
        try:
            body = await run_in_threadpool(rewards, client, queries, prompts, labels)
        except (LabelError, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=422)
        return JSONResponse(body)

    return api


def reward_func(queries: list[str], prompts: list[str], labels: list[Any], **kwargs: Any) -> dict[str, Any]:
    """OpenRLHF's Python-file reward function: the same rewards as tensors (settings from ARES_JUDGE_*)."""
    import torch

    global _file_client
    if _file_client is None:
        _file_client = RewardClient.from_env()
    body = rewards(_file_client, list(queries), list(prompts), list(labels))
    return {"rewards": torch.tensor(body["rewards"]), "scores": torch.tensor(body["scores"]),
            "extra_logs": {k: torch.tensor(v) for k, v in body["extra_logs"].items()}}


_file_client: RewardClient | None = None
