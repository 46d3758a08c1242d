"""The file stores under test: every implementation, with a way to age what it wrote."""

from __future__ import annotations

from pathlib import Path

import pytest

from interlink.files import FileStore
from tests.files.helpers import Subject, local_subject, memory_subject


@pytest.fixture(params=["local", "memory"])
def subject(request: pytest.FixtureRequest, tmp_path: Path) -> Subject:
    if request.param == "local":
        return local_subject(tmp_path / "files")
    return memory_subject()


@pytest.fixture
def store(subject: Subject) -> FileStore:
    return subject.store
