"""Faithfulness judge: is every claim of the reference answer supported by the chunk it was written from?"""

from operators.llm.judge import judge_stage

STAGE = judge_stage(
    "faithfulness", "every claim of the reference answer is supported by the document", passes_on="yes",
    values=lambda d, c: {"document": d.chunk(c.chunk_index).text, "question": c.question,
                         "answer": c.reference_answer},
    reads=["document.chunks", "candidate.chunk_index", "candidate.question", "candidate.reference_answer"],
)
