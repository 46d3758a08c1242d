"""Reading and purging procrastinate's job rows in the shape of `JobInfo`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from interlink.runtime.base import JobInfo, JobStatus

# procrastinate keeps times as events; cancelled and aborted jobs read as failed.
GET_JOB = """
SELECT job.id, job.task_name, job.args, job.status::text AS status, job.attempts,
       job.lock, job.queueing_lock, job.scheduled_at,
       (SELECT min(at) FROM procrastinate_events WHERE job_id = job.id) AS created_at,
       (SELECT max(at) FROM procrastinate_events
         WHERE job_id = job.id AND type = 'started') AS started_at,
       (SELECT max(at) FROM procrastinate_events
         WHERE job_id = job.id
           AND type IN ('succeeded', 'failed', 'cancelled', 'aborted')) AS finished_at,
       (SELECT error FROM job_errors WHERE job_id = job.id) AS last_error
  FROM procrastinate_jobs job
 WHERE job.id = %(job_id)s
"""

PURGE_FINISHED = """
DELETE FROM procrastinate_jobs job
 WHERE job.status IN ('succeeded', 'failed', 'cancelled', 'aborted')
   AND NOT EXISTS (
       SELECT 1 FROM procrastinate_events event
        WHERE event.job_id = job.id AND event.at >= %(finished_before)s)
RETURNING job.id
"""

QUEUE_COUNTS = """
SELECT task_name, status::text AS status, count(*) AS jobs
  FROM procrastinate_jobs
 WHERE status IN ('todo', 'doing')
 GROUP BY task_name, status
"""

_STATUSES = {
    "todo": JobStatus.TODO,
    "doing": JobStatus.DOING,
    "aborting": JobStatus.DOING,
    "succeeded": JobStatus.SUCCEEDED,
}


def job_info(row: dict[str, Any]) -> JobInfo:
    created_at: datetime = row["created_at"]
    return JobInfo(
        id=row["id"],
        task_name=row["task_name"],
        args=row["args"] or {},
        status=_STATUSES.get(row["status"], JobStatus.FAILED),
        # procrastinate counts the runs that ended (a retry or the end); ours counts the
        # current run too, as the embedded runtime does.
        attempts=row["attempts"] + (1 if row["status"] in ("doing", "aborting") else 0),
        lock=row["lock"],
        queueing_lock=row["queueing_lock"],
        scheduled_at=row["scheduled_at"] or created_at,
        created_at=created_at,
        started_at=row["started_at"],
        finished_at=row["finished_at"] if row["status"] not in ("todo", "doing") else None,
        last_error=row["last_error"],
    )
