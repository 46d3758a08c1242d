"""Loggers whose every line names the job it is about (`extra=` job_id, task_name)."""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

logger = logging.getLogger("interlink.runtime")


class JobLogger(logging.LoggerAdapter[logging.Logger]):
    """A LoggerAdapter that adds to a call's `extra` instead of replacing it."""

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        kwargs["extra"] = {**(self.extra or {}), **kwargs.get("extra", {})}
        return msg, kwargs


def job_logger(job_id: int, task_name: str, **fields: Any) -> JobLogger:
    return JobLogger(logger, {"job_id": job_id, "task_name": task_name, **fields})
