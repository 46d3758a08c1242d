"""The PostgreSQL job runtime: procrastinate, behind the `JobRuntime` interface.

Chosen when the hub's database is PostgreSQL. Jobs are rows of procrastinate's tables in
the hub's own database, deferred on the caller's connection (so a job exists exactly when
the state it belongs to commits), run by any number of `interlink worker` processes.
"""

from interlink.runtime.postgres.runtime import PostgresRuntime

__all__ = ["PostgresRuntime"]
