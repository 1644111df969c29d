"""The write-logs feed's pure parts: when the feed is given up, how deep a read pages, and
what it remembers (when a read is due: test_read_pacing.py)."""

from __future__ import annotations

from typing import Any

import pytest

from destination_propexo.errors import FailureKind, RequestFailure
from destination_propexo.propexo.client import WriteLog, WriteLogPage
from destination_propexo.sync.feed import (
    CLOCK_MARGIN_SECONDS,
    FeedCursor,
    FeedRead,
    feed_verdict,
    read_new,
)
from unit_tests.support import log_entry


@pytest.mark.parametrize(
    ("matched", "fruitless", "failed", "finished_unseen", "off"),
    [
        (0, 0, 0, 0, False),
        # Reads without a match, but no sign yet that the jobs finished: maybe slow jobs.
        (0, 5, 0, 0, False),
        # Jobs finished (write status says so) and a few reads never showed one: off.
        (0, 3, 0, 1, True),
        (0, 2, 0, 1, False),
        # Once the feed has matched, ids do match: a read that misses proves nothing.
        (1, 10, 0, 4, False),
        # Reads that get no answer, three in a row: off, matched or not.
        (0, 0, 3, 0, True),
        (25, 0, 3, 0, True),
        (25, 0, 2, 0, False),
    ],
)
def test_the_feed_is_given_up_after_a_few_fruitless_or_failed_reads(
    matched: int, fruitless: int, failed: int, finished_unseen: int, off: bool
) -> None:
    verdict = feed_verdict(
        matched=matched,
        fruitless=fruitless,
        failed_in_a_row=failed,
        finished_unseen=finished_unseen,
    )
    assert (verdict is not None) is off


def _entries(*job_ids: str, created_at: str | None = None) -> list[WriteLog]:
    return [WriteLog.model_validate(log_entry(j, created_at=created_at)) for j in job_ids]


class Pages:
    """`fetch` over a list of entries, newest first, recording the offsets asked for; pages of
    four, so consecutive pages (offsets 0, 3, 6, ...) overlap by one entry."""

    def __init__(self, entries: list[WriteLog], page_size: int = 4) -> None:
        self.entries = entries
        self.page_size = page_size
        self.offsets: list[int] = []
        # Jobs that finish just before the page at an offset is read: offset -> entries.
        self.finishing: dict[int, list[WriteLog]] = {}

    def __call__(self, offset: int) -> WriteLogPage:
        self.entries[:0] = self.finishing.pop(offset, [])
        self.offsets.append(offset)
        page = tuple(self.entries[offset : offset + self.page_size])
        return WriteLogPage(page, len(page))


def read(pages: Pages, cursor: FeedCursor, **options: Any) -> FeedRead:
    return read_new(pages, cursor, cutoff=options.pop("cutoff", None), page_size=4, **options)


def job_ids(feed_read: FeedRead) -> set[str]:
    return {entry.job_id for entry in feed_read.entries}


def test_a_read_pages_until_the_feed_ends_each_page_overlapping_the_last_by_one() -> None:
    pages = Pages(_entries(*"abcdefg"))
    first = read(pages, FeedCursor())
    assert pages.offsets == [0, 3, 6]
    assert job_ids(first) == set("abcdefg")
    assert first.complete


def test_a_read_stops_at_the_first_page_holding_an_entry_an_earlier_read_saw() -> None:
    cursor = FeedCursor()
    old = _entries("x", "y", "z")
    read(Pages(list(old)), cursor)
    # Five jobs finished since: the second page reaches what the first read saw.
    pages = Pages(_entries(*"edcba") + old + _entries(*"uvw"))
    later = read(pages, cursor)
    assert pages.offsets == [0, 3]
    assert set("abcde") <= job_ids(later)
    assert later.complete


def test_a_read_stops_at_entries_older_than_any_job_looked_for() -> None:
    recent = _entries(*"edcba", created_at="2024-07-20T14:00:30.000Z")
    older = _entries(*"zyxwvu", created_at="2024-07-20T13:00:00.000Z")
    pages = Pages(recent + older)
    queued = WriteLog.model_validate(log_entry("q", created_at="2024-07-20T14:00:00.000Z"))
    assert queued.finished_at is not None
    cutoff = queued.finished_at - CLOCK_MARGIN_SECONDS
    assert read(pages, FeedCursor(), cutoff=cutoff).complete
    assert pages.offsets == [0, 3]


def test_jobs_finishing_while_a_read_pages_push_entries_down_but_none_is_skipped() -> None:
    cursor = FeedCursor()
    old = _entries("x", "y", "z")
    read(Pages(list(old)), cursor)
    fresh = _entries(*"hgfedcba")
    pages = Pages(fresh + old)
    # Between the first and the second page, six more jobs finish: more than a page holds.
    pages.finishing[3] = _entries(*"nmlkji")
    later = read(pages, cursor)
    assert set("abcdefgh") <= job_ids(later)
    assert later.complete
    # Offset 3 then holds only newer jobs: the read went on down to what the first one saw.
    assert pages.offsets == [0, 3, 6, 9, 12]


def test_a_read_is_not_stopped_by_its_own_entries_shifted_down_a_page() -> None:
    cursor = FeedCursor()
    old = _entries("x", "y", "z")
    read(Pages(list(old)), cursor)
    pages = Pages(_entries(*"fedcba") + old)
    pages.finishing[3] = _entries("h", "g")  # f, e, d are on page 2 again: no landmark
    later = read(pages, cursor)
    assert set("abcdef") <= job_ids(later)
    assert later.complete
    assert pages.offsets == [0, 3, 6]


def test_a_read_without_a_bound_in_sight_stops_at_max_pages_incomplete() -> None:
    pages = Pages(_entries(*(f"j{n}" for n in range(30))))
    cut_short = read(pages, FeedCursor(), max_pages=4)
    assert pages.offsets == [0, 3, 6, 9]
    assert not cut_short.complete
    assert len(job_ids(cut_short)) == 13


def test_a_failed_page_ends_the_read_with_the_entries_it_has() -> None:
    failure = RequestFailure(FailureKind.SERVER_ERROR, "HTTP 503")
    entries = _entries("a", "b", "c", "d", "e")

    def fetch(offset: int) -> WriteLogPage:
        if offset:
            raise failure
        return WriteLogPage(tuple(entries[:4]), 4)

    failed = read_new(fetch, FeedCursor(), cutoff=None, page_size=4)
    assert [e.job_id for e in failed.entries] == ["a", "b", "c", "d"]
    assert (failed.complete, failed.pages, failed.failure) == (False, 1, failure)


def test_a_read_that_ends_early_leaves_no_landmark_so_the_next_one_goes_on_down() -> None:
    cursor = FeedCursor()
    old = _entries("x", "y", "z")
    read(Pages(list(old)), cursor)
    new = _entries(*"abcdefgh")
    cut_short = read(Pages(new + old), cursor, max_pages=2)
    assert not cut_short.complete
    pages = Pages(_entries("n") + new + old)
    read(pages, cursor)
    # Not stopped at a..g, which the cut-short read saw: on down to x, y, z.
    assert pages.offsets == [0, 3, 6]


def test_a_read_still_paging_is_no_landmark_for_another() -> None:
    cursor = FeedCursor()
    old = _entries("x", "y", "z")
    read(Pages(list(old)), cursor)
    new = _entries(*"abcdefgh")
    # A read whose first page is in, but which has not reached x, y, z yet...
    first_page = WriteLogPage(tuple(new[:4]), 4)
    assert cursor.unseen(first_page) == (list(new[:4]), False)
    # ... leaves the next read to go all the way down itself.
    pages = Pages(new + old)
    later = read(pages, cursor)
    assert pages.offsets == [0, 3, 6]
    assert set("abcdefgh") <= job_ids(later)


def test_the_cursor_keeps_entries_of_jobs_not_followed_yet_up_to_its_capacity() -> None:
    cursor = FeedCursor(unclaimed_capacity=2)
    for entry in _entries("a", "b", "c"):
        cursor.keep_unclaimed(entry)
    assert cursor.claim("a") is None  # the oldest went first
    claimed = cursor.claim("c")
    assert claimed is not None and claimed.job_id == "c"
    assert cursor.claim("c") is None  # claimed once


def test_the_cursor_forgets_the_oldest_seen_entries_past_its_capacity() -> None:
    cursor = FeedCursor(seen_capacity=2)
    first, second, third = _entries("a", "b", "c")
    cursor.covered(FeedRead((first, second, third), pages=1, complete=True))
    assert cursor.unseen(WriteLogPage((first,), 1)) == ([first], False)
    assert cursor.unseen(WriteLogPage((third,), 1)) == ([], True)


def test_an_entry_with_an_undocumented_status_is_left_out_of_the_page() -> None:
    odd = log_entry("a", status="PENDING")
    with pytest.raises(ValueError, match="status"):
        WriteLog.model_validate(odd)
