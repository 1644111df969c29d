"""The rejection brake: stop a sync that is rejecting most of its rows.

A wrong time zone, a renamed column or the wrong integration makes every row fail, and the
sync would then spend the customer's whole rate budget producing rejections. With
`max_rejected_percent` set, the sync stops with a `config_error` that gives the counts and
the most frequent reasons once either bound is past it:

- **early** (`arrived`, as outcomes arrive in any order): the records rejected so far
  against the records started (decided, or whose booking began), once at least
  `MIN_OUTCOMES` have started. Records still in flight can only add rejections, so this
  share is a lower bound of the started records' final share and needs no waiting: a sync
  whose rows Propexo refuses at once stops within about `MIN_OUTCOMES` plus the requests
  in flight, at any budget;
- **in input order** (`observe`, as records leave the write window): the share among the
  first records, once at least `MIN_OUTCOMES` of them have outcomes.
"""

from __future__ import annotations

import re
import threading
from collections import Counter

from destination_propexo.errors import TooManyRejected
from destination_propexo.records.outcomes import Outcome, Rejected

MIN_OUTCOMES = 100
SHOWN_REASONS = 3
# Reasons differ by the value they quote; grouped without it, "lead_id: is required" of
# a hundred rows is one reason, not a hundred.
_QUOTED = re.compile(r"\(got .*\)$|'[^']*'|\"[^\"]*\"|\b[\w-]*\d[\w-]*\b")


class RejectionBrake:
    """Counts outcomes and raises `TooManyRejected` past the threshold; thread-safe."""

    def __init__(self, max_rejected_percent: int) -> None:
        self._max = max_rejected_percent
        self._done = 0
        self._reasons: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._arrived: Counter[str] = Counter()

    def arrived(self, outcome: Outcome, *, started: int) -> None:
        """Judge the early bound as an outcome arrives (any order): rejections so far
        against the `started` records (decided, or whose booking began)."""
        with self._lock:
            if isinstance(outcome, Rejected):
                self._arrived[reason_group(outcome)] += 1
            rejected = sum(self._arrived.values())
            if started < MIN_OUTCOMES or rejected * 100 <= self._max * started:
                return
            top = self._top(self._arrived)
        raise TooManyRejected(
            f"The sync stopped: {rejected} of the {started} records started so far were "
            f"rejected (at least {rejected * 100 / started:.0f} %), more than "
            f"max_rejected_percent ({self._max} %). Most frequent reasons: {top}. {_HINT}"
        )

    @staticmethod
    def _top(reasons: Counter[str]) -> str:
        return "; ".join(
            f"{count} x {reason}" for reason, count in reasons.most_common(SHOWN_REASONS)
        )

    def observe(self, outcome: Outcome) -> None:
        self._done += 1
        if isinstance(outcome, Rejected):
            self._reasons[reason_group(outcome)] += 1
        rejected = sum(self._reasons.values())
        if self._done < MIN_OUTCOMES or rejected * 100 <= self._max * self._done:
            return
        top = self._top(self._reasons)
        done = self._done
        raise TooManyRejected(
            f"The sync stopped: {rejected} of the first {done} records were rejected "
            f"({rejected * 100 / done:.0f} %), more than max_rejected_percent "
            f"({self._max} %). Most frequent reasons: {top}. {_HINT}"
        )


_HINT = (
    "A wrong source_timezone, a renamed column or the wrong integration often causes this; "
    "fix it and sync again."
)


def reason_group(outcome: Rejected) -> str:
    """A rejection's reason without the values it quotes, so like reasons count together:
    its `group` when it has one, else the reason with quoted values and numbers cut out."""
    if outcome.group is not None:
        return f"{outcome.category}: {outcome.group[:160]}"
    text = _QUOTED.sub("…", outcome.reason).strip()
    return f"{outcome.category}: {text[:160]}"
