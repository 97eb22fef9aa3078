"""Reap vLLM engine processes (and Ray node agents) orphaned by a killed local run.

A driver killed with SIGKILL takes its local Ray cluster down, but vLLM's engine-core and worker processes, spawned
by the engine actor, can survive, re-parented to init and holding gigabytes. A local run starts by
killing such orphans, so a resumed run does not trip over the previous run's leftovers. Only processes that are
both orphaned (parent pid 1) and named like vLLM's engine processes are touched.
"""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

log = logging.getLogger(__name__)
# vLLM's engine processes, and Ray's per-node agents, whose parent is the raylet: orphaned, their node is gone.
ENGINE_PROCESS_NAMES = ("VLLM::EngineCore", "VLLM::Worker", "VLLM::CPU_Worker", "ray::DashboardAgent",
                        "ray::RuntimeEnvAgent")


def _status(pid: str) -> dict[str, str]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        out[key] = value.strip()
    return out


def orphaned_engine_pids() -> list[int]:
    pids = []
    uid = str(os.getuid())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            st = _status(entry.name)
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if st.get("PPid") == "1" and st.get("Uid", "").split()[:1] == [uid] and cmdline.startswith(ENGINE_PROCESS_NAMES):
            pids.append(int(entry.name))
    return pids


def reap_orphaned_engines() -> list[int]:
    pids = orphaned_engine_pids()
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    if pids:
        log.warning("killed %d vLLM engine process(es) orphaned by an earlier run: %s", len(pids), pids)
    return pids
