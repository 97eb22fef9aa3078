"""The simulated-engine benchmarks run end to end at a tiny size and print their figures; `ares plan` takes what
they measure (`--throughput FILE`, `sizing.cpu`). Timings are the benchmarks' business, not asserted here."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from tests.conftest import ARES, REPO


def run(args: list[str], timeout: float = 600) -> str:
    proc = subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def test_gpu_occupancy_benchmark_reports_each_pool_and_writes_rates_plan_uses(tmp_path):
    rates = tmp_path / "rates.json"
    out = run(["benchmarks.gpu_occupancy", "--docs", "24", "--scale", "8", "--speedup", "20",
               "--variant", "cluster=cluster", "--rates", str(rates)])
    done = re.search(r"24 documents, (\d+) candidates, (\d+) accepted", out)
    assert done and 0 < int(done.group(2)) <= int(done.group(1)) <= 48, out  # the funnel thins, as a real one
    for pool in ("generator", "judge"):
        row = re.search(rf"^{pool}\s+\d+/\d+\s+32\s+8\s+128\s+([\d.]+)%\s+([\d.]+)%", out, re.M)
        assert row and 0 <= float(row.group(1)) <= 100 and 0 < float(row.group(2)) <= 100, out  # full, busy
        assert re.search(rf"^  {pool}: limited by \S", out, re.M), out
    measured = json.loads(rates.read_text())["engines"]
    assert set(measured) == {"generator", "judge"} and measured["judge"]["decode_tokens_per_s"] > 0
    assert measured["judge"]["source"].startswith("simulated")

    plan = subprocess.run(ARES + ["plan", "cluster", "--throughput", str(rates), "input.path=s3://b/in/",
                                  "output.path=s3://b/out"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert plan.returncode == 0, plan.stderr
    assert plan.stdout.count("simulated") >= 2  # each engine's throughput column names its source
    assert re.search(r"^CPU outside the engines \(measured: ", plan.stdout, re.M), plan.stdout
    assert re.search(r"^admission actor: [\d.,]+ calls/s at that pace against [\d,]+ calls/s", plan.stdout, re.M)


def test_cpu_cost_benchmark_reports_stages_processes_and_admission(tmp_path):
    figures = tmp_path / "cpu.json"
    out = run(["benchmarks.cpu_cost", "--docs", "24", "--seconds", "2", "--callers", "2", "--out", str(figures)])
    for stage in ("ingest", "document_judge", "synthesis", "discriminativeness", "admission"):
        assert re.search(rf"^{stage}\s+(documents|candidates)\s+\d+\s+[\d.]+", out, re.M), stage
    assert re.search(r"^admission actor, 2 callers at once, .*: [\d.]+ calls/s", out, re.M), out
    cpu = json.loads(figures.read_text())
    assert cpu["ms_per_document"] > 0 and cpu["ms_per_candidate"] > 0 and cpu["admission_calls_per_s"] > 0
