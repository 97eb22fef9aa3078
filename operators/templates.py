"""Prompt templates: versioned text files beside the code, rendered into chat messages.

A template holds a `# version: N` line, the system text, a `---user---` line and the user text, with `$name`
placeholders. A system text `#include NAME` takes NAME.txt: every template that shows a document shares one system
text and puts the document first, so all of a document's calls share one prefix in vLLM's cache. Values are
untrusted (documents, and model outputs derived from them: personas, questions, answers): any tag that could close or
open one of our delimiters (`<document>`, `</question foo>`, `<persona id=1>` ...) is neutralised, so a value cannot
step outside its block.
"""

from __future__ import annotations

import hashlib
import re
import string
from functools import lru_cache
from pathlib import Path

PROMPTS_DIR = Path(__file__).parent / "prompts"
_USER_MARK = "---user---"
DELIMITERS = ("document", "question", "answer", "good_answer", "response", "criterion", "rubric", "persona",
              "reference_answer")
# Any tag named like one of our delimiters, with or without attributes or stray text (`</document foo>`,
# `<document id=1>`, `< /Persona >`): untrusted text must not open or close one of our blocks.
_TAG = re.compile(r"<\s*(/?)\s*(" + "|".join(DELIMITERS) + r")\b[^<>]*>", re.I)


def neutralise(text: str) -> str:
    """Break our delimiter tags inside untrusted text: `</document foo>` becomes `[/document]`."""
    return _TAG.sub(lambda m: f"[{m.group(1)}{m.group(2).lower()}]", text)


@lru_cache(maxsize=None)
def _load(name: str, directory: str) -> tuple[str, str, str]:
    raw = (Path(directory) / f"{name}.txt").read_text(encoding="utf-8")
    lines = raw.splitlines()
    if not lines or not lines[0].startswith("# version:"):
        raise ValueError(f"prompt {name}: first line must be '# version: N'")
    version = lines[0].split(":", 1)[1].strip()
    body = "\n".join(lines[1:])
    if _USER_MARK not in body:
        raise ValueError(f"prompt {name}: missing '{_USER_MARK}' line")
    system, user = body.split(_USER_MARK, 1)
    system = system.strip()
    if system.startswith("#include "):
        system = (Path(directory) / f"{system.split()[1]}.txt").read_text(encoding="utf-8").strip()
    return version, system, user.strip()


def render(name: str, directory: str | None = None, **values: object) -> list[dict[str, str]]:
    """Chat messages for template `name`; every value is neutralised; a missing value is an error."""
    _, system, user = _load(name, str(directory or PROMPTS_DIR))
    safe = {k: neutralise(str(v)) for k, v in values.items()}
    return [
        {"role": "system", "content": string.Template(system).substitute(safe)},
        {"role": "user", "content": string.Template(user).substitute(safe)},
    ]


def prompts_version(directory: str | None = None) -> str:
    """`name@version` of each template plus a content hash, recorded with every instance."""
    d = Path(directory or PROMPTS_DIR)
    digest = hashlib.sha256()
    names = []
    for path in sorted(d.glob("*.txt")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
        if not path.name.startswith("_"):  # _name.txt: shared parts, covered by the hash
            names.append(f"{path.stem}@{_load(path.stem, str(d))[0]}")
    return f"{digest.hexdigest()[:12]}:" + ",".join(names)
