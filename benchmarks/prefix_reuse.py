"""Benchmark: what sharing one prefix (system text + document) across a document's calls saves.

Runs the per-document calls of the pipeline, stage by stage as the engine actor does (document judge, label,
synthesis for two personas, faithfulness for two candidates), on the real tiny model, twice in this process:
with vLLM's prefix cache on (the default here) and off. Outputs are capped short so the prompt side dominates,
which is where the shared document prefix is paid for. Prints seconds per pass and the ratio.

    .venv/bin/python -m benchmarks.prefix_reuse [N_DOCS]
"""

from __future__ import annotations

import gc
import gzip
import json
import sys
import time

from operators.llm.client import LLMRequest, VLLMClient
from operators.llm.engine_config import EngineConfig
from operators.llm.sampling import SamplingConfig as Sampling
from operators.schemas import BinaryJudgement, DomainPersonas, GeneratedInstance
from operators.stages.chunking import chunk_text
from operators.stages.label import DEFAULT_DOMAINS
from operators.stages.synthesis import prompt_values
from operators.templates import render
from pipelines.config import load_config
from pipelines.locations import sample_dir


def sample_texts(n: int) -> list[str]:
    with gzip.open(sample_dir() / "documents.jsonl.gz", "rt", encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f][:n]


PERSONAS = ["A first-year student revising for an exam", "A journalist checking facts for an article"]


def synthesis_request(document: str, persona: str, sampling: Sampling) -> LLMRequest:
    """One co-generation call as the pipeline makes it (local rubric bounds)."""
    values = prompt_values(load_config("local").rubric, document, persona, "Natural Science")
    return LLMRequest(render("synthesis", **values), GeneratedInstance, sampling, stage="synthesis")


def stage_requests(docs: list[str]) -> list[list[LLMRequest]]:
    short = Sampling(max_tokens=8, temperature=0.0)
    stages = [
        [LLMRequest(render("document_judge", document=d), BinaryJudgement, short) for d in docs],
        [LLMRequest(render("label", document=d, domains="; ".join(DEFAULT_DOMAINS), max_personas=3),
                    DomainPersonas, short) for d in docs],
        [synthesis_request(d, p, short) for d in docs for p in PERSONAS],
        [LLMRequest(render("faithfulness", document=d, question=f"Question {i} about the text?",
                           answer="An answer."), BinaryJudgement, short) for d in docs for i in range(2)],
    ]
    return stages


def one_pass(model: str, prefix_caching: bool, stages: list[list[LLMRequest]]) -> tuple[float, int]:
    client = VLLMClient(EngineConfig(model=model, max_model_len=4096,
                                     engine_kwargs=dict(enforce_eager=True, enable_prefix_caching=prefix_caching)))
    client.run(stages[0][:1])  # warm-up outside the timing
    started = time.perf_counter()
    for requests in stages:
        client.run(requests)
    elapsed = time.perf_counter() - started
    prompt_tokens = sum(client._prompt_tokens(r) for s in stages for r in s)
    del client
    gc.collect()
    return elapsed, prompt_tokens


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 12
    model = load_config("local").engines["default"].model
    docs = [chunk_text(text, 1800, 1)[0].text for text in sample_texts(n)]
    stages = stage_requests(docs)
    off, tokens = one_pass(model, False, stages)
    on, _ = one_pass(model, True, stages)
    calls = sum(len(s) for s in stages)
    print(f"{n} documents, {calls} calls in {len(stages)} stage batches, {tokens} prompt tokens, max 8 output tokens")
    print(f"prefix cache off: {off:6.1f} s")
    print(f"prefix cache on:  {on:6.1f} s")
    print(f"ratio on/off:     {on / off:6.2f}")


if __name__ == "__main__":
    main()
