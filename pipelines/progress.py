"""What a person watching a job sees: per stage rows in/out/rejected and rows per second, accepted so far and,
with a target, the estimated time left; written to `<output>/progress.json` for `ares status`.

The driver polls the progress actor (`operators/services/progress.py`) and the admission service (its accepted
counts are exact: seeded from the committed output, retries counted once). On a terminal the table is redrawn in
place; in a log (CI, a submitted job) it is printed every `every` seconds while it changes, and once at the end.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import posixpath
import sys
import threading
import time
from typing import Any

from operators import storage
from operators.services.progress import ProgressActor, actor_name, stage_unit

log = logging.getLogger("ares")
PROGRESS_FILE = "progress.json"
WRITE_EVERY = 30.0  # seconds between writes of progress.json (it may live on S3)


def job_key(cfg) -> str:
    """One key per job output: two jobs writing to different places never share their named actors."""
    return f"{cfg.run_name}-{hashlib.sha256(cfg.output.path.encode()).hexdigest()[:10]}"


def progress_actor_name(cfg) -> str:
    return actor_name(job_key(cfg))


def target_accepted(cfg) -> int | None:
    """The number of accepted instances the job aims at: `target.accepted` when the config has it, else the sum
    of the per-domain quotas when every labelled domain has one; None when the job runs until its input ends."""
    target = getattr(getattr(cfg, "target", None), "accepted", None)
    if target:
        return int(target)
    quota = cfg.stages.admission.quota
    limits = [quota.per_domain.get(d, quota.default) for d in cfg.stages.label.domains]
    return sum(limits) if limits and all(v is not None for v in limits) else None


def eta_seconds(accepted: int, accepted_before: int, target: int | None, elapsed: float) -> float | None:
    """Seconds left at this run's acceptance rate; None without a target or before the first acceptance."""
    if target is None:
        return None
    if accepted >= target:
        return 0.0
    gained = accepted - accepted_before
    if gained <= 0 or elapsed <= 0:
        return None
    return (target - accepted) / (gained / elapsed)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


def progress_headline(snap: dict[str, Any]) -> str:
    accepted, target = snap.get("accepted"), snap.get("target")
    line = f"ARES {snap.get('run_name', '')}: {snap.get('state', 'running')} {_duration(snap.get('elapsed'))}, " \
           f"accepted {accepted}"
    if target is not None:
        line += f" of target {target}"
        if snap.get("state", "running") == "running":
            line += f", about {_duration(snap.get('eta_seconds'))} left"
    return line


def progress_table(snap: dict[str, Any]):
    """The headline and a rich Table of a progress snapshot (the one `ares status` reads from progress.json)."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, header_style="bold", pad_edge=False)
    for col in ("stage", "unit", "in", "out", "rejected", "errors", "rows/s"):
        table.add_column(col, justify="left" if col in ("stage", "unit") else "right")
    for row in snap.get("stages", []):
        rate = row.get("rows_per_second")
        unit = "documents -> candidates" if row.get("candidates_made") else row["unit"]
        table.add_row(row["stage"], unit, str(row["rows_in"]), str(row["rows_out"]), str(row["rejected"]),
                      str(row["errored"]), "-" if rate is None else f"{rate:.2f}")
    return Group(Text(progress_headline(snap)), table)


def format_progress(snap: dict[str, Any], width: int = 100) -> str:
    """The progress table as plain text."""
    from rich.console import Console

    buf = io.StringIO()
    Console(file=buf, width=width, no_color=True, highlight=False).print(progress_table(snap))
    return buf.getvalue().rstrip() + "\n"


def progress_path(output: str) -> str:
    return posixpath.join(storage.strip_scheme(output).rstrip("/"), PROGRESS_FILE)


def read_progress(output: str, storage_cfg) -> dict[str, Any] | None:
    """The last progress snapshot a job wrote beside its output, or None when there is none (yet)."""
    fs = storage.arrow_filesystem(output, storage_cfg)
    try:
        with fs.open_input_stream(progress_path(output)) as f:
            return json.loads(f.read())
    except (FileNotFoundError, OSError):
        return None


class ProgressMonitor:
    """Started by the job after the admission service: owns the progress actor, draws, writes progress.json."""

    def __init__(self, cfg, admission, *, live: bool | None = None, every: float = 30.0, stream=None):
        from pipelines.ares import FLOW

        self.cfg, self.admission = cfg, admission
        self.stream = stream or sys.stdout
        self.live = self.stream.isatty() if live is None else live
        self.every = 1.0 if self.live else every
        self.order = [s.name for s in cfg.active_stages()]
        self.units = {s.name: stage_unit(s) for s in FLOW}
        self.target = target_accepted(cfg)
        self.started = time.time()
        self.accepted_before: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_text = ""
        self._last_write = 0.0
        self.actor = None

    # -- the snapshot -------------------------------------------------------------------------------------------------
    def snapshot(self, state: str = "running") -> dict[str, Any]:
        import ray

        stages = ray.get(self.actor.snapshot.remote(), timeout=30)["stages"]
        stats = ray.get(self.admission.stats.remote(), timeout=30)
        accepted = sum(stats.get("accepted", {}).values())
        if self.accepted_before is None:
            self.accepted_before = stats.get("seeded", 0)
        elapsed = time.time() - self.started
        rows = []
        for name in self.order:
            t = stages.get(name)
            if t is None:
                t = {"unit": self.units.get(name, "documents"), "rows_in": 0, "rows_out": 0, "rejected": 0,
                     "errored": 0, "candidates_made": 0, "rows_per_second": None}
            rows.append({"stage": name, **{k: t[k] for k in ("unit", "rows_in", "rows_out", "rejected", "errored",
                                                             "candidates_made", "rows_per_second")},
                         "cpu_seconds": t.get("cpu_seconds", 0.0)})  # the stage's own CPU (benchmarks/cpu_cost.py)
        return {"run_name": self.cfg.run_name, "output": self.cfg.output.path, "state": state,
                "started": self.started, "updated": time.time(), "elapsed": elapsed, "accepted": accepted,
                "accepted_before_this_run": self.accepted_before, "target": self.target,
                "eta_seconds": eta_seconds(accepted, self.accepted_before, self.target, elapsed), "stages": rows}

    def write(self, snap: dict[str, Any]) -> None:
        fs = storage.arrow_filesystem(self.cfg.output.path, self.cfg.storage)
        with fs.open_output_stream(progress_path(self.cfg.output.path)) as f:
            f.write(json.dumps(snap, indent=2).encode())
        self._last_write = time.time()

    # -- the loop -----------------------------------------------------------------------------------------------------
    def _tick(self, live_display=None) -> None:
        try:
            snap = self.snapshot()
        except Exception as exc:  # the display never fails the job
            log.debug("progress snapshot failed: %s", exc)
            return
        if live_display is not None:
            live_display.update(progress_table(snap))
        else:
            text = format_progress(snap)
            changed = text.split("\n", 1)[1:] != self._last_text.split("\n", 1)[1:]  # the title holds the clock
            if changed:
                self.stream.write(text)
                self.stream.flush()
                self._last_text = text
        if time.time() - self._last_write >= WRITE_EVERY:
            try:
                self.write(snap)
            except Exception as exc:
                log.debug("progress.json not written: %s", exc)

    def _run(self) -> None:
        if self.live:
            from rich.console import Console
            from rich.live import Live

            with Live(console=Console(file=self.stream), auto_refresh=False, transient=True) as live:
                while not self._stop.wait(self.every):
                    self._tick(live)
                    live.refresh()
        else:
            while not self._stop.wait(self.every):
                self._tick()

    def start(self) -> "ProgressMonitor":
        self.actor = ProgressActor.options(name=progress_actor_name(self.cfg), namespace=_namespace()).remote()
        self._thread = threading.Thread(target=self._run, name="ares-progress", daemon=True)
        self._thread.start()
        return self

    def stop(self, state: str) -> dict[str, Any] | None:
        """Stop drawing; print the final table once, write the final progress.json, drop the actor."""
        import ray

        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        snap = None
        try:
            snap = self.snapshot(state)
            self.stream.write(format_progress(snap))
            self.stream.flush()
            self.write(snap)
        except Exception as exc:
            log.debug("final progress not recorded: %s", exc)
        if self.actor is not None:
            ray.kill(self.actor)
        return snap


def _namespace() -> str:
    from pipelines.admission_service import NAMESPACE

    return NAMESPACE
