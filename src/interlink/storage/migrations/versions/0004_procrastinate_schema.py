"""procrastinate's schema (PostgreSQL only): the distributed job runtime's tables

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28

The schema is procrastinate's own `schema.sql` of the version pinned in pyproject.toml.
A later procrastinate release that changes it comes with a new revision here running that
release's migration files (procrastinate leaves migrations to the project's tool).
"""

from collections.abc import Sequence

from alembic import op
from procrastinate.schema import SchemaManager

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return  # the embedded runtime keeps its jobs in `jobs`
    # The DBAPI cursor directly: without parameters psycopg sends the script as is (many
    # statements, '%' and ':' untouched), which SQLAlchemy's text() would not.
    cursor = bind.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(SchemaManager.get_schema())
    finally:
        cursor.close()
    # Why a job last failed or was retried: procrastinate keeps that in its logs only.
    op.execute(
        "CREATE TABLE job_errors ("
        " job_id bigint PRIMARY KEY REFERENCES procrastinate_jobs (id) ON DELETE CASCADE,"
        " error text NOT NULL)"
    )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.execute("DROP TABLE IF EXISTS job_errors")
    op.execute(
        """
        DO $$
        DECLARE object record;
        BEGIN
            FOR object IN SELECT oid::regprocedure AS name FROM pg_proc
                           WHERE proname LIKE 'procrastinate%' LOOP
                EXECUTE 'DROP FUNCTION IF EXISTS ' || object.name || ' CASCADE';
            END LOOP;
        END $$;
        DROP TABLE IF EXISTS procrastinate_events, procrastinate_periodic_defers,
            procrastinate_jobs, procrastinate_workers CASCADE;
        DROP TYPE IF EXISTS procrastinate_job_status, procrastinate_job_event_type,
            procrastinate_job_to_defer_v1 CASCADE;
        """
    )
