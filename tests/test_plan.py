"""`ares plan`: the sizing arithmetic by hand, the pool split, and the command line on a pilot's summary.json."""

from __future__ import annotations

import json
import subprocess

import pytest

from pipelines.config import ConfigError, load_config
from pipelines.plan import PlanError, plan
from tests.conftest import ARES, REPO

BASE = ["input.path=s3://b/in/", "output.path=s3://b/out",
        "sizing.throughput.generator.prefill_tokens_per_s=10000", "sizing.throughput.generator.decode_tokens_per_s=1000",
        "sizing.throughput.judge.prefill_tokens_per_s=5000", "sizing.throughput.judge.decode_tokens_per_s=500"]
COSTS = {  # per accepted instance
    "synthesis": {"calls": 2, "prompt_tokens": 3000, "cached_prompt_tokens": 1000, "output_tokens": 1000},
    "faithfulness": {"calls": 1, "prompt_tokens": 1000, "cached_prompt_tokens": 0, "output_tokens": 50},
    "discriminativeness": {"calls": 20, "prompt_tokens": 8000, "cached_prompt_tokens": 6000, "output_tokens": 450},
}


def test_tokens_gpu_hours_split_and_wall_time_by_hand():
    cfg = load_config("cluster", BASE)
    p = plan(cfg, 3600, COSTS, "test", units=8)
    gen, judge = sorted(p.engines, key=lambda e: e.name)
    assert gen.name == "generator" and judge.name == "judge" and p.unit == "GPU"
    # generator: 3600 x (2000 uncached / 10000 + 1000 / 1000) s = 4320 s = 1.2 actor-hours on 1 GPU each
    assert gen.prompt_tokens == 3600 * 3000 and gen.uncached_prompt_tokens == 3600 * 2000
    assert gen.output_tokens == 3600 * 1000 and gen.calls == 7200
    assert gen.actor_hours == pytest.approx(1.2) and gen.unit_hours == pytest.approx(1.2)
    # judge: 3600 x ((1000 + 2000) / 5000 + 500 / 500) s = 5760 s = 1.6 actor-hours, x 2 GPUs (tensor parallel)
    assert judge.uncached_prompt_tokens == 3600 * 3000 and judge.output_tokens == 3600 * 500
    assert judge.actor_hours == pytest.approx(1.6) and judge.unit_hours == pytest.approx(3.2)
    # 8 GPUs: 2 generators + 3 judges (2 + 6 GPUs): 0.6 h and 0.53 h; the wall time is the slower pool's
    assert (gen.actors, judge.actors) == (2, 3)
    assert p.wall_hours == pytest.approx(0.6)


def test_the_split_never_exceeds_the_devices_and_needs_one_actor_of_each():
    cfg = load_config("cluster", BASE)
    for units in range(3, 40):
        p = plan(cfg, 1000, COSTS, "test", units=units)
        assert sum(e.actors * e.units_per_actor for e in p.engines) <= units
        best = p.wall_hours
        for e in p.engines:  # no single extra actor that fits would have finished sooner
            spare = units - sum(x.actors * x.units_per_actor for x in p.engines)
            if e.units_per_actor <= spare:
                assert e.wall_hours < best
    with pytest.raises(PlanError, match="cannot hold one actor of each engine"):
        plan(cfg, 1000, COSTS, "test", units=2)


def test_missing_throughput_is_named():
    cfg = load_config("cluster", BASE)
    del cfg.sizing.throughput["judge"]
    with pytest.raises(PlanError, match=r"^sizing.throughput.judge: no throughput figures"):
        plan(cfg, 1000, COSTS, "test", units=8)
    with pytest.raises(ConfigError, match=r"sizing.throughput.nope: unknown engine"):
        load_config("cluster", BASE + ["sizing.throughput.nope.prefill_tokens_per_s=1",
                                       "sizing.throughput.nope.decode_tokens_per_s=1"])


def test_cluster_config_sizes_its_own_pools():
    """conf/cluster.yaml's estimates, put through the arithmetic, ask for no more actors than its pools allow."""
    cfg = load_config("cluster", ["input.path=s3://b/in/", "output.path=s3://b/out"])
    costs = {s: c.model_dump() for s, c in cfg.sizing.per_accepted.items()}
    p = plan(cfg, cfg.target.accepted, costs, "estimates")
    for e in p.engines:
        assert e.actors <= cfg.engines[e.name].max_actors, e.name
        assert e.source.startswith("estimate"), e.name
    assert p.units == cfg.sizing.gpus


def test_plan_command_reads_a_pilots_ledger(tmp_path):
    pilot = tmp_path / "pilot"
    pilot.mkdir()
    (pilot / "summary.json").write_text(json.dumps({"ledger": {"per_accepted": {**COSTS, "total": {}}}}))
    proc = subprocess.run(ARES + ["plan", "cluster", "--target", "3600", "--ledger", str(pilot), "--gpus", "8",
                                  *BASE], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert f"tokens per accepted instance from {pilot}" in out
    assert "generator       2 actors x 1 GPU = 2 GPUs, 0.6 h" in out
    assert "judge           3 actors x 2 GPU = 6 GPUs, 0.5 h" in out and "wall time: 0.6 h" in out

    (pilot / "summary.json").write_text(json.dumps({"ledger": {"per_accepted": None}}))
    proc = subprocess.run(ARES + ["plan", "cluster", "--target", "10", "--ledger", str(pilot), *BASE], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "the pilot accepted no instances" in proc.stderr


def test_cpu_outside_the_engines_and_admission_pace_by_hand():
    cfg = load_config("cluster", BASE + ["sizing.cpu.ms_per_document=50", "sizing.cpu.ms_per_candidate=20",
                                         "sizing.cpu.admission_calls_per_s=100", "sizing.cpu.documents_per_accepted=2",
                                         "sizing.cpu.candidates_per_accepted=1.5"])
    p = plan(cfg, 3600, COSTS, "test", units=8)
    c = p.cpu
    # 7,200 documents x 50 ms + 5,400 candidates x 20 ms = 468 CPU-seconds = 0.13 CPU-hours, over the 0.6 h wall
    assert (c.documents, c.candidates) == (7200, 5400)
    assert c.cpu_hours == pytest.approx(0.13) and c.cpus_busy == pytest.approx(0.13 / 0.6)
    # per document: a claim per input block of 64, a gate per LLM stage per batch of 32 (8 stages), 3 more per batch
    assert c.admission_calls_per_s == pytest.approx(7200 * (1 / 64 + (8 + 3) / 32) / (0.6 * 3600))
    # a pilot's summary gives its own documents and candidates per accepted instance
    p = plan(cfg, 3600, COSTS, "test", units=8, counts=(3.0, 2.0, "the pilot's summary"))
    assert (p.cpu.documents, p.cpu.candidates, p.cpu.counts_source) == (10800, 7200, "the pilot's summary")


def test_measured_rates_replace_the_throughput_estimates(tmp_path):
    from pipelines.plan import use_throughput

    rates = tmp_path / "rates.json"
    rates.write_text(json.dumps({"engines": {"judge": {"prefill_tokens_per_s": 10000, "decode_tokens_per_s": 1000,
                                                       "source": "simulated: test"}}}))
    cfg = load_config("cluster", BASE)
    use_throughput(cfg, str(rates))
    judge = next(e for e in plan(cfg, 3600, COSTS, "test", units=8).engines if e.name == "judge")
    # judge: 3600 x (3000 / 10000 + 500 / 1000) s = 0.8 actor-hours (1.6 with the estimates of BASE)
    assert judge.actor_hours == pytest.approx(0.8) and judge.source == "simulated: test"
    rates.write_text("{}")
    with pytest.raises(PlanError, match=r"^throughput .*rates.json: cannot be used"):
        use_throughput(cfg, str(rates))
