"""LangChain on a memvid capsule: a vector store, a retriever, a chat history and embeddings.

Each name loads its module on first use, so ``from langchain_memvid_capsule import
MemvidVectorStore`` does not pay for LangChain's retriever and tracing machinery.

>>> from langchain_memvid_capsule import MemvidRetriever, MemvidVectorStore
>>> MemvidVectorStore.__module__
'langchain_memvid_capsule'
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from langchain_memvid_capsule._chat_history import MemvidChatMessageHistory
    from langchain_memvid_capsule._embeddings import MemvidEmbeddings, memvid_embedder
    from langchain_memvid_capsule._filters import to_where
    from langchain_memvid_capsule._retrievers import MemvidRetriever
    from langchain_memvid_capsule._vectorstores import MemvidVectorStore, document_of

__version__ = "0.1.0"

_HOMES = {
    "MemvidChatMessageHistory": "_chat_history",
    "MemvidEmbeddings": "_embeddings",
    "MemvidRetriever": "_retrievers",
    "MemvidVectorStore": "_vectorstores",
    "document_of": "_vectorstores",
    "memvid_embedder": "_embeddings",
    "to_where": "_filters",
}

__all__ = [
    "MemvidChatMessageHistory",
    "MemvidEmbeddings",
    "MemvidRetriever",
    "MemvidVectorStore",
    "__version__",
    "document_of",
    "memvid_embedder",
    "to_where",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'langchain_memvid_capsule' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"langchain_memvid_capsule.{home}"), name)
    value.__module__ = __name__
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
