"""The reward over an OpenAI-compatible judge: the library's formula and grader prompt, concurrent calls, bounded
retries with backoff, judge errors reported (never a silent 0), and each trainer adapter's contract.

The judge here is a deterministic HTTP stand-in (tests/fake_judge.py) so the arithmetic and the failure paths can be
checked exactly; test_served_reward.py runs the same adapters against the tiny model served by `ares serve-judge`."""

from __future__ import annotations

import json

import pytest

from operators.reward import normalized_score
from operators.served_reward.client import RewardClient
from operators.served_reward.labels import LabelError, dump_label, parse_label
from operators.served_reward.openrlhf import app, response_of, rewards
from operators.served_reward.trl import make_reward_func
from operators.served_reward.verl import REWARD_KEYS, compute_score
from operators.templates import render
from tests.fake_judge import FakeJudge

RUBRIC = [
    {"criterion": "Names Rayleigh scattering", "weight": 5, "polarity": "positive"},
    {"criterion": "Mentions wavelength dependence", "weight": 3, "polarity": "positive"},
    {"criterion": "Explains red sunsets", "weight": 2, "polarity": "positive"},
    {"criterion": "Claims that the sky reflects the ocean", "weight": -4, "polarity": "negative"},
]
QUESTION = "Why is the sky blue?"


def client(judge: FakeJudge, **kw) -> RewardClient:
    kw = {"timeout": 10.0, "max_retries": 2, **kw}
    return RewardClient(judge.url, kw.pop("api_key", judge.key), **kw)


@pytest.mark.parametrize("met, expected", [
    ((True, True, True, False), 1.0),
    ((True, False, True, False), 0.7),
    ((True, True, False, True), 0.4),  # (5+3-4)/10
    ((False, True, False, True), 0.0),  # clipped
])
def test_scores_through_http_follow_the_library_formula(met, expected):
    with FakeJudge({c["criterion"]: m for c, m in zip(RUBRIC, met)}) as judge:
        res = client(judge).score(QUESTION, "a response", RUBRIC)
    assert res.ok and res.score == pytest.approx(expected) and res.error is None
    assert [v.met for v in res.result.verdicts] == list(met)
    assert res.score == pytest.approx(normalized_score([(c["weight"], m) for c, m in zip(RUBRIC, met)]))
    # every request is the library's grader prompt, constrained to the judgement's JSON schema
    sent = judge.requests[0]
    expected_messages = render("criterion_grader", None, question=QUESTION, response="a response",
                               criterion=RUBRIC[0]["criterion"])
    assert sent["messages"] in [render("criterion_grader", None, question=QUESTION, response="a response",
                                       criterion=c["criterion"]) for c in RUBRIC]
    assert expected_messages[0] == sent["messages"][0]
    assert sent["response_format"]["type"] == "json_schema"
    assert sent["response_format"]["json_schema"]["schema"]["required"] == ["explanation", "criteria_met"]


def test_criteria_of_many_responses_go_out_concurrently():
    with FakeJudge({c["criterion"]: True for c in RUBRIC}, delay=0.2) as judge:
        results = client(judge, max_concurrency=8).score_many([(QUESTION, f"response {i}", RUBRIC) for i in range(4)])
    assert [r.score for r in results] == [pytest.approx(0.6)] * 4  # (10-4)/10: the pitfall is met too
    assert judge.chat_requests == 16 and judge.max_in_flight > 1


def test_transient_failures_are_retried_with_backoff():
    with FakeJudge({c["criterion"]: True for c in RUBRIC}, fail_first=2) as judge:
        res = client(judge, max_concurrency=1).score(QUESTION, "r", RUBRIC)
    assert res.ok and res.score == pytest.approx(0.6)
    assert judge.chat_requests == len(RUBRIC) + 2


def test_retries_are_bounded_and_the_failure_is_reported_not_zero():
    with FakeJudge({c["criterion"]: True for c in RUBRIC}, always_fail=True) as judge:
        res = client(judge, max_retries=1, max_concurrency=1).score(QUESTION, "r", RUBRIC)
    assert res.score is None and not res.ok
    assert res.error.startswith("judge error on 4 of 4 criteria: judge at ") and "HTTP 503" in res.error
    assert judge.chat_requests == len(RUBRIC) * 2  # one call and one retry per criterion


def test_output_that_never_validates_is_an_error_for_that_criterion():
    verdicts = {c["criterion"]: True for c in RUBRIC}
    verdicts["Mentions wavelength dependence"] = "garbage"
    with FakeJudge(verdicts) as judge:
        res = client(judge).score(QUESTION, "r", RUBRIC)
    assert res.score is None and res.judge_errors == 1 and "invalid JSON" in res.error
    assert res.result.partial_score == pytest.approx(3 / 7)  # (5+2-4)/(5+2), for inspection only
    assert judge.chat_requests == len(RUBRIC) - 1 + 3  # the bad one asked max_attempts (3) times


def test_a_refused_key_a_dead_endpoint_and_a_slow_judge_are_errors_not_exceptions():
    with FakeJudge({c["criterion"]: True for c in RUBRIC}) as judge:
        res = client(judge, api_key="wrong-key").score(QUESTION, "r", RUBRIC)
        assert res.score is None and "refused the API key (HTTP 401)" in res.error and "wrong-key" not in res.error
        url = judge.url
    dead = RewardClient(url, "k", timeout=2.0, max_retries=1).score(QUESTION, "r", RUBRIC)  # server stopped
    assert dead.score is None and "unreachable after 1 retries" in dead.error
    with FakeJudge({c["criterion"]: True for c in RUBRIC}, hang=5.0) as slow:
        res = client(slow, timeout=0.5, max_retries=0, model="fake-judge").score(QUESTION, "r", RUBRIC)
    assert res.score is None and "did not answer within 0.5 s" in res.error


def test_a_bad_rubric_is_an_error_for_its_item_only():
    """Through the library's own check (operators.rubric.check_scorable): a sign that disagrees with the polarity,
    a pitfall that penalises a correct response, no positive weight; and a rubric that is not one at all."""
    flipped = [dict(RUBRIC[0], weight=-5)] + RUBRIC[1:]
    avoids = RUBRIC[:3] + [{"criterion": "Correctly explains that the sky scatters blue light", "weight": -4,
                            "polarity": "negative"}]
    with FakeJudge({c["criterion"]: True for c in RUBRIC}) as judge:
        good, bad, sign, pitfall, no_positive = client(judge).score_many([
            (QUESTION, "r", RUBRIC), (QUESTION, "r", [{"criterion": "x", "weight": "heavy"}]),
            (QUESTION, "r", flipped), (QUESTION, "r", avoids), (QUESTION, "r", RUBRIC[3:])])
    assert good.score == pytest.approx(0.6)
    assert bad.score is None and bad.error.startswith("not an ARES rubric")
    assert sign.score is None and sign.error == "rubric refused: criterion 0 polarity positive disagrees with weight -5"
    assert pitfall.score is None and "penalises a correct response" in pitfall.error
    assert no_positive.score is None and no_positive.error.startswith("rubric refused:")
    assert judge.chat_requests == len(RUBRIC)  # only the good rubric reached the judge


def test_labels_round_trip_and_reject_what_is_not_one():
    label = parse_label(dump_label(QUESTION, RUBRIC))
    assert label.question == QUESTION and [r.model_dump() for r in label.rubric] == RUBRIC
    assert parse_label({"question": QUESTION, "rubric": RUBRIC}).rubric[3].weight == -4
    with pytest.raises(LabelError, match=r"^not an ARES rubric label: rubric: Field required$"):
        parse_label(json.dumps({"question": "q"}))


# -- the adapters against the stand-in judge ----------------------------------------------------------------------------
@pytest.fixture
def judge_env(monkeypatch):
    with FakeJudge({c["criterion"]: c["weight"] > 0 for c in RUBRIC}) as judge:
        monkeypatch.setenv("ARES_JUDGE_URL", judge.url)
        monkeypatch.setenv("ARES_JUDGE_API_KEY", judge.key)
        monkeypatch.setenv("ARES_JUDGE_MAX_RETRIES", "0")
        monkeypatch.setenv("ARES_JUDGE_TIMEOUT", "5")
        yield judge


def test_verl_returns_the_same_keys_scored_or_not(judge_env, monkeypatch):
    gt = dump_label(QUESTION, RUBRIC)
    ok = compute_score("ares", "Rayleigh scattering ...", gt, {"index": 0})
    assert tuple(ok) == REWARD_KEYS and ok["score"] == pytest.approx(1.0) and ok["judge_ok"] == 1.0
    assert ok["criteria"] == 4 and ok["criteria_met"] == 3
    down = compute_score("ares", "r", gt, {}, judge_url="http://127.0.0.1:9/v1")  # verl's reward_kwargs
    assert tuple(down) == REWARD_KEYS and down["judge_ok"] == 0.0 and down["score"] == 0.0
    assert down["judge_errors"] == 4
    with pytest.raises(LabelError):
        compute_score("other", "r", "42", {})


def test_trl_takes_lists_and_gives_floats_or_none(judge_env):
    metrics = {}
    fn = make_reward_func()
    prompts = [[{"role": "user", "content": QUESTION}]] * 2
    completions = [[{"role": "assistant", "content": "Rayleigh"}], [{"role": "assistant", "content": "ocean"}]]
    out = fn(prompts=prompts, completions=completions, completion_ids=[[1], [2]], question=[QUESTION] * 2,
             rubric=[RUBRIC, RUBRIC], trainer_state=None, log_extra=lambda *a: None,
             log_metric=lambda k, v: metrics.__setitem__(k, v))
    assert out == [pytest.approx(1.0), pytest.approx(1.0)] and metrics == {"ares/judge_error_rate": 0.0}
    down = make_reward_func(RewardClient("http://127.0.0.1:9/v1", "k", timeout=1, max_retries=0))
    out = down(prompts=["q"], completions=["a"], rubric=[RUBRIC], log_metric=lambda k, v: metrics.__setitem__(k, v))
    assert out == [None] and metrics["ares/judge_error_rate"] == 1.0  # TRL: no reward for that sample
    with pytest.raises(ValueError, match="needs the dataset's 'rubric' column"):
        fn(prompts=["q"], completions=["a"])


def test_openrlhf_body_and_the_response_inside_the_query(judge_env):
    prompt = "<|im_start|>user\nWhy is the sky blue?<|im_end|>\n<|im_start|>assistant\n"
    assert response_of(prompt + "Rayleigh scattering.<|im_end|>", prompt) == "Rayleigh scattering."
    assert response_of("<|im_start|>user\nWhy is the sky blue ?<|im_end|>Answer", prompt).endswith("Answer")
    body = rewards(RewardClient.from_env(), [prompt + "Rayleigh<|im_end|>"], [prompt], [dump_label(QUESTION, RUBRIC)])
    assert body == {"rewards": [1.0], "scores": [1.0], "extra_logs": {"judge_ok": [1.0], "judge_errors": [0.0]}}
    from fastapi.testclient import TestClient

    api = TestClient(app(RewardClient("http://127.0.0.1:9/v1", "k", timeout=1, max_retries=0)))
    resp = api.post("/get_reward", json={"query": [prompt + "x"], "prompts": [prompt],
                                         "labels": [dump_label(QUESTION, RUBRIC)]})
    assert resp.status_code == 200 and resp.json()["extra_logs"]["judge_ok"] == [0.0]
    bad = api.post("/get_reward", json={"query": ["x"], "prompts": ["x"], "labels": ["not a label"]})
    assert bad.status_code == 422 and "not an ARES rubric label" in bad.json()["error"]
