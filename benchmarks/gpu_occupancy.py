"""Benchmark (SIMULATED): how full the pipeline keeps GPU engines, with the configs' batch sizes, batches in flight
and pool sizes, and what limits it.

Each config runs as the real job (`benchmarks/sim_harness.py`) over N generated documents, its engine pools played by
the simulated H100 engine client (`benchmarks/simulated_gpu.py`: vLLM's scheduling against a step-time model from
public H100 figures; every rate in it is an assumption). Pools are the config's `max_actors` divided by SCALE (at
least one actor; min = max, no autoscaling), their CPU asks made fractional to fit 2 cores; batch sizes, batches in
flight and vLLM's scheduler settings are the config's. Simulated time runs SPEEDUP times the wall clock; the CPU side
(tokenizing, parsing, checks, admission, Ray Data) runs at this machine's real speed.

Per engine pool it prints, over the steady window (the middle 80% of each actor's active span: no ramp-up, no drain)
and over the whole span: the share of engine time at full occupancy (no request could be added: `max_num_seqs`
running, or requests waiting for KV space, or the step's token budget used up), the share stepping at all, mean
running requests and queue depth, batches inside the engine client out of those allowed in flight, and the
effective tokens per second per actor; then what held the engines back (see `limits`). The effective rates go to a
JSON file (`--rates`) that `ares plan --throughput FILE` uses in place of `sizing.throughput`.

    .venv/bin/python -m benchmarks.gpu_occupancy [--docs N] [--speedup F] [--scale S] [--rates FILE] \\
        [--variant NAME=CONFIG[,docs=N][,key=value...]] ...   # default: cluster=cluster local=local,docs=120
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks import sim_harness
from benchmarks.simulated_gpu import occupancy

MODULE = "benchmarks.gpu_occupancy"


IDLE = {"seconds": 0.0, "busy": 0.0, "full": 0.0, "idle": 1.0, "running": 0.0, "waiting": 0.0, "in_run": 0.0,
        "prefill_tokens_per_s": 0.0, "decode_tokens_per_s": 0.0, "requests": 0, "cached_tokens": 0}


def steady(rec: dict[str, Any]) -> tuple[float, float]:
    """The middle 80% of an actor's active span, in simulated seconds."""
    busy = [i for i, b in enumerate(rec["bins"]) if b["steps"]]
    if not busy:
        return 0.0, 0.0
    lo, hi = busy[0] * rec["bin_seconds"], (busy[-1] + 1) * rec["bin_seconds"]
    return lo + 0.1 * (hi - lo), hi - 0.1 * (hi - lo)


def effective_rates(rec: dict[str, Any], window: tuple[float, float]) -> tuple[float, float]:
    """Per-actor (prefill, decode) tokens/s such that uncached prompt tokens / prefill + output tokens / decode is
    the window's length (what `ares plan` adds): each step's time split between its prefill and decode tokens,
    the window's time outside steps spread over both."""
    w = rec["bin_seconds"]
    sel = rec["bins"][int(window[0] // w) + 1:int(window[1] // w)]
    if len(sel) < 3:  # a short run: its whole active span
        busy = [i for i, b in enumerate(rec["bins"]) if b["steps"]]
        sel = rec["bins"][busy[0]:busy[-1] + 1] if busy else []
    span = len(sel) * w
    busy = sum(b["busy"] for b in sel) or 1e-9
    t_pre = sum(b["prefill_time"] for b in sel) * span / busy
    t_dec = span - t_pre
    pre, dec = sum(b["prefill_tokens"] for b in sel), sum(b["decode_tokens"] for b in sel)
    return (pre / t_pre if t_pre > 0 else 0.0), (dec / t_dec if t_dec > 0 else 0.0)


def limits(pool: dict[str, Any]) -> str:
    """What kept the pool's engines from full occupancy, from what they recorded."""
    if pool["full"] >= 0.9:
        return "the engines (at least 90% of steps full)"
    why = []
    allowed = pool["actors"] * pool["in_flight"]
    if pool["lag"] > 0.05:
        why.append(f"this machine's CPU: the simulated scheduler fell behind its clock {pool['lag']:.0%} of the time "
                   "(lower the speedup)")
    if pool["in_run"] >= 0.8 * allowed:
        why.append(f"requests offered: {pool['in_run']:.1f} of {allowed} batches are inside the engine on average "
                   f"yet offer {pool['running'] + pool['waiting']:.0f} requests per actor against "
                   f"{pool['max_num_seqs']} seats (a batch waits for its slowest request before its next stage): "
                   "more batches in flight or bigger batches")
    else:
        inside = pool["within_batch_wall"]
        between = pool["between_batches_wall"]
        if between >= inside:
            why.append(f"input: the batch threads waited {between:.0f} s (wall, all threads) between batches against "
                       f"{inside:.0f} s in the CPU stages inside batches: Ray Data delivered batches slower than the "
                       "engines took them (the operator before, backpressure or the driver)")
        else:
            why.append(f"CPU stages inside batches: {inside:.0f} s wall ({pool['within_batch_cpu']:.0f} s CPU) "
                       f"outside the engine between a batch's calls, against {between:.0f} s waiting for batches")
    return "; ".join(why)


def pools(result: dict[str, Any], cfg) -> list[dict[str, Any]]:
    out = []
    by_engine: dict[str, list[dict[str, Any]]] = {}
    for rec in result["engines"]:
        by_engine.setdefault(rec["engine"], []).append(rec)
    for name, recs in sorted(by_engine.items()):
        eng = cfg.engines[name]
        asked = eng.max_actors
        # the figures are those of the actors that got batches: in a short run Ray Data may leave one without any
        recs = [r for r in recs if any(b["steps"] for b in r["bins"])] or recs[:1]
        occ = [occupancy(r, *steady(r)) if any(b["steps"] for b in r["bins"]) else IDLE for r in recs]
        whole = [occupancy(r) if any(b["steps"] for b in r["bins"]) else IDLE for r in recs]
        rates = [effective_rates(r, steady(r)) for r in recs]
        mean = lambda rows, k: sum(o[k] for o in rows) / len(rows)  # noqa: E731
        per_actor = [{"pid": r["pid"], "steps": round(sum(b["steps"] for b in r["bins"])), "full": o["full"],
                      "running": o["running"], "waiting": o["waiting"],
                      "idle_seconds": sum(b["idle"] for b in r["bins"])} for r, o in zip(recs, occ)]
        sim_seconds = max(sum(b["busy"] + b["idle"] for b in r["bins"]) for r in recs)
        out.append({
            "engine": name, "model": recs[0]["model"], "actors": len(recs), "asked": asked, "batch_size": eng.batch_size,
            "in_flight": eng.max_concurrent_batches, "max_num_seqs": recs[0]["max_num_seqs"],
            "max_num_batched_tokens": recs[0]["max_num_batched_tokens"],
            "full": mean(occ, "full"), "busy": mean(occ, "busy"), "full_whole": mean(whole, "full"),
            "busy_whole": mean(whole, "busy"), "running": mean(occ, "running"), "waiting": mean(occ, "waiting"),
            "in_run": sum(o["in_run"] for o in occ),
            "prefill_tokens_per_s": sum(r[0] for r in rates) / len(rates),
            "decode_tokens_per_s": sum(r[1] for r in rates) / len(rates),
            "lag": sum(r["lag"] for r in recs) / max(1e-9, sum(sim_seconds for _ in recs)),
            "preempted": sum(r["preempted"] for r in recs),
            "within_batch_wall": sum(r["within_batch"]["wall"] for r in recs),
            "within_batch_cpu": sum(r["within_batch"]["cpu"] for r in recs),
            "between_batches_wall": sum(r["between_batches"]["wall"] for r in recs),
            "sim_seconds": sim_seconds, "per_actor": per_actor,
        })
    for p in out:
        p["limit"] = limits(p)
    return out


def report(name: str, config: str, result: dict[str, Any], cfg, speedup: float) -> list[dict[str, Any]]:
    ps = pools(result, cfg)
    s, cpu = result["summary"], result["cpu"]
    print(f"\n== {name} ({config}): {s['documents_read']:,} documents, {s['candidates']:,} candidates, "
          f"{s['accepted']:,} accepted in {result['seconds']:.0f} s wall ({result['seconds'] * speedup / 60:.0f} "
          f"simulated min at {speedup:g}x); machine CPU busy {cpu['machine_cpu_share']:.0%}")
    print(f"{'pool':10s} {'actors':>7s} {'batch':>5s} {'in flight':>9s} {'seats':>5s} {'full':>6s} {'busy':>6s} "
          f"{'full*':>6s} {'running':>7s} {'queued':>7s} {'in engine':>9s} {'prefill/s':>9s} {'decode/s':>9s}")
    for p in ps:
        print(f"{p['engine']:10s} {str(p['actors']) + '/' + str(p['asked']):>7s} {p['batch_size']:5d} {p['in_flight']:9d} {p['max_num_seqs']:5d} "
              f"{p['full']:6.1%} {p['busy']:6.1%} {p['full_whole']:6.1%} {p['running']:7.1f} {p['waiting']:7.1f} "
              f"{p['in_run']:5.1f}/{p['actors'] * p['in_flight']:<3d} {p['prefill_tokens_per_s']:9,.0f} "
              f"{p['decode_tokens_per_s']:9,.0f}")
    print("  (actors: that got batches / in the pool; full, busy, running, queued, in engine: steady window, per actor "
          "that got batches; full*: the whole active span; prefill/decode: effective tokens/s per actor, occupancy "
          "included)")
    for p in ps:
        for a in p["per_actor"]:
            print(f"  {p['engine']} actor pid {a['pid']}: {a['steps']:,} steps, {a['full']:.1%} full, "
                  f"{a['running']:.1f} running and {a['waiting']:.1f} queued per step (time-weighted), "
                  f"{a['idle_seconds']:.0f} simulated s idle between steps")
    for p in ps:
        print(f"  {p['engine']}: limited by {p['limit']}")
    print("  CPU seconds by process: " + ", ".join(f"{k} {v:.0f}" for k, v in cpu["cpu_seconds"].items() if v))
    return ps


def parse_variant(text: str, docs: int) -> tuple[str, str, list[str], int]:
    """NAME=CONFIG[,key=value...]; a `docs=N` among the settings sets this variant's documents."""
    name, _, rest = text.partition("=")
    config, *sets = rest.split(",") if rest else (name,)
    n = [int(s.split("=", 1)[1]) for s in sets if s.startswith("docs=")]
    return name, config, [s for s in sets if not s.startswith("docs=")], n[-1] if n else docs


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        print("RESULT " + json.dumps(sim_harness.child_run(json.loads(sys.argv[2]))), flush=True)
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=1500)
    ap.add_argument("--speedup", type=float, default=5.0, help="simulated seconds per wall second")
    ap.add_argument("--scale", type=int, default=8, help="divide each pool's max_actors by this")
    ap.add_argument("--variant", action="append", help="NAME=CONFIG[,key=value...] (repeatable)")
    ap.add_argument("--rates", type=Path, help="write the effective per-actor rates of the first variant here")
    args = ap.parse_args()
    variants = [parse_variant(v, args.docs) for v in (args.variant or ["cluster=cluster", "local=local,docs=120"])]
    from pipelines.config import load_config

    print(f"SIMULATED GPU engines (benchmarks/simulated_gpu.py; H100 rates are assumptions), pools / {args.scale}, "
          f"{args.speedup:g}x time; {platform.machine()} {__import__('os').cpu_count()} CPUs, {datetime.date.today()}")
    results = []
    with tempfile.TemporaryDirectory() as work:
        for i, (name, config, sets, docs) in enumerate(variants):
            corpus = Path(work) / f"docs-{docs}.jsonl"
            if not corpus.exists():
                sim_harness.write_corpus(corpus, docs)
            out, stats = Path(work) / f"out-{i}", Path(work) / f"stats-{i}"
            ov, gpus = sim_harness.overrides(config, corpus, out, stats, args.speedup, args.scale, sets)
            result = sim_harness.run_child(MODULE, {"config": config, "overrides": ov, "stats": str(stats),
                                                    "gpus": gpus})
            cfg = load_config(config, ov)
            results.append((name, report(name, config, result, cfg, args.speedup)))
    if args.rates:
        name, ps = results[0]
        args.rates.write_text(json.dumps({"engines": {p["engine"]: {
            "prefill_tokens_per_s": round(p["prefill_tokens_per_s"]),
            "decode_tokens_per_s": round(p["decode_tokens_per_s"]),
            "source": f"simulated {p['model']} in the pipeline ({name}, {p['full']:.0%} of steps full), "
                      f"benchmarks/gpu_occupancy.py {datetime.date.today()}"} for p in ps}}, indent=2))
        print(f"\neffective per-actor rates of {name} written to {args.rates} (ares plan --throughput {args.rates})")


if __name__ == "__main__":
    main()
