"""Where the installed project finds what it ships (built-in configs, sample data) and keeps the tiny model.

An installed wheel carries the repository's `conf/` and `data/sample/` inside the package, as `pipelines/builtin/`
(put there at build time by setup.py); a checkout (an editable install, or the source tree) reads them where they
are. Both keep the same layout, so `conf/local.yaml` reaches `../data/sample/` either way. The tiny model is not
shipped: `ares prepare-model` converts it into a cache folder, the checkout's `.cache/models/` or, for an installed
package, the user's cache directory, unless `ARES_TINY_MODEL_DIR` names one.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
INSTALLED_BUILTIN = PACKAGE_DIR / "builtin"  # what setup.py copies into a wheel
CHECKOUT = PACKAGE_DIR.parent  # a source tree, if the package was not installed from a wheel
TINY_MODEL_NAME = "SmolLM2-135M-Instruct"
TINY_MODEL_ENV = "ARES_TINY_MODEL_DIR"


def is_checkout() -> bool:
    """The package runs from a source tree (editable install or PYTHONPATH), not from an installed wheel."""
    return not (INSTALLED_BUILTIN / "conf").is_dir() and (CHECKOUT / "pyproject.toml").is_file()


@lru_cache(maxsize=None)
def builtin_root() -> Path:
    """The folder holding `conf/` and `data/sample/`: inside the installed package, or the checkout."""
    if (INSTALLED_BUILTIN / "conf").is_dir():
        return INSTALLED_BUILTIN
    if is_checkout() and (CHECKOUT / "conf").is_dir():
        return CHECKOUT
    raise FileNotFoundError(
        f"the built-in configs are missing: neither {INSTALLED_BUILTIN / 'conf'} (an installed wheel) nor "
        f"{CHECKOUT / 'conf'} (a checkout) exists; reinstall the package"
    )


def conf_dir() -> Path:
    return builtin_root() / "conf"


def sample_dir() -> Path:
    return builtin_root() / "data" / "sample"


def tiny_model_dir() -> Path:
    """Where `ares prepare-model` puts the tiny model and the built-in local config looks for it."""
    if os.environ.get(TINY_MODEL_ENV):
        return Path(os.environ[TINY_MODEL_ENV]).expanduser().resolve()
    if is_checkout():
        return CHECKOUT / ".cache" / "models" / TINY_MODEL_NAME
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser()
    return cache / "ares-on-ray" / "models" / TINY_MODEL_NAME
