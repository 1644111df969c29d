"""`max_rejected_percent`: a sync that rejects most of its rows stops early, saying why."""

from __future__ import annotations

from typing import Any

from integration_tests.conftest import Cli, record, stream_state, tour


def mostly_bad(rows: int) -> list[dict[str, Any]]:
    """Seven rows in ten fail: five with a time that does not exist, two without a source."""
    messages: list[dict[str, Any]] = []
    for number in range(rows):
        kind = number % 10
        if kind < 5:
            messages.append(tour(f"lead-{number}", time="25:00"))
        elif kind < 7:
            messages.append(
                record(
                    lead_id=f"lead-{number}",
                    appointment_date="2024-07-20",
                    appointment_time="10:00",
                )
            )
        else:
            messages.append(tour(f"lead-{number}"))
        if number % 50 == 49:
            messages.append(stream_state("tours", number))
    return messages


def test_a_sync_rejecting_most_rows_stops_early_with_a_config_error_naming_the_reasons(
    cli: Cli,
) -> None:
    # Ten requests a second: the sync is judged while most of its creates still wait.
    config = cli.config(max_rejected_percent=20, requests_per_minute=600, track_write_status=False)
    result = cli.write(mostly_bad(1000), config=config)

    assert result.returncode == 1
    (trace,) = result.traces
    error = trace["error"]
    assert error["failure_type"] == "config_error"
    assert "max_rejected_percent (20 %)" in error["message"]
    assert "appointment_time" in error["message"] and "lead_source_id" in error["message"]
    # It stopped near the first hundred outcomes, long before the end of the input.
    assert len(result.outcomes) < 1000
    assert cli.sandbox.stats()["create"] < 100
    # No state that would confirm the rows after the stop.
    confirmed = sum(
        s["destinationStats"]["recordCount"] + s["destinationStats"]["rejectedRecordCount"]
        for s in result.states
    )
    assert confirmed <= len(result.outcomes)


def test_a_sync_under_the_threshold_runs_to_the_end(cli: Cli) -> None:
    result = cli.write(mostly_bad(200), config=cli.config(max_rejected_percent=80))
    assert result.returncode == 0
    assert result.traces == []
    assert len(result.outcomes) == 200
    assert len(result.states) == 4


def test_without_the_option_every_row_gets_an_outcome(cli: Cli) -> None:
    result = cli.write(mostly_bad(200))
    assert result.returncode == 0
    assert len(result.outcomes) == 200


def mostly_refused_by_propexo(rows: int) -> list[dict[str, Any]]:
    """Seven rows in ten valid here but refused by Propexo at once (the sandbox refuses a
    lead-refused lead with a 400)."""
    return [
        tour(f"lead-refused-{number}") if number % 10 < 7 else tour(f"lead-{number}")
        for number in range(rows)
    ]


def test_the_brake_decides_on_rejections_so_far_against_records_started_at_any_budget(
    cli: Cli,
) -> None:
    # A generous budget: creates go out as fast as answers come. Judged in input order, the
    # brake waited for the accepted rows' confirmations while every create went out.
    config = cli.config(max_rejected_percent=20, requests_per_minute=100_000)
    result = cli.write(mostly_refused_by_propexo(400), config=config)

    assert result.returncode == 1
    (trace,) = result.traces
    assert trace["error"]["failure_type"] == "config_error"
    assert "refused by Propexo" in trace["error"]["message"]
    assert cli.sandbox.stats()["create"] <= 150
