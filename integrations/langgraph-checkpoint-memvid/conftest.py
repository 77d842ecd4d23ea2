"""The package's doctests run from tests/test_doctests.py, not by collecting ``langgraph/``.

Collected by path under the root's ``--import-mode=importlib``, ``langgraph/checkpoint/memvid/__init__.py``
would be imported as a top-level module named ``memvid`` (``langgraph/`` and ``langgraph/checkpoint/`` are
namespace packages, which pytest does not consider unless ``consider_namespace_packages`` is set), hiding
the real ``memvid`` package from every later test.
"""

collect_ignore = ["langgraph", "bench_overhead.py"]
