"""Names of the bulk jobs; they are stored in job rows, so they never change."""

EXPORT_TASK = "bulk.export"
UPLOAD_TASK = "bulk.upload"
CALLBACK_TASK = "bulk.callback"


def job_lock(job_id: str) -> str:
    """A bulk job runs in one worker at a time, however often it is queued again."""
    return f"bulk:{job_id}"
