"""Where a bulk job's files live in the file store: one folder per job."""

from __future__ import annotations


def data_key(job_id: str) -> str:
    """A download's records (NDJSON), or an upload's file as it was received."""
    return f"bulk/{job_id}/data"


def sorted_key(job_id: str) -> str:
    """A download with `order by`: its records sorted (the data file stays as read)."""
    return f"bulk/{job_id}/sorted"


def runs_prefix(job_id: str) -> str:
    """Where sorting keeps its sorted runs while it merges them."""
    return f"bulk/{job_id}/runs"


def download_key(job_id: str, *, ordered: bool) -> str:
    return sorted_key(job_id) if ordered else data_key(job_id)


def results_key(job_id: str) -> str:
    return f"bulk/{job_id}/results"


def errors_key(job_id: str) -> str:
    return f"bulk/{job_id}/errors"


def job_prefix(job_id: str) -> str:
    return f"bulk/{job_id}"
