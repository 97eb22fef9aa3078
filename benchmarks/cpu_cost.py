"""Benchmark: the CPU a job spends outside its engines, per document and per candidate, and the admission actor's
calls per second at saturation. That is what sizes a cluster's CPU asks beside its GPUs (`ares plan` prints it).

1. The real job (`benchmarks/sim_harness.py`) over N generated documents with `conf/cluster.yaml`'s stages, batch
   sizes and rubric bounds, its engines answered at once by the simulated client in its no-time mode
   (`ARES_SIM_SPEEDUP=inf`: the scripted client's passing outputs, so every stage runs on every candidate). What the
   client does is what `VLLMClient` does on the CPU: chat template, tokenizer (the tiny model's), parsing and
   validation. Per stage, the CPU time of the thread that ran it (`time.thread_time`, recorded by the progress
   actor); per process kind, the CPU seconds of every process of the run (driver, engine-group actors, CPU-stage
   actors, admission and progress actors, read and write workers, Ray's own). Costs are per document read and,
   for the stages that work on candidates, per candidate.
2. The admission actor alone (the job's own, journal on the local disk), called by C threads at once with batches
   of 64 documents as the stages call it (claim_documents, gate, admit with two candidates per document,
   report_documents) for T seconds: calls per second, and documents per second that makes.

    .venv/bin/python -m benchmarks.cpu_cost [--docs N] [--callers C] [--seconds T] [--out FILE]
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks import sim_harness

MODULE = "benchmarks.cpu_cost"
BATCH_DOCS = 64


def admission_child(args: dict[str, Any]) -> dict[str, Any]:
    """Saturate the admission actor from `callers` threads for `seconds`; calls/s per method and in all."""
    import ray

    from pipelines import admission_service
    from pipelines.config import load_config
    from tests.scripted_engine import PERSONAS, synthesis

    cfg = load_config("cluster", args["overrides"])
    ray.init(address="local", num_cpus=2, include_dashboard=False, namespace=admission_service.NAMESPACE,
             log_to_driver=False)
    try:
        actor, _ = admission_service.start(cfg)
        texts = [json.loads(line)["text"] for line in Path(args["corpus"]).read_text().splitlines()]
        questions = [synthesis(f"<document>{t[:3000]}</document>", p)["question"] for t in texts for p in PERSONAS]
        counts: dict[str, int] = {"claim_documents": 0, "gate": 0, "admit": 0, "report_documents": 0}
        lock, stop = threading.Lock(), time.perf_counter() + args["seconds"]
        serial = iter(range(10**9))

        def caller() -> None:
            while time.perf_counter() < stop:
                b = next(serial)
                keys = [f"docs.jsonl#{b * BATCH_DOCS + i}" for i in range(BATCH_DOCS)]
                ray.get(actor.claim_documents.remote([(f"d{b}-{i}", k) for i, k in enumerate(keys)]))
                ray.get(actor.gate.remote(keys))
                items = [(f"c{b}-{i}", "Natural Science", questions[(b * 2 * BATCH_DOCS + i) % len(questions)]
                          + f" ({b}-{i})", keys[i // 2]) for i in range(2 * BATCH_DOCS)]
                ray.get(actor.admit.remote(items))
                ray.get(actor.report_documents.remote(BATCH_DOCS, 0))
                with lock:
                    for k in counts:
                        counts[k] += 1

        started = time.perf_counter()
        threads = [threading.Thread(target=caller) for _ in range(args["callers"])]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seconds = time.perf_counter() - started
        admission_service.stop(cfg, actor)
    finally:
        ray.shutdown()
    return {"seconds": seconds, "batches": counts["admit"], "counts": counts}


def report(result: dict[str, Any], adm: dict[str, Any], docs: int, callers: int) -> dict[str, Any]:
    s, cpu, stages = result["summary"], result["cpu"], result["progress"]
    n_docs, n_cands = s["documents_read"], s["candidates"]
    print(f"\n{n_docs:,} documents, {n_cands:,} candidates, {s['accepted']:,} accepted in {result['seconds']:.0f} s "
          f"wall; machine CPU busy {cpu['machine_cpu_share']:.0%}")
    print(f"{'stage':20s} {'unit':>10s} {'rows in':>8s} {'CPU s':>7s} {'ms/row':>7s} {'ms/doc':>7s}")
    doc_ms = cand_ms = 0.0
    for name, t in stages.items():
        ms_row = 1000 * t["cpu_seconds"] / t["rows_in"] if t["rows_in"] else 0.0
        ms_doc = 1000 * t["cpu_seconds"] / n_docs
        if t["unit"] == "candidates":
            cand_ms += 1000 * t["cpu_seconds"] / max(1, n_cands)
        else:
            doc_ms += ms_doc
        print(f"{name:20s} {t['unit']:>10s} {t['rows_in']:8,d} {t['cpu_seconds']:7.1f} {ms_row:7.2f} {ms_doc:7.2f}")
    total_stage = sum(t["cpu_seconds"] for t in stages.values())
    all_cpu = sum(cpu["cpu_seconds"].values())
    print(f"stages in all: {1000 * total_stage / n_docs:.1f} CPU ms per document ({doc_ms:.1f} in the stages on "
          f"documents per document, {cand_ms:.1f} in the stages on candidates per candidate)")
    print("every process of the run, CPU ms per document: " + ", ".join(
        f"{k} {1000 * v / n_docs:.1f}" for k, v in cpu["cpu_seconds"].items() if v) +
        f"; in all {1000 * all_cpu / n_docs:.1f}")
    calls = sum(adm["counts"].values())
    print(f"admission actor, {callers} callers at once, batches of {BATCH_DOCS} documents (claim, gate, admit "
          f"{2 * BATCH_DOCS} candidates, report): {calls / adm['seconds']:.1f} calls/s, "
          f"{adm['batches'] * BATCH_DOCS / adm['seconds']:,.0f} documents/s at saturation")
    return {"ms_per_document": round(doc_ms + (all_cpu - total_stage) * 1000 / n_docs, 1),
            "ms_per_candidate": round(cand_ms, 1),
            "admission_calls_per_s": round(calls / adm["seconds"], 1),
            "source": f"measured: benchmarks/cpu_cost.py --docs {docs}, {platform.machine()} "
                      f"{__import__('os').cpu_count()} CPUs, {datetime.date.today()}"}


def main() -> None:
    if sys.argv[1:3] == ["--child", "job"]:
        print("RESULT " + json.dumps(sim_harness.child_run(json.loads(sys.argv[3]))), flush=True)
        return
    if sys.argv[1:3] == ["--child", "admission"]:
        print("RESULT " + json.dumps(admission_child(json.loads(sys.argv[3]))), flush=True)
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=2000)
    ap.add_argument("--callers", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--out", type=Path, help="write the figures `sizing.cpu` takes here (JSON)")
    args = ap.parse_args()
    print(f"CPU outside the engines: cluster config, scripted outputs with no engine time, {args.docs:,} documents; "
          f"{platform.machine()} {__import__('os').cpu_count()} CPUs, {datetime.date.today()}")
    with tempfile.TemporaryDirectory() as work:
        corpus = Path(work) / "docs.jsonl"
        sim_harness.write_corpus(corpus, args.docs)
        ov, gpus = sim_harness.overrides("cluster", corpus, Path(work) / "out", Path(work) / "stats", float("inf"),
                                         4, [])
        result = sim_harness.run_child(MODULE, {"config": "cluster", "overrides": ov, "stats": str(Path(work) / "stats"),
                                                "gpus": gpus}, child=["--child", "job"])
        adm_ov = [o for o in ov if o.startswith(("ray.", "input.", "engines."))] + [f"output.path={work}/adm-out"]
        adm = sim_harness.run_child(MODULE, {"overrides": adm_ov, "corpus": str(corpus), "callers": args.callers,
                                             "seconds": args.seconds}, child=["--child", "admission"])
    figures = report(result, adm, args.docs, args.callers)
    print("sizing.cpu: " + json.dumps(figures))
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
