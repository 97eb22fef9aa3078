"""The reward served to trainers, end to end: `ares serve-judge` puts the tiny model behind an OpenAI-compatible
endpoint with an API key (one server on loopback for this module), and the reward client and each trainer's adapter
score responses through it; with the judge down or too slow, each gives a clear error or its framework's fallback,
never an exception in the trainer. The tiny model's verdicts are not asserted, only what the code guarantees."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from operators.reward import normalized_score
from operators.served_reward.client import RewardClient
from operators.served_reward.labels import dump_label
from operators.served_reward.trl import make_reward_func
from operators.served_reward.verl import REWARD_KEYS, compute_score
from tests.conftest import ARES, REPO, _free_port

pytestmark = pytest.mark.e2e

QUESTION = "Why is the daytime sky blue?"
RUBRIC = [
    {"criterion": "Names Rayleigh scattering as the cause", "weight": 5, "polarity": "positive"},
    {"criterion": "States that shorter wavelengths scatter more strongly", "weight": 3, "polarity": "positive"},
    {"criterion": "Claims that the sky reflects the colour of the ocean", "weight": -4, "polarity": "negative"},
]
GOOD = "Rayleigh scattering: air molecules scatter short (blue) wavelengths much more strongly than long ones."
BAD = "The sky reflects the colour of the ocean."
PATIENT = {"timeout": 900.0, "max_retries": 1}  # a 2-core machine shared with other tests is slow


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=180)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)


@pytest.fixture(scope="module")
def judge(tiny_model, tmp_path_factory):
    """`ares serve-judge local` on a free loopback port; yields (base URL, key file)."""
    key_file = tmp_path_factory.mktemp("judge") / "api_key"
    port = _free_port()
    proc = subprocess.Popen(ARES + ["serve-judge", "local", "--port", str(port), "--api-key-file", str(key_file),
                                    f"engines.default.model={tiny_model}"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("judge ready: "):
                break
        else:
            raise AssertionError("serve-judge ended before it was ready:\n" + "".join(lines[-40:]))
        url = line.split()[2]
        assert url == f"http://127.0.0.1:{port}/v1"
        yield url, key_file
    finally:
        _stop(proc)


def _hanging_port():
    """A socket that accepts connections (the kernel's backlog) and never answers: a judge that is too slow."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    return sock


def test_the_endpoint_needs_its_key(judge):
    url, key_file = judge
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    key = key_file.read_text().strip()
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{url}/models", timeout=30)
    assert err.value.code == 401
    req = urllib.request.Request(f"{url}/models", headers={"Authorization": f"Bearer {key}"})
    models = json.loads(urllib.request.urlopen(req, timeout=30).read())
    assert [m["id"] for m in models["data"]] == ["SmolLM2-135M-Instruct"]


def test_reward_client_scores_each_criterion_through_the_served_judge(judge):
    url, key_file = judge
    client = RewardClient(url, key_file.read_text().strip(), **PATIENT)
    results = client.score_many([(QUESTION, GOOD, RUBRIC), (QUESTION, BAD, RUBRIC)])
    assert len(results) == 2
    for res in results:
        assert [v.criterion for v in res.result.verdicts] == [c["criterion"] for c in RUBRIC]
        if res.ok:  # the library's formula over the judge's verdicts
            assert all(v.met is not None and v.error is None for v in res.result.verdicts)
            assert res.score == pytest.approx(normalized_score([(v.weight, v.met) for v in res.result.verdicts]))
            assert 0.0 <= res.score <= 1.0 and res.criteria_met == sum(v.met for v in res.result.verdicts)
        else:  # an output that never validated: said so, not scored 0
            assert res.score is None and res.judge_errors > 0 and res.error.startswith("judge error on ")
    wrong = RewardClient(url, "not-the-key", **PATIENT).score(QUESTION, GOOD, RUBRIC)
    assert wrong.score is None and "refused the API key (HTTP 401)" in wrong.error


def test_verl_adapter_keeps_its_keys_when_the_judge_is_up_down_or_slow(judge, monkeypatch):
    url, key_file = judge
    monkeypatch.setenv("ARES_JUDGE_URL", url)
    monkeypatch.setenv("ARES_JUDGE_API_KEY_FILE", str(key_file))
    monkeypatch.setenv("ARES_JUDGE_TIMEOUT", str(PATIENT["timeout"]))
    gt = dump_label(QUESTION, RUBRIC)
    up = compute_score("ares", GOOD, gt, {"index": 0})
    assert tuple(up) == REWARD_KEYS and up["criteria"] == 3.0
    assert (up["judge_ok"] == 1.0 and 0.0 <= up["score"] <= 1.0) or (up["judge_ok"] == 0.0 and up["judge_errors"])
    down = compute_score("ares", GOOD, gt, {}, judge_url=f"http://127.0.0.1:{_free_port()}/v1", judge_max_retries=1)
    assert tuple(down) == REWARD_KEYS and (down["judge_ok"], down["score"], down["judge_errors"]) == (0.0, 0.0, 3.0)
    slow = _hanging_port()
    try:
        started = time.time()
        late = compute_score("ares", GOOD, gt, {}, judge_url=f"http://127.0.0.1:{slow.getsockname()[1]}/v1",
                             judge_timeout=2, judge_max_retries=0, judge_model="SmolLM2-135M-Instruct")
    finally:
        slow.close()
    assert tuple(late) == REWARD_KEYS and late["judge_ok"] == 0.0 and time.time() - started < 60


def test_trl_adapter_returns_one_float_or_none_per_completion(judge):
    url, key_file = judge
    fn = make_reward_func(RewardClient(url, key_file.read_text().strip(), **PATIENT))
    metrics = {}
    out = fn(prompts=[[{"role": "user", "content": QUESTION}]] * 2,
             completions=[[{"role": "assistant", "content": GOOD}], [{"role": "assistant", "content": BAD}]],
             completion_ids=[[1, 2], [3]], question=[QUESTION] * 2, rubric=[RUBRIC, RUBRIC], trainer_state=None,
             log_extra=lambda *a: None, log_metric=lambda k, v: metrics.__setitem__(k, v))
    assert len(out) == 2 and all(v is None or 0.0 <= v <= 1.0 for v in out)
    assert metrics["ares/judge_error_rate"] == sum(v is None for v in out) / 2
    slow = _hanging_port()
    try:
        fn = make_reward_func(RewardClient(f"http://127.0.0.1:{slow.getsockname()[1]}/v1", "k", "m", timeout=2,
                                           max_retries=0))
        assert fn(prompts=[QUESTION], completions=[GOOD], rubric=[RUBRIC], log_metric=metrics.__setitem__) == [None]
    finally:
        slow.close()
    assert metrics["ares/judge_error_rate"] == 1.0


def _reward_server(*args: str) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    proc = subprocess.Popen(ARES + ["serve-reward", "--port", str(port), *args], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{base}/health", timeout=5)
            return proc, base
        except OSError:
            if proc.poll() is not None:
                raise AssertionError(proc.stdout.read())
            time.sleep(1)
    _stop(proc)
    raise AssertionError("serve-reward did not come up")


def _post(url: str, body: dict) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=1800) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_openrlhf_remote_reward_contract_over_http(judge):
    url, key_file = judge
    prompt = f"<|im_start|>user\n{QUESTION}<|im_end|>\n<|im_start|>assistant\n"
    body = {"query": [prompt + GOOD + "<|im_end|>", prompt + BAD + "<|im_end|>"], "prompts": [prompt, prompt],
            "labels": [dump_label(QUESTION, RUBRIC)] * 2}
    server, base = _reward_server("--judge-url", url, "--api-key-file", str(key_file), "--timeout", "900")
    try:
        status, got = _post(f"{base}/get_reward", body)
    finally:
        _stop(server)
    assert status == 200 and set(got) == {"rewards", "scores", "extra_logs"}
    assert len(got["rewards"]) == len(got["scores"]) == 2 and all(0.0 <= r <= 1.0 for r in got["rewards"])
    assert set(got["extra_logs"]) == {"judge_ok", "judge_errors"} and len(got["extra_logs"]["judge_ok"]) == 2

    dead = f"http://127.0.0.1:{_free_port()}/v1"
    server, base = _reward_server("--judge-url", dead, "--api-key-file", str(key_file), "--max-retries", "1")
    try:
        status, got = _post(f"{base}/get_reward", body)
        bad_status, bad = _post(f"{base}/get_reward", {**body, "labels": ["42", "42"]})
    finally:
        _stop(server)
    # OpenRLHF cannot take a missing reward: a number per query, the judge failure in extra_logs
    assert status == 200 and got["rewards"] == [0.0, 0.0] and got["extra_logs"]["judge_ok"] == [0.0, 0.0]
    assert bad_status == 422 and bad["error"].startswith("not an ARES rubric label")
