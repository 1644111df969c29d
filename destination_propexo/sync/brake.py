"""The rejection brake: stop a sync that is rejecting most of its rows.

A wrong time zone, a renamed column or the wrong integration makes every row fail, and the
sync would then spend the customer's whole rate budget producing rejections. With
`max_rejected_percent` set, once at least `MIN_OUTCOMES` records have outcomes and the
rejected share exceeds it, the sync stops with a `config_error` that gives the counts and
the most frequent reasons.
"""

from __future__ import annotations

import re
from collections import Counter

from destination_propexo.errors import TooManyRejected
from destination_propexo.records.outcomes import Outcome, Rejected

MIN_OUTCOMES = 100
SHOWN_REASONS = 3
# Reasons differ by the value they quote; grouped without it, "lead_id: is required" of
# a hundred rows is one reason, not a hundred.
_QUOTED = re.compile(r"\(got .*\)$|'[^']*'|\"[^\"]*\"|\b[\w-]*\d[\w-]*\b")


class RejectionBrake:
    """Counts outcomes (in input order) and raises `TooManyRejected` past the threshold."""

    def __init__(self, max_rejected_percent: int) -> None:
        self._max = max_rejected_percent
        self._done = 0
        self._reasons: Counter[str] = Counter()

    def observe(self, outcome: Outcome) -> None:
        self._done += 1
        if isinstance(outcome, Rejected):
            self._reasons[reason_group(outcome)] += 1
        rejected = sum(self._reasons.values())
        if self._done < MIN_OUTCOMES or rejected * 100 <= self._max * self._done:
            return
        top = "; ".join(
            f"{count} x {reason}" for reason, count in self._reasons.most_common(SHOWN_REASONS)
        )
        done = self._done
        raise TooManyRejected(
            f"The sync stopped: {rejected} of the first {done} records were rejected "
            f"({rejected * 100 / done:.0f} %), more than max_rejected_percent "
            f"({self._max} %). Most frequent reasons: {top}. A wrong source_timezone, a "
            "renamed column or the wrong integration often causes this; fix it and sync again."
        )


def reason_group(outcome: Rejected) -> str:
    """A rejection's reason without the values it quotes, so like reasons count together."""
    text = _QUOTED.sub("…", outcome.reason).strip()
    return f"{outcome.category}: {text[:160]}"
