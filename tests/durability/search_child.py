"""Child process of ``test_index_cache.py``: print, as JSON, the results of
``durability_support.SEARCHES`` on the head of a capsule (run with ``sys.executable``,
so that a native crash cannot take the test process down)::

    python search_child.py CAPSULE
"""

from __future__ import annotations

import json
import sys

from durability_support import SEARCHES, canon_search

from memvid import Memvid


def main() -> None:
    with Memvid.open(sys.argv[1], read_only=True) as mem:
        print(json.dumps([canon_search(mem, request) for request in SEARCHES]))


if __name__ == "__main__":
    main()
