"""`ares serve-judge CONFIG`: the judge model as an OpenAI-compatible endpoint on the Ray cluster, with an API key.

vLLM's own OpenAI-compatible server (`python -m vllm.entrypoints.openai.api_server`, i.e. `vllm serve`; vLLM 0.32
CPU / 0.33 CUDA) runs as a child of a Ray actor that holds the engine's resources (`engines.<name>`: num_cpus,
num_gpus, tensor parallelism, vLLM settings), on whichever node Ray places it, so the endpoint is scheduled and
checked like the job's engine pools. vLLM checks the key on every /v1 route (its `--api-key`, given here through the
child's environment, VLLM_API_KEY, so it is on no command line, in no runtime_env and in no log).

The key comes from ARES_JUDGE_API_KEY, else from the key file (`--api-key-file`, default
~/.config/ares/judge_api_key), which is created with a new random key (mode 0600) when it does not exist. The command
runs until interrupted (Ctrl-C, SIGTERM), then stops the server.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from operators.llm.engine_config import EngineConfig, compact_structured_outputs
from operators.served_reward.client import DEFAULT_KEY_FILE

log = logging.getLogger("ares")
ACTOR_PREFIX = "ares-judge-"
VLLM_SERVER = "vllm.entrypoints.openai.api_server"


class ServeError(RuntimeError):
    """The endpoint could not start or died; one line (plus the server's last log lines when there are some)."""


def api_key(path: str | os.PathLike | None) -> tuple[str, str]:
    """(key, where it came from): ARES_JUDGE_API_KEY, else the key file, created with a new key if missing."""
    if os.environ.get("ARES_JUDGE_API_KEY"):
        return os.environ["ARES_JUDGE_API_KEY"], "$ARES_JUDGE_API_KEY"
    key_file = Path(path or DEFAULT_KEY_FILE).expanduser()
    if key_file.is_file():
        key = key_file.read_text(encoding="utf-8").strip()
        if not key:
            raise ServeError(f"API key file {key_file} is empty")
        return key, str(key_file)
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    return key, f"{key_file} (new)"


def _flag(name: str, value: Any) -> list[str]:
    opt = "--" + name.replace("_", "-")
    if value is True:
        return [opt]
    if value is False:
        return ["--no-" + name.replace("_", "-")]
    if value is None:
        return []
    if isinstance(value, (dict, list)):
        return [opt, json.dumps(value)]
    return [opt, str(value)]


def server_args(engine: EngineConfig, served_name: str, host: str, port: int) -> list[str]:
    """vLLM server arguments for an engine: the same model settings the job's engine actors use."""
    kwargs: dict[str, Any] = dict(dtype="bfloat16", enable_prefix_caching=True)
    kwargs.update(engine.engine_kwargs)
    if engine.compact_json:
        kwargs["structured_outputs_config"] = compact_structured_outputs(kwargs.get("structured_outputs_config"))
    kwargs.update(max_model_len=engine.max_model_len, tensor_parallel_size=engine.tensor_parallel_size)
    args = ["--model", engine.model, "--served-model-name", served_name, "--host", host, "--port", str(port)]
    for name, value in kwargs.items():
        args += _flag(name, value)
    return args


def _own_session_dies_with_parent() -> None:
    """In the server's child process before exec: a session of its own (stopped as a group), and SIGTERM when the
    actor's process dies, so a killed actor leaves no server behind holding the port (Linux)."""
    import ctypes

    os.setsid()
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class JudgeServer:
    """A Ray actor that runs vLLM's OpenAI-compatible server as its child process and reports where it listens."""

    def __init__(self, argv: list[str], env: dict[str, str], key: str, port: int, host: str, forward_output: bool):
        import ray

        self.port, self.host = port, host
        self.log_path = Path(tempfile.mkdtemp(prefix="ares-judge-")) / "server.log"
        child_env = {**os.environ, "HF_HUB_OFFLINE": "1", **env, "VLLM_API_KEY": key}
        child_env.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
        out = None if forward_output else open(self.log_path, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", VLLM_SERVER, *argv], env=child_env, stdout=out,
                                     stderr=subprocess.STDOUT if out else None, preexec_fn=_own_session_dies_with_parent)
        self.node_ip = ray.util.get_node_ip_address()

    def _tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def wait_ready(self, timeout: float) -> str:
        """The endpoint's base URL once /health answers; ServeError if the server exits or times out first."""
        deadline = time.time() + timeout
        health = f"http://127.0.0.1:{self.port}/health"
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise ServeError(f"the vLLM server exited with code {self.proc.returncode} before it was ready; "
                                 f"its last lines:\n{self._tail()}")
            try:
                with urllib.request.urlopen(health, timeout=5) as resp:
                    if resp.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(2)
        else:
            self.stop()
            raise ServeError(f"the vLLM server was not ready within {timeout:g} s; its last lines:\n{self._tail()}")
        where = "127.0.0.1" if self.host in ("127.0.0.1", "localhost") else self.node_ip
        return f"http://{where}:{self.port}/v1"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)


def serve(cfg, engine_name: str, *, host: str | None, port: int, key_file: str | None, served_name: str | None,
          verbose: bool, ready_timeout: float = 900.0, stop_event: threading.Event | None = None) -> int:
    """Start the endpoint, print where it is, keep it up until interrupted; the exit code."""
    import ray

    from pipelines.admission_service import NAMESPACE
    from pipelines.config import ConfigError
    from pipelines.job import start_ray
    from pipelines.resources import check_schedulable

    if engine_name not in cfg.engines:
        raise ConfigError(f"--engine: unknown engine {engine_name!r} (defined: {sorted(cfg.engines)})")
    engine = cfg.engines[engine_name]
    if cfg.ray.address == "local":
        from pipelines.config import check_local_paths

        check_local_paths(cfg)
    key, key_source = api_key(key_file)
    host = host or ("127.0.0.1" if cfg.ray.address == "local" else "0.0.0.0")
    served_name = served_name or os.path.basename(engine.model.rstrip("/"))
    start_ray(cfg, verbose)
    stop_event = stop_event or threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop_event.set())
    actor = None
    try:
        check_schedulable(cfg, [("ares serve-judge", engine_name)])
        actor_cls = ray.remote(JudgeServer).options(
            name=f"{ACTOR_PREFIX}{served_name}-{port}", namespace=NAMESPACE, num_cpus=engine.num_cpus,
            num_gpus=engine.num_gpus, max_restarts=0)
        actor = actor_cls.remote(server_args(engine, served_name, host, port), dict(engine.env), key, port, host,
                                 verbose)
        log.info("starting the judge (engine %r, model %s) on the Ray cluster ...", engine_name, engine.model)
        try:
            url = ray.get(actor.wait_ready.remote(ready_timeout))
        except ray.exceptions.RayTaskError as exc:
            raise ServeError(str(exc.cause) if exc.cause else str(exc)) from None
        print(f"judge ready: {url}  model: {served_name}  API key: {key_source}", flush=True)
        print(f"reward client settings: ARES_JUDGE_URL={url} ARES_JUDGE_MODEL={served_name}", flush=True)
        while not stop_event.wait(5):
            if not ray.get(actor.alive.remote()):
                raise ServeError("the vLLM server exited; see the Ray logs of the ares-judge actor")
        print("stopping the judge", flush=True)
        return 0
    finally:
        if actor is not None:
            try:
                ray.get(actor.stop.remote(), timeout=60)
            except Exception:
                pass
            ray.kill(actor)
        if cfg.ray.address == "local":
            ray.shutdown()
