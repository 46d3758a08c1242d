"""The tables. One declarative base; every table is owned by an organization but `jobs`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
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
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


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
