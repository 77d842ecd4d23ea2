"""LangChain's own conformance suite for vector stores, sync and async, in full."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_memvid_capsule import MemvidVectorStore
from langchain_tests.integration_tests import VectorStoreIntegrationTests


class TestMemvidVectorStoreStandard(VectorStoreIntegrationTests):
    @pytest.fixture
    def vectorstore(self, tmp_path: Path) -> Iterator[MemvidVectorStore]:  # type: ignore[override]
        with MemvidVectorStore(tmp_path / "standard.mv2", self.get_embeddings()) as store:
            yield store
