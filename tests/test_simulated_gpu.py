"""The simulated GPU engine (benchmarks/simulated_gpu.py) behaves as its docstring says: vLLM's limits on running
requests and KV cache, its token budget per step, its prefix cache, and the roofline step time. No Ray, no model."""

from __future__ import annotations

import time
from dataclasses import asdict

import pytest

from benchmarks.simulated_gpu import (BLOCK, GPU_MODELS, Record, SimulatedEngine, block_hashes, occupancy,
                                      output_tokens)
from operators.llm.client import LLMRequest
from operators.llm.sampling import SamplingConfig
from operators.schemas import BinaryJudgement

MODEL = GPU_MODELS["qwen3-14b-1xh100"]


def engine(seats=8, budget=2048, speedup=400.0, model=MODEL):
    rec = Record("e", model.name, 0, speedup, seats, budget, model.kv_tokens, 1.0, time.time())
    return SimulatedEngine(model, seats, budget, speedup, rec), rec


def test_roofline_step_times_from_the_stated_figures():
    # a decode step reads the weights once: 29.6 GB at 3.35 TB/s x 0.75 is 11.8 ms, plus 3 ms overhead
    assert MODEL.step_seconds(1, 0, 1) == pytest.approx(0.003 + 0.00002 + 29.6e9 / (3.35e12 * 0.75), rel=1e-6)
    # a full prefill step is compute-bound: 2 x 14.8e9 x 2048 FLOP at 989 TFLOP/s x 0.5
    assert MODEL.step_seconds(2048, 0, 1) == pytest.approx(0.003 + 0.00002 + 2 * 14.8e9 * 2048 / (989e12 * 0.5))
    # more running requests read more KV cache: a step of 128 decoders over 1,500 tokens each is longer
    assert MODEL.step_seconds(128, 128 * 1500, 128) > MODEL.step_seconds(128, 0, 128)
    assert 100_000 < MODEL.kv_tokens < 400_000


def test_running_requests_never_exceed_the_seats_and_all_finish():
    eng, rec = engine(seats=8)
    futures = [eng.submit(300, 20, block_hashes(list(range(i * 1000, i * 1000 + 300)))) for i in range(40)]
    assert [f.result(timeout=60)[1] for f in futures] == [20] * 40
    eng.close()
    occ = occupancy(asdict(rec))
    assert occ["requests"] == 40 and 0 < occ["running"] <= 8
    assert occ["full"] > 0.5  # 40 requests for 8 seats: the engine is full most of the time
    assert occ["decode_tokens_per_s"] > 0 and occ["prefill_tokens_per_s"] > 0


def test_a_repeated_prompt_prefix_is_served_from_the_cache():
    eng, rec = engine()
    ids = list(range(1000))
    first = eng.submit(len(ids), 5, block_hashes(ids)).result(timeout=60)
    second = eng.submit(len(ids), 5, block_hashes(ids[:800] + [7] * 200)).result(timeout=60)
    eng.close()
    assert first[0] == 0
    assert second[0] == (800 // BLOCK) * BLOCK  # the shared 800 tokens, in whole blocks


def test_a_full_kv_cache_preempts_and_still_finishes_everything():
    small = MODEL.__class__("small", 14.8e9, 29.6e9, 3.5e6, 1)  # KV of 3.5 MB a token: ~11K tokens in all
    eng, rec = engine(seats=64, model=small)
    futures = [eng.submit(1500, 400, block_hashes(list(range(i * 9999, i * 9999 + 1500)))) for i in range(12)]
    assert all(f.result(timeout=120)[1] == 400 for f in futures)
    eng.close()
    assert rec.preempted > 0


def test_output_lengths_vary_around_the_schema_mean_and_respect_max_tokens():
    req = LLMRequest([{"role": "user", "content": "x"}], BinaryJudgement, SamplingConfig(max_tokens=100),
                     stage="faithfulness")
    lengths = [output_tokens(req, list(range(i, i + 70))) for i in range(400)]
    assert max(lengths) <= 100 and min(lengths) >= 1
    assert 45 < sum(lengths) / len(lengths) < 65  # the mean of 60 (clipped at 100)
    assert output_tokens(req, list(range(70))) == output_tokens(req, list(range(70)))  # same prompt, same length
