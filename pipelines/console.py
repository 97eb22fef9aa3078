"""What reaches the terminal (or a CI log): quiet by default, everything with `--verbose`.

Quiet means the job's own lines (a few `ares` log lines, the progress table, the summary) and errors. Ray's and Ray
Data's own settings do the silencing, nothing filters text: engine actors' output is not forwarded to the driver
(`ray.init(log_to_driver=False)`; it stays in the session's log files), Ray's driver logger and Ray Data's logger
print errors only, and Ray Data draws no progress bars of its own (`DataContext.enable_progress_bars`). Ray's C++
core worker logs at error level on its own (one line about actor constructor arguments); that line stays.
"""

from __future__ import annotations

import logging
from typing import Any

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(verbose: bool) -> None:
    """The CLI's logging: our `ares` logger at INFO always; every other library at INFO only when verbose."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format=LOG_FORMAT)
    logging.getLogger("ares").setLevel(logging.INFO)


def ray_init_kwargs(verbose: bool) -> dict[str, Any]:
    """`ray.init` arguments: forward workers' output and Ray's INFO lines only when verbose."""
    return dict(log_to_driver=verbose, logging_level=logging.INFO if verbose else logging.ERROR)


def configure_ray_data(verbose: bool) -> None:
    """Ray Data's console: its progress bars and execution logs when verbose, errors only otherwise; Ray's
    deprecation notices (for the code's maintainers, not for a run's reader) only when verbose."""
    import warnings

    from ray.data import DataContext
    from ray.util.annotations import RayDeprecationWarning

    if not verbose:
        warnings.filterwarnings("ignore", category=RayDeprecationWarning)

    ctx = DataContext.get_current()
    ctx.enable_progress_bars = verbose
    ctx.print_on_execution_start = verbose
    logging.getLogger("ray.data").setLevel(logging.DEBUG if verbose else logging.ERROR)
