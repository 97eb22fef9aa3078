"""verl's custom reward function for ARES data (verl-project/verl after v0.9.0, `verl/trainer/ppo/reward.py`,
`verl/experimental/reward_loop/reward_manager/naive.py`).

verl config:

    reward.custom_reward_function.path=<site-packages>/operators/served_reward/verl.py
    reward.custom_reward_function.name=compute_score
    # optional, passed to compute_score as keyword arguments (else the ARES_JUDGE_* environment):
    +reward.custom_reward_function.reward_kwargs.judge_url=http://judge-host:8000/v1

The data is `ares export --format verl`: `reward_model.ground_truth` holds the question and its rubric.

verl takes the extra keys of a dict result from the first sample of a batch and reads them from every sample, so
every call returns the same keys, judge failure or not: `score`, `judge_ok` (1.0, or 0.0 when the judge failed),
`judge_errors` (criteria the judge could not grade), `criteria`, `criteria_met`. verl's `score` must be a number:
a sample the judge could not score gets 0.0 with `judge_ok` 0.0, which verl logs beside the score, so judge trouble
shows in the training metrics instead of passing for a bad response; and one warning line is logged. A ground truth
that is not an ARES label is a data error and raises at once.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from operators.served_reward.client import RewardClient
from operators.served_reward.labels import parse_label

log = logging.getLogger(__name__)
REWARD_KEYS = ("score", "judge_ok", "judge_errors", "criteria", "criteria_met")
FAILED_SCORE = 0.0
_CLIENT_KWARGS = {"judge_url": "base_url", "judge_model": "model", "judge_api_key_file": "api_key_file",
                  "judge_timeout": "timeout", "judge_max_retries": "max_retries",
                  "judge_concurrency": "max_concurrency"}
_clients: dict[tuple, RewardClient] = {}
_lock = threading.Lock()


def _client(kwargs: dict[str, Any]) -> RewardClient:
    """One client per distinct settings, per process (verl calls compute_score from many threads)."""
    settings = {_CLIENT_KWARGS[k]: v for k, v in kwargs.items() if k in _CLIENT_KWARGS and v is not None}
    key = tuple(sorted(settings.items()))
    with _lock:
        if key not in _clients:
            _clients[key] = RewardClient.from_env(**settings)
        return _clients[key]


def compute_score(data_source: str, solution_str: str, ground_truth: Any, extra_info: dict | None = None,
                  **kwargs: Any) -> dict[str, float]:
    """The rubric reward of one response; the same keys for every sample (see the module docstring)."""
    label = parse_label(ground_truth)
    result = _client(kwargs).score(label.question, solution_str, label.rubric)
    if not result.ok:
        log.warning("ARES reward: no score for a %s sample (%s); verl gets score %.1f with judge_ok 0",
                    data_source, result.error, FAILED_SCORE)
    return {
        "score": float(result.score) if result.ok else FAILED_SCORE,
        "judge_ok": 1.0 if result.ok else 0.0,
        "judge_errors": float(result.judge_errors),
        "criteria": float(result.criteria or len(label.rubric)),
        "criteria_met": float(result.criteria_met),
    }
