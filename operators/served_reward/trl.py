"""TRL's GRPO reward function for ARES data (huggingface/trl v1.9.0, `GRPOTrainer._calculate_rewards`).

    from operators.served_reward.trl import ares_rubric_reward     # settings from ARES_JUDGE_* (client.py)
    trainer = GRPOTrainer(model=..., reward_funcs=[ares_rubric_reward], train_dataset=load_dataset(EXPORT)["train"])

or `make_reward_func(RewardClient(url, key))` for explicit settings. The dataset is `ares export --format hf`: TRL
reads its `prompt` column and hands every other column to the reward function as a keyword argument, so `question`
and `rubric` arrive per sample (keep `remove_unused_columns=False`).

TRL calls `f(prompts=..., completions=..., completion_ids=..., **columns, trainer_state=..., log_extra=...,
log_metric=...)` and takes a list with one float or None per completion. None is TRL's "no reward for this sample":
a completion that no reward function scores is left out of its group's baseline and gets no advantage. A completion
the judge could not score gets None, and the share of such completions is logged as the metric
`ares/judge_error_rate` (with `log_metric`), so judge trouble is visible and never mistaken for a bad answer.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from operators.served_reward.client import RewardClient

log = logging.getLogger(__name__)


def _text(message: Any) -> str:
    """A completion or prompt in TRL's standard (a string) or conversational (a list of messages) format."""
    if isinstance(message, str):
        return message
    if isinstance(message, list) and message:
        content = message[-1].get("content", "") if isinstance(message[-1], dict) else message[-1]
        if isinstance(content, list):  # multimodal content parts
            return "".join(p.get("text", "") for p in content if isinstance(p, dict))
        return str(content)
    return ""


def make_reward_func(client: RewardClient | None = None) -> Callable[..., list[float | None]]:
    """A TRL reward function scoring through `client` (built from the environment on first use when None)."""
    state: dict[str, RewardClient | None] = {"client": client}

    def ares_rubric_reward(prompts: list[Any], completions: list[Any], completion_ids: Any = None,
                           **kwargs: Any) -> list[float | None]:
        rubrics = kwargs.get("rubric")
        if rubrics is None:
            raise ValueError("ares_rubric_reward needs the dataset's 'rubric' column (export with `ares export "
                             "--format hf` and keep remove_unused_columns=False)")
        questions = kwargs.get("question") or [_text(p) for p in prompts]
        if state["client"] is None:
            state["client"] = RewardClient.from_env()
        results = state["client"].score_many(
            [(q, _text(c), r) for q, c, r in zip(questions, completions, rubrics, strict=True)])
        failed = [r for r in results if not r.ok]
        if failed:
            log.warning("ARES reward: %d of %d completions not scored (first: %s); TRL gets None for them",
                        len(failed), len(results), failed[0].error)
        if callable(kwargs.get("log_metric")):
            kwargs["log_metric"]("ares/judge_error_rate", len(failed) / len(results) if results else 0.0)
        return [r.score if r.ok else None for r in results]

    return ares_rubric_reward


ares_rubric_reward = make_reward_func()
