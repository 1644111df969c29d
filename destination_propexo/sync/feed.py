"""The write-logs feed: reading it as a stream, and when a read is worth its request.

`GET /v1/admin/logs/writes/` lists an integration's finished write jobs, most recently
finished first, up to 100 a page; a job still pending is absent. One read can confirm up
to 100 jobs where write status costs one request per job. Whether its `job_id` is the
create's `meta.job_id` is not documented, so a match is the signal, and the status tracker
(`status.py`) falls back to write status per job, and for the whole sync when the feed
never matches.

Reading as a stream. Each read takes what is new since the reads before it: it pages on
until a page holds an entry a complete read saw, the feed ends, or the entries are older
than the oldest job still looked for (less a margin for clock skew). Usually that is one
page. Only a complete read's entries are landmarks: below them everything was read, while
below the first page of a read still paging nothing is known yet (two reads in flight
that stopped at each other's first pages would leave a gap below both). Jobs that finish
while a read pages push entries down, so a later page repeats some, never skips one; pages
overlap by one entry all the same, in case an entry above is dropped between two pages.
A read that ends early (a failed page, too deep) marks nothing, so the next one
goes down to the last complete read again.

Every entry read is matched against the jobs being followed; the entry of a job not
followed (yet) is kept a while, since a create's answer can arrive after its job finished
(Propexo's slow-down holds answers ~2 s, longer than a job takes), and such a job is
confirmed the moment it is tracked, without a request.

Pacing (`FEED_READS`, by the pure `ratelimit.batched_read_wait`). A read that confirms
nothing is a wasted request, so reads wait until about `READ_BATCH` jobs are due (expected
to have finished), or until the oldest due job has waited as long as the budget takes to
send that many requests; they go at once when nothing else is on its way (the end of a
sync, a full write window), since waiting then only delays the STATE behind those jobs.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

from destination_propexo.errors import RequestFailure
from destination_propexo.propexo.client import WRITE_LOGS_PAGE, WriteLog, WriteLogPage
from destination_propexo.propexo.ratelimit import ReadBatch

# Jobs one read should confirm: at most a thirtieth of the budget goes to the feed.
READ_BATCH = 30
# How long due jobs wait for company, whatever the rate: never so briefly that reads crowd
# the budget, never so long that a STATE waits more than a few seconds behind its jobs.
MIN_HOLD_SECONDS = 0.25
MAX_HOLD_SECONDS = 10.0
# Reads without a match, or failing, before the feed is given up for the sync.
FEED_TRIES = 3
# A read pages at most this deep (2,000 jobs); a busier feed is caught up by later reads.
MAX_PAGES = 20
# The feed's times are Propexo's clock, a job's queueing time is ours: allow this much skew.
# (A job missed for a larger skew is still confirmed, by its write status.)
CLOCK_MARGIN_SECONDS = 15.0
# Entries remembered to tell whether the next read reached what earlier ones saw, and
# entries of jobs not (yet) followed, kept for jobs whose create answer is still coming.
SEEN_CAPACITY = 2_000
UNCLAIMED_CAPACITY = 5_000


# The pacing of one integration's feed reads (`ratelimit.batched_read_wait`): the items are
# jobs due (expected in the feed, not yet looked for); those coming, creates not yet
# answered and jobs not yet due.
FEED_READS = ReadBatch(READ_BATCH, MIN_HOLD_SECONDS, MAX_HOLD_SECONDS)


def feed_verdict(
    *, matched: int, fruitless: int, failed_in_a_row: int, finished_unseen: int
) -> str | None:
    """Why the feed is no use for the rest of the sync, or None while it may be.

    `matched`: jobs the feed confirmed so far; `fruitless`: reads that looked for due jobs
    and matched none; `failed_in_a_row`: reads in a row that got no answer; `finished_unseen`:
    jobs write status found finished that the feed had not shown.
    """
    if failed_in_a_row >= FEED_TRIES:
        return f"{failed_in_a_row} reads of it in a row failed"
    if matched == 0 and fruitless >= FEED_TRIES and finished_unseen > 0:
        return (
            f"{fruitless} reads of it showed none of this sync's jobs, while write status "
            "shows them finished (its job ids may not be the create's)"
        )
    return None


@dataclass(frozen=True)
class FeedRead:
    """What one read found: the entries no complete read had seen, newest first."""

    entries: tuple[WriteLog, ...]
    pages: int
    # Reached what other reads saw (or the end, or older entries than any job looked for).
    complete: bool
    failure: RequestFailure | None = None


class FeedCursor:
    """How far one integration's feed has been read, and the entries no followed job has
    claimed yet; thread-safe."""

    def __init__(
        self, *, seen_capacity: int = SEEN_CAPACITY, unclaimed_capacity: int = UNCLAIMED_CAPACITY
    ) -> None:
        self._lock = threading.Lock()
        self._seen: set[str] = set()
        self._seen_order: deque[str] = deque()
        self._seen_capacity = seen_capacity
        self._unclaimed: OrderedDict[str, WriteLog] = OrderedDict()
        self._unclaimed_capacity = unclaimed_capacity

    def unseen(self, page: WriteLogPage) -> tuple[list[WriteLog], bool]:
        """The page's entries no complete read saw (those were matched when seen), and
        whether it holds one that a complete read saw: below that, all was read."""
        with self._lock:
            new = [entry for entry in page.entries if entry.id not in self._seen]
        return new, len(new) < len(page.entries)

    def covered(self, read: FeedRead) -> None:
        """Mark the entries of a complete read as seen."""
        with self._lock:
            for entry in read.entries:
                if entry.id in self._seen:
                    continue
                self._seen.add(entry.id)
                self._seen_order.append(entry.id)
                if len(self._seen_order) > self._seen_capacity:
                    self._seen.discard(self._seen_order.popleft())

    def keep_unclaimed(self, entry: WriteLog) -> None:
        """Keep the entry of a job nobody follows yet (its create answer may still come)."""
        with self._lock:
            self._unclaimed[entry.job_id] = entry
            self._unclaimed.move_to_end(entry.job_id)
            if len(self._unclaimed) > self._unclaimed_capacity:
                self._unclaimed.popitem(last=False)

    def claim(self, job_id: str) -> WriteLog | None:
        """The kept entry of `job_id`, if a read already saw the job finished."""
        with self._lock:
            return self._unclaimed.pop(job_id, None)


def read_new(
    fetch: Callable[[int], WriteLogPage],
    cursor: FeedCursor,
    *,
    cutoff: float | None,
    page_size: int = WRITE_LOGS_PAGE,
    max_pages: int = MAX_PAGES,
) -> FeedRead:
    """Read the feed from its newest entry down to what is already known (see the module
    docstring), and mark it seen if it got there; `fetch(offset)` reads one page, `cutoff`
    (POSIX seconds) is the time before which no job looked for can have finished. A failure
    ends the read with what it has."""
    entries: list[WriteLog] = []
    ids: set[str] = set()  # pages overlap: each entry once
    offset = 0
    for number in range(max_pages):
        try:
            page = fetch(offset)
        except RequestFailure as failure:
            return FeedRead(tuple(entries), number, complete=False, failure=failure)
        new, reached = cursor.unseen(page)
        entries += [entry for entry in new if entry.id not in ids]
        ids.update(entry.id for entry in new)
        if reached or page.size < page_size or _older(page, cutoff):
            done = FeedRead(tuple(entries), number + 1, complete=True)
            cursor.covered(done)
            return done
        offset += page_size - 1
    return FeedRead(tuple(entries), max_pages, complete=False)


def _older(page: WriteLogPage, cutoff: float | None) -> bool:
    """Whether the page's oldest entry finished before `cutoff`."""
    if cutoff is None or not page.entries:
        return False
    finished = page.entries[-1].finished_at
    return finished is not None and finished < cutoff
