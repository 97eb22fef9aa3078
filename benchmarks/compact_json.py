"""Benchmark: what compact JSON (no whitespace between tokens of the JSON structure) saves in output tokens.

Runs the pipeline's synthesis calls (one per document and persona, greedy, the local max_tokens) on the real tiny
model twice in this process: with the engine's grammar allowing any whitespace (vLLM's default, which lets the
model pretty-print) and with `compact_json` (xgrammar with `disable_any_whitespace`). Prints output tokens, how
many outputs were cut at max_tokens or failed to validate, seconds per pass, and the ratios.

    .venv/bin/python -m benchmarks.compact_json [N_DOCS]
"""

from __future__ import annotations

import gc
import sys
import time

from benchmarks.prefix_reuse import PERSONAS, sample_texts, synthesis_request
from operators.llm.client import LLMRequest, VLLMClient
from operators.llm.engine_config import EngineConfig
from operators.llm.sampling import SamplingConfig as Sampling
from operators.stages.chunking import chunk_text
from pipelines.config import load_config


def synthesis_requests(docs: list[str], max_tokens: int) -> list[LLMRequest]:
    sampling = Sampling(max_tokens=max_tokens, temperature=0.0)
    return [synthesis_request(d, p, sampling) for d in docs for p in PERSONAS]


def one_pass(model: str, compact: bool, requests: list[LLMRequest]) -> dict:
    client = VLLMClient(EngineConfig(model=model, max_model_len=4096, compact_json=compact,
                                     engine_kwargs=dict(enforce_eager=True)))
    client.run(requests[:1])  # warm-up (grammar compilation) outside the timing
    started = time.perf_counter()
    results = client.run(requests)
    elapsed = time.perf_counter() - started
    stats = {
        "seconds": elapsed,
        "output_tokens": sum(r.output_tokens for r in results),
        "valid": sum(r.value is not None for r in results),
        "truncated": sum("truncated" in (r.error or "") for r in results),
        "newlines": sum(r.text.count("\n") for r in results),
        "sample": results[0].text[:160],
    }
    del client
    gc.collect()
    return stats


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 6
    cfg = load_config("local")
    model = cfg.engines["default"].model
    docs = [chunk_text(text, cfg.stages.chunking.chunk_chars, 1)[0].text for text in sample_texts(n)]
    requests = synthesis_requests(docs, cfg.stages.synthesis.sampling.max_tokens)
    loose = one_pass(model, False, requests)
    compact = one_pass(model, True, requests)
    print(f"{n} documents, {len(requests)} synthesis calls, greedy, max_tokens {requests[0].sampling.max_tokens}")
    for name, s in (("any whitespace", loose), ("compact JSON", compact)):
        print(f"{name:15s} {s['seconds']:6.1f} s  {s['output_tokens']:6d} output tokens  {s['valid']:2d} valid  "
              f"{s['truncated']:2d} cut at max_tokens  {s['newlines']:5d} newlines")
        print(f"{'':15s} first output: {s['sample']!r}")
    print(f"ratio compact/any: tokens {compact['output_tokens'] / loose['output_tokens']:.2f}, "
          f"seconds {compact['seconds'] / loose['seconds']:.2f}")


if __name__ == "__main__":
    main()
