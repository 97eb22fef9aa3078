"""Ship the repository's `conf/` and `data/sample/` inside the wheel, as `pipelines/builtin/`.

They stay at the top of the repository (where a user of the checkout looks for them); an installed package finds them
at `pipelines/builtin/` (`pipelines/locations.py`). An editable install reads them from the checkout, so only a
regular build copies them. Everything else about the package is in pyproject.toml.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

BUILTIN = ("conf", "data/sample")  # folders of the repository, copied with the same layout


class BuildPyWithBuiltins(build_py):
    def run(self):
        super().run()
        if self.editable_mode:
            return
        root = Path(__file__).resolve().parent
        for folder in BUILTIN:
            shutil.copytree(root / folder, Path(self.build_lib, "pipelines", "builtin", folder), dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": BuildPyWithBuiltins})
