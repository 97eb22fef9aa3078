"""The rubric reward over a served judge: score (question, response, rubric) items through an OpenAI-compatible
endpoint, with the library's formula and grader prompt (`operators.reward.score_many`, the `criterion_grader`
template), so a trainer's reward is computed exactly as `ares score` computes it.

Every criterion of every item of a call is sent concurrently. A result carries either a score or an error that says
why there is none (the judge unreachable, slow, refusing the key, its output invalid after retries, a rubric the
library refuses to score: `operators.rubric.check_scorable`); an error is never turned into a silent 0 here: the trainer adapters decide, in each trainer's own
terms, what an unscored sample gets.

Settings come from arguments or, for adapters that a trainer loads by name, from the environment:
ARES_JUDGE_URL (e.g. http://host:8000/v1), ARES_JUDGE_API_KEY or ARES_JUDGE_API_KEY_FILE (default
~/.config/ares/judge_api_key, the file `ares serve-judge` writes), ARES_JUDGE_MODEL (default: the endpoint's model),
ARES_JUDGE_TIMEOUT (seconds per call, default 60), ARES_JUDGE_MAX_RETRIES (default 3), ARES_JUDGE_CONCURRENCY
(default 16).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Sequence

from pydantic import BaseModel

from operators.llm.sampling import SamplingConfig
from operators.reward import GRADER_SAMPLING, RewardResult, ScoreItem, score_many
from operators.rubric import RubricError, check_scorable
from operators.served_reward.judge_client import OpenAIJudgeClient
from operators.served_reward.labels import LabelError, rubric_items

log = logging.getLogger(__name__)
DEFAULT_KEY_FILE = Path.home() / ".config" / "ares" / "judge_api_key"


class ScoredResponse(BaseModel):
    """One response's reward: `score` in [0, 1], or None with `error` saying why."""

    score: float | None
    error: str | None = None
    criteria: int = 0
    criteria_met: int = 0
    judge_errors: int = 0
    result: RewardResult | None = None

    @property
    def ok(self) -> bool:
        return self.score is not None


def read_api_key(path: str | os.PathLike | None = None) -> str | None:
    """ARES_JUDGE_API_KEY, else the key file (ARES_JUDGE_API_KEY_FILE or the default), else None."""
    if os.environ.get("ARES_JUDGE_API_KEY"):
        return os.environ["ARES_JUDGE_API_KEY"]
    key_file = Path(path or os.environ.get("ARES_JUDGE_API_KEY_FILE") or DEFAULT_KEY_FILE).expanduser()
    if key_file.is_file():
        return key_file.read_text(encoding="utf-8").strip() or None
    return None


def _from_result(result: RewardResult) -> ScoredResponse:
    met = sum(1 for v in result.verdicts if v.met)
    base = dict(criteria=len(result.verdicts), criteria_met=met, judge_errors=result.errors, result=result)
    if result.score is not None:
        return ScoredResponse(score=result.score, **base)
    if result.errors:
        first = next(v.error for v in result.verdicts if v.error)
        return ScoredResponse(score=None, error=f"judge error on {result.errors} of {len(result.verdicts)} "
                                                f"criteria: {first}", **base)
    return ScoredResponse(score=None, error="the rubric has no positive weight: the score is undefined", **base)


class RewardClient:
    def __init__(self, base_url: str, api_key: str | None = None, model: str | None = None, *,
                 max_concurrency: int = 16, timeout: float = 60.0, max_retries: int = 3,
                 sampling: SamplingConfig | None = None, prompts_dir: str | None = None):
        self.judge = OpenAIJudgeClient(base_url, api_key, model, max_concurrency=max_concurrency, timeout=timeout,
                                       max_retries=max_retries)
        self.sampling = sampling or GRADER_SAMPLING
        self.prompts_dir = prompts_dir

    @classmethod
    def from_env(cls, **overrides: Any) -> "RewardClient":
        """Settings from ARES_JUDGE_* (see the module docstring); keyword arguments win."""
        env = os.environ
        url = overrides.pop("base_url", None) or env.get("ARES_JUDGE_URL")
        if not url:
            raise ValueError("no judge endpoint: set ARES_JUDGE_URL (e.g. http://127.0.0.1:8000/v1), the URL "
                             "`ares serve-judge` prints")
        settings: dict[str, Any] = dict(
            api_key=overrides.pop("api_key", None) or read_api_key(overrides.pop("api_key_file", None)),
            model=overrides.pop("model", None) or env.get("ARES_JUDGE_MODEL"),
            timeout=float(overrides.pop("timeout", None) or env.get("ARES_JUDGE_TIMEOUT", 60)),
            max_retries=int(overrides.pop("max_retries", None) or env.get("ARES_JUDGE_MAX_RETRIES", 3)),
            max_concurrency=int(overrides.pop("max_concurrency", None) or env.get("ARES_JUDGE_CONCURRENCY", 16)),
        )
        settings.update(overrides)
        return cls(url, **settings)

    def score_many(self, items: Sequence[tuple[str, str, Any]]) -> list[ScoredResponse]:
        """(question, response, rubric) items -> one ScoredResponse each, in order. A rubric is a list of
        {criterion, weight, polarity} (or RubricItems, or its JSON)."""
        out: list[ScoredResponse | None] = [None] * len(items)
        todo: list[tuple[int, ScoreItem]] = []
        for i, (question, response, rubric) in enumerate(items):
            try:
                rubric_ok = rubric_items(rubric)
                check_scorable(rubric_ok)  # the library's own refusal of rubrics it cannot score correctly
                todo.append((i, ScoreItem(str(question), str(response), rubric_ok)))
            except LabelError as exc:
                out[i] = ScoredResponse(score=None, error=str(exc))
            except RubricError as exc:
                out[i] = ScoredResponse(score=None, error=f"rubric refused: {exc}")
        if todo:
            results = score_many([item for _, item in todo], self.judge, self.sampling, self.prompts_dir,
                                 stage="reward")
            for (i, _), result in zip(todo, results):
                out[i] = _from_result(result)
        return out  # type: ignore[return-value]

    def score(self, question: str, response: str, rubric: Any) -> ScoredResponse:
        return self.score_many([(question, response, rubric)])[0]
