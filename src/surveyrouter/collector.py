"""Tuning the interpreter for a long-running server process: the cyclic garbage collector,
and how long a thread may hold the GIL while others wait.

The default thresholds run a collection every 700 net allocations of container objects, and
every tenth of those scans the older generation too. A sync step allocates hundreds of
thousands of small objects (payload dicts, wire models, domain cells), while the process holds
everything it loaded at start (the question library, the matcher's Python structures, cached
opportunities): with the defaults the collector re-scans that long-lived heap over and over, a
fifth of the sync worker's time in ``bench/sync.py``. Freezing what start-up built and
collecting the young generation less often removes most of it; nothing in surveyrouter relies
on prompt collection of reference cycles.

A server thread that waited on the database or a socket must win the GIL back from a thread
that is computing (matching, ranking), and by default waits up to 5 ms for it. A Get Actions
call waits on the database five times: under load those waits, not the work, set the pace.
At 0.5 ms, 32 connections on two workers were served about a fifth faster, with p99 halved
(``bench/actions.py``).
"""

from __future__ import annotations

import gc
import sys

SWITCH_INTERVAL_SECONDS = 0.0005
# Young-generation threshold (allocations minus deallocations between collections); the
# older generations keep their default ratios.
YOUNG_THRESHOLD = 50_000


def tune_for_server() -> None:
    """Call once start-up is done (database prepared, matcher built), before serving."""
    gc.collect()
    gc.freeze()  # what start-up built is never scanned again
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
