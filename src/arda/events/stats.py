"""Counters of one bus. Plain integers, read by ``/metrics`` exporters and tests; never reset."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class BusStats:
    published: int = 0  # events stored and published (duplicates excluded)
    duplicates: int = 0  # publishes answered from the idempotency window
    publish_failures: int = 0  # publish calls that raised PublishError
    received: int = 0  # valid events received live or replayed, per stream
    replayed: int = 0  # of those, events read from history to fill a gap
    delivered: int = 0  # handler calls that returned
    handler_failures: int = 0  # handler calls that raised
    handler_dropped: int = 0  # events dropped by a full handler queue (oldest first)
    malformed: int = 0  # messages that were not valid events for their channel
    dead_lettered: int = 0  # of those, appended to the dead-letter stream
    dead_letter_dropped: int = 0  # dead letters lost because the DLQ write queue was full or failed
    reconnects: int = 0  # subscriber reconnections to the backend
    gaps: int = 0  # gaps reported to on_gap (history no longer reached back, or a handler overflowed)

    def snapshot(self) -> dict[str, int]:
        return dataclasses.asdict(self)
