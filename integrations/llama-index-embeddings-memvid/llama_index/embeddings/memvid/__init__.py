"""Embedding models both ways between LlamaIndex and memvid.

>>> from llama_index.embeddings.memvid import LlamaIndexEmbedder, MemvidEmbedding
"""

from llama_index.embeddings.memvid.base import LlamaIndexEmbedder, MemvidEmbedding

__all__ = ["LlamaIndexEmbedder", "MemvidEmbedding"]
