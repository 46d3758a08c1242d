"""Where a bulk job's files live in the file store: one folder per job."""

from __future__ import annotations


def data_key(job_id: str) -> str:
    """A download's records (NDJSON), or an upload's file as it was received."""
    return f"bulk/{job_id}/data"


def results_key(job_id: str) -> str:
    return f"bulk/{job_id}/results"


def errors_key(job_id: str) -> str:
    return f"bulk/{job_id}/errors"


def job_prefix(job_id: str) -> str:
    return f"bulk/{job_id}"
