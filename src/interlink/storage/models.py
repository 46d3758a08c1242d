"""The tables. One declarative base; every table is owned by an organization but `jobs`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from interlink.storage.types import JSONDocument, UTCDateTime, utcnow


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSONDocument}


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKey(Base):
    """An organization's API key. Only the SHA-256 of the key is kept; keys are random."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str | None] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(20))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class CustomElement(Base):
    """An element definition an organization registered; visible to that organization only."""

    __tablename__ = "custom_elements"
    __table_args__ = (UniqueConstraint("organization_id", "key"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    key: Mapped[str] = mapped_column(String(100))
    definition: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Instance(Base):
    """One organization's connection to an element. Secrets live encrypted in `credentials`."""

    __tablename__ = "instances"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    element_key: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    config: Mapped[dict[str, Any]]
    credentials: Mapped[str] = mapped_column(Text)
    events: Mapped[dict[str, Any]]
    signing_secret: Mapped[str] = mapped_column(Text)
    hook_token: Mapped[str] = mapped_column(String(64))
    auth_state: Mapped[str] = mapped_column(String(20), default="unknown")
    auth_message: Mapped[str | None] = mapped_column(Text)
    auth_checked_at: Mapped[datetime | None]
    delivery_state: Mapped[str] = mapped_column(String(20), default="enabled")
    delivery_reason: Mapped[str | None] = mapped_column(Text)
    # Failures since the last success; delivery is disabled when this gets too old.
    delivery_failing_since: Mapped[datetime | None]
    # The previous signing secret, still signing deliveries until `previous_secret_expires_at`.
    previous_signing_secret: Mapped[str | None] = mapped_column(Text)
    previous_secret_expires_at: Mapped[datetime | None]
    # The last `sequence` handed to an event of this instance.
    event_sequence: Mapped[int] = mapped_column(BigInteger, default=0)
    # Deleted instances disappear from the API at once; their data follows retention.
    deleted_at: Mapped[datetime | None] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class OAuthAuthorization(Base):
    """An authorization-code flow under way: its `state` (hashed), bound to an organization.

    `request` (encrypted JSON) holds what the instance will be made of and the PKCE
    verifier; the state is single use (`used_at`) and short-lived (`expires_at`).
    """

    __tablename__ = "oauth_authorizations"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    element_key: Mapped[str] = mapped_column(String(100))
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    request: Mapped[str] = mapped_column(Text)
    redirect_uri: Mapped[str] = mapped_column(String(2048))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    error: Mapped[str | None] = mapped_column(Text)
    instance_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None]


class IdempotentRequest(Base):
    """The first answer to a creating POST, replayed for the same `Idempotency-Key`."""

    __tablename__ = "idempotent_requests"

    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(1000))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int]
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class RateBudget(Base):
    """A vendor's token bucket shared by the processes of a deployment (PostgreSQL)."""

    __tablename__ = "rate_budgets"

    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    tokens: Mapped[float]
    filled_at: Mapped[datetime]
    paused_until: Mapped[datetime | None]


class Job(Base):
    """A background job of the embedded runtime (procrastinate keeps its own on PostgreSQL)."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_ready", "status", "scheduled_at"),
        # A second *queued* job with the same queueing lock is refused by the database.
        Index(
            "uq_jobs_queueing_lock",
            "queueing_lock",
            unique=True,
            sqlite_where=text("status = 'todo'"),
            postgresql_where=text("status = 'todo'"),
        ),
        Index("ix_jobs_lock", "lock", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_name: Mapped[str] = mapped_column(String(200))
    args: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(20), default="todo")
    lock: Mapped[str | None] = mapped_column(String(255))
    queueing_lock: Mapped[str | None] = mapped_column(String(255))
    scheduled_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0)
    worker_id: Mapped[str | None] = mapped_column(String(100))
    heartbeat_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class EventStream(Base):
    """Polling state of one object of one instance: its mark, its schedule, its health."""

    __tablename__ = "event_streams"
    __table_args__ = (Index("ix_event_streams_due", "next_poll_at"),)

    instance_id: Mapped[str] = mapped_column(
        ForeignKey("instances.id", ondelete="CASCADE"), primary_key=True
    )
    object_name: Mapped[str] = mapped_column(String(100), primary_key=True)
    state: Mapped[str] = mapped_column(String(20), default="baselining")
    # The vendor's own updated time of the newest change seen (RFC 3339, as the vendor
    # wrote it), never the hub's clock.
    high_water_mark: Mapped[str | None] = mapped_column(String(64))
    deletes_mark: Mapped[str | None] = mapped_column(String(64))
    next_poll_at: Mapped[datetime | None]
    next_full_scan_at: Mapped[datetime | None]
    last_poll_at: Mapped[datetime | None]
    last_poll_outcome: Mapped[str | None] = mapped_column(String(20))
    last_error: Mapped[str | None] = mapped_column(Text)
    last_event_at: Mapped[datetime | None]
    # A poll's progress through the vendor's pages, so a crashed poll resumes (JSON).
    checkpoint: Mapped[dict[str, Any] | None]


class Fingerprint(Base):
    """What Interlink last saw of one record: enough to tell new, changed, same and gone."""

    __tablename__ = "fingerprints"

    instance_id: Mapped[str] = mapped_column(
        ForeignKey("instances.id", ondelete="CASCADE"), primary_key=True
    )
    object_name: Mapped[str] = mapped_column(String(100), primary_key=True)
    record_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    vendor_updated: Mapped[str | None] = mapped_column(String(64))
    content_hash: Mapped[str] = mapped_column(String(32))
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    # The full scan that last saw the record, for vendors whose deletes only show by absence.
    scan_id: Mapped[str | None] = mapped_column(String(40))
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class Event(Base):
    """One change of one record, stored before it is delivered; its id never changes."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("instance_id", "sequence"),
        # A vendor's webhook event seen twice is stored once.
        Index(
            "uq_events_vendor_event",
            "instance_id",
            "vendor_event_id",
            unique=True,
            sqlite_where=text("vendor_event_id IS NOT NULL"),
            postgresql_where=text("vendor_event_id IS NOT NULL"),
        ),
        Index("ix_events_recorded", "recorded_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    instance_id: Mapped[str] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    sequence: Mapped[int] = mapped_column(BigInteger)
    object_name: Mapped[str] = mapped_column(String(100))
    record_id: Mapped[str] = mapped_column(String(255))
    change: Mapped[str] = mapped_column(String(20))
    record: Mapped[dict[str, Any] | None]
    vendor_time: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(20))
    vendor_event_id: Mapped[str | None] = mapped_column(String(255))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


# Deliveries still to send (`pending`, `failed`), spelt out for the partial index; queries
# must spell it with the same literals for the database to use that index.
UNFINISHED_DELIVERY = "status IN ('pending', 'failed')"


class Delivery(Base):
    """One batch of events for one callback URL; `id` is also its `webhook-id`."""

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_queue", "instance_id", "status", "first_sequence"),
        # The queue itself, in the order it is sent: its head is read without a sort and
        # without touching finished deliveries, however long the backlog.
        Index(
            "ix_deliveries_unfinished",
            "instance_id",
            "first_sequence",
            "id",
            sqlite_where=text(UNFINISHED_DELIVERY),
            postgresql_where=text(UNFINISHED_DELIVERY),
        ),
        Index("ix_deliveries_created", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    instance_id: Mapped[str] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    first_sequence: Mapped[int] = mapped_column(BigInteger)
    last_sequence: Mapped[int] = mapped_column(BigInteger)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    # The large columns come last: SQLite keeps a row's first columns on its own page and
    # the rest in overflow pages, so reading the queue's state never walks a body.
    event_ids: Mapped[list[str]] = mapped_column(JSONDocument)
    # The CloudEvents batch as sent, encoded when the delivery is created: sending reads
    # no events, and every attempt posts the same bytes. None once the delivery has
    # succeeded (it is never sent again). Deferred: only the sender reads it.
    payload: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)


class DeliveryAttempt(Base):
    """One try of a delivery: when, what answered, how long it took."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), index=True
    )
    attempted_at: Mapped[datetime] = mapped_column(default=utcnow)
    status_code: Mapped[int | None]
    latency_ms: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)
    response_body: Mapped[str | None] = mapped_column(Text)


class UploadReceipt(Base):
    """An upload whose file is being received: committed before its first byte is stored,
    deleted in the transaction that creates its job. One left behind by a process that
    died mid-upload names the files to remove (bulk.retention.sweep_abandoned_uploads).
    """

    __tablename__ = "upload_receipts"

    job_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class BulkJob(Base):
    """A query (download) or upload job; its files live in the file store under its id.

    `checkpoint` is how far the job has got, committed with the file parts it covers, so
    a job whose process died resumes there (see interlink.bulk.export / .upload).
    """

    __tablename__ = "bulk_jobs"
    __table_args__ = (
        Index("ix_bulk_jobs_list", "organization_id", "created_at", "id"),
        Index("ix_bulk_jobs_finished", "finished_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    instance_id: Mapped[str] = mapped_column(
        ForeignKey("instances.id", ondelete="CASCADE"), index=True
    )
    object_name: Mapped[str] = mapped_column(String(100))
    direction: Mapped[str] = mapped_column(String(10))  # download | upload
    status: Mapped[str] = mapped_column(String(20), default="queued")
    format: Mapped[str] = mapped_column(String(10))  # the download default, or the upload's kind
    query: Mapped[str | None] = mapped_column(Text)  # CEQL, for a download
    action: Mapped[str | None] = mapped_column(String(10))  # for an upload
    identifier: Mapped[str | None] = mapped_column(String(200))
    native_requested: Mapped[bool] = mapped_column(Boolean, default=True)
    native: Mapped[bool] = mapped_column(Boolean, default=False)
    callback_url: Mapped[str | None] = mapped_column(Text)
    records: Mapped[int] = mapped_column(BigInteger, default=0)
    failed: Mapped[int] = mapped_column(BigInteger, default=0)
    pages: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    checkpoint: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    progressed_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    # Set when retention removed the job's files; downloads then answer 410.
    files_removed_at: Mapped[datetime | None]


class BulkExportedId(Base):
    """An id a download job has written: how a record the vendor returns twice (it changed
    while the job paged) is written once, without holding every id in memory."""

    __tablename__ = "bulk_exported_ids"

    job_id: Mapped[str] = mapped_column(
        ForeignKey("bulk_jobs.id", ondelete="CASCADE"), primary_key=True
    )
    record_id: Mapped[str] = mapped_column(String(255), primary_key=True)
