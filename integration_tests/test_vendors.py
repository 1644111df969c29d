"""Every PMS behind Propexo, end to end: the real CLI against the sandbox over real sockets.

One sync holds rows for integrations of several vendors; each row must reach its vendor's
endpoint with that vendor's fields and its reading of time, or be refused naming the field
and the vendor. The sandbox checks each body with its own reading of the vendor pages
(`propexo_sandbox/vendors.py`) and refuses unknown keys, so a booked row proves its body.
"""

from __future__ import annotations

from typing import Any

import requests

from integration_tests.conftest import TOKEN, Cli, record, stream_state
from integration_tests.test_reschedules import ONE_PER_LEAD, keyed
from propexo_sandbox import FaultPlan, FaultRule

TOUR = {"appointment_date": "2027-07-20", "appointment_time": "14:00"}  # America/Chicago
CHICAGO = {"source_timezone": "America/Chicago"}
DEFAULTS = {
    "default_duration_minutes": 45,
    "default_appointment_type": "TOUR",
    "default_title": "Tour",
}
# A row carries every field any vendor may want; each vendor receives only its own.
EVERYTHING = {
    "lead_source_id": "src-web",
    "unit_id": "unit-7",
    "employee_id": "emp-3",
    "notes": "Asked about parking",
    "property_id": "prop-east",
}


def row(integration: str, lead: str, **extra: Any) -> dict[str, Any]:
    data = {"integration_id": f"intg-sandbox-{integration}", "lead_id": lead, **TOUR}
    return record(**{**data, **EVERYTHING, **extra})


def sent_bodies(cli: Cli) -> dict[str, dict[str, Any]]:
    """Each finished write job's body by integration, from the write-logs feed."""
    answer = requests.get(
        f"{cli.sandbox.url}/v1/admin/logs/writes/",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    )
    return {log["integration_id"]: log["parameters"] for log in answer.json()["results"]["logs"]}


def test_one_sync_books_each_row_at_its_vendors_endpoint_with_its_fields_and_time(
    cli: Cli,
) -> None:
    for lead in ("lead-rm", "lead-yardi", "lead-yardi-rest"):
        cli.sandbox.seed_lead(lead, property_id="prop-east")
    vendors = ("resman", "entrata", "rentmanager", "yardi", "yardi-rest", "appfolio")
    rows = [row(vendor, f"lead-{vendor.replace('rentmanager', 'rm')}") for vendor in vendors]
    result = cli.write([*rows, stream_state("tours", 1)], config=cli.config(**CHICAGO, **DEFAULTS))

    assert result.returncode == 0, result.stderr
    assert [o["outcome"] for o in result.outcomes] == ["accepted"] * 6, result.outcomes
    sent = {o["vendor"]: (o["sent_date"], o["sent_time"], o["time_rule"]) for o in result.outcomes}
    assert sent == {
        "ResMan": ("2027-07-20", "19:00:00", "UTC"),
        "Entrata": ("2027-07-20", "13:00:00", "America/Denver (Entrata)"),
        "Rent Manager": (
            "2027-07-20",
            "15:00:00",
            "America/New_York (property prop-east in GET /v1/timezones/: -05:00, DST)",
        ),
        "Yardi": (
            "2027-07-20",
            "15:00:00",
            "America/New_York (property prop-east in GET /v1/timezones/: -05:00, DST)",
        ),
        "Yardi REST": (
            "2027-07-20",
            "15:00:00",
            "America/New_York (property prop-east in GET /v1/timezones/: -05:00, DST)",
        ),
        "AppFolio": ("2027-07-20", "19:00:00", "UTC"),
    }
    bodies = sent_bodies(cli)
    common = {"lead_id", "integration_id", "appointment_date", "appointment_time"}
    assert {name: set(body) - common for name, body in bodies.items()} == {
        "intg-sandbox-resman": {"lead_source_id", "unit_id", "notes"},
        "intg-sandbox-entrata": {
            "appointment_duration_minutes",
            "appointment_type",
            "notes",
            "unit_id",
            "title",
        },
        "intg-sandbox-rentmanager": {
            "appointment_duration_minutes",
            "title",
            "employee_id",
            "notes",
        },
        "intg-sandbox-yardi": {"unit_id", "employee_id", "notes"},
        "intg-sandbox-yardi-rest": {"unit_id", "employee_id", "notes"},
        "intg-sandbox-appfolio": {
            "unit_id",
            "appointment_duration_minutes",
            "employee_id",
            "notes",
        },
    }
    assert {name: (b["appointment_date"], b["appointment_time"]) for name, b in bodies.items()} == {
        "intg-sandbox-resman": ("2027-07-20T19:00:00Z", "19:00:00"),
        "intg-sandbox-entrata": ("2027-07-20", "13:00:00"),
        "intg-sandbox-rentmanager": ("2027-07-20", "15:00:00"),
        "intg-sandbox-yardi": ("2027-07-20", "15:00:00"),
        "intg-sandbox-yardi-rest": ("2027-07-20", "15:00:00"),
        "intg-sandbox-appfolio": ("2027-07-20T19:00:00Z", "19:00:00"),
    }
    assert bodies["intg-sandbox-entrata"]["appointment_duration_minutes"] == 45
    # Each PMS read its wall clock as the same instant.
    cli.sandbox.data_sync()
    instants = {a["appointment_datetime"] for a in cli.sandbox.appointments()}
    assert instants == {"2027-07-20T19:00:00.000Z"}
    assert len(cli.sandbox.appointments()) == 6
    # Each vendor was read once, and each zone table once, however many rows name them.
    stats = cli.sandbox.stats()
    assert (stats["integration"], stats["timezones"]) == (6, 3)


def test_rows_missing_a_vendors_required_field_are_rejected_naming_field_and_vendor(
    cli: Cli,
) -> None:
    fine = {"appointment_duration_minutes": 30, "appointment_type": "TOUR"}
    rows = [
        row("entrata", "lead-1", **fine, notes=None),
        row("entrata", "lead-2", **{**fine, "appointment_type": "SHOWING"}),
        row("rentmanager", "lead-3", **fine, title="x" * 51),
        row("yardi", "lead-4", employee_id=None),
        row("appfolio", "lead-5", **fine, unit_id=""),
        row("resman", "lead-6", lead_source_id=None),
        # No duration, and the config gives none.
        row("entrata", "lead-7", **{**fine, "appointment_duration_minutes": None}),
    ]
    result = cli.write([*rows, stream_state("tours", 1)], config=cli.config(**CHICAGO))

    assert result.returncode == 0, result.stderr
    reasons = [o["reason"].split(" (got")[0] for o in result.outcomes]
    assert reasons == [
        "notes: Entrata requires it; the row has no value",
        "appointment_type: Entrata takes one of LEASING_APPOINTMENT, SELF_GUIDED_TOUR, TOUR, "
        "VIRTUAL_TOUR",
        "title: Rent Manager takes at most 50 characters",
        "employee_id: Yardi requires it; the row has no value",
        "unit_id: AppFolio requires it; the row has no value",
        "lead_source_id: ResMan requires it; the row has no value",
        "appointment_duration_minutes: Entrata requires it; the row has no value",
    ]
    assert {o["category"] for o in result.outcomes} == {"invalid record"}
    assert cli.sandbox.stats()["create"] == 0


def test_realpage_needs_a_stated_zone_and_mri_is_refused_never_guessed(cli: Cli) -> None:
    rows = [
        row("realpage-rpx", "lead-1", property_id="prop-9"),
        row("realpage-rpx", "lead-2", property_timezone="America/Los_Angeles"),
        row("realpage-rpx", "lead-3", property_id="prop-chicago"),
        row("mri", "lead-4"),
    ]
    config = cli.config(
        **CHICAGO,
        **DEFAULTS,
        property_timezones=[{"property_id": "prop-chicago", "timezone": "America/Chicago"}],
    )
    result = cli.write([*rows, stream_state("tours", 1)], config=config)

    assert result.returncode == 0, result.stderr
    first, stated, configured, mri = sorted(result.outcomes, key=lambda o: o["line"])
    assert first["reason"].startswith(
        "property_timezone: RealPage RPX reads the time as the property's wall clock"
    )
    assert (stated["outcome"], stated["sent_time"]) == ("accepted", "12:00:00")
    assert (configured["outcome"], configured["sent_time"]) == ("accepted", "14:00:00")
    assert configured["time_rule"] == "America/Chicago (stated for the property)"
    assert mri["reason"].startswith(
        "appointment_time: MRI reads appointment dates and times by a rule Propexo has not "
        "documented"
    )
    assert cli.sandbox.stats()["create"] == 2


def test_check_names_each_vendors_terms_and_refuses_mri(cli: Cli) -> None:
    def check(integration: str) -> dict[str, Any]:
        config = cli.config(integration_id=f"intg-sandbox-{integration}")
        (status,) = [
            m["connectionStatus"]
            for m in cli.run("check", config=config).of_type("CONNECTION_STATUS")
        ]
        return status

    entrata = check("entrata")
    assert entrata["status"] == "SUCCEEDED"
    assert "active Entrata integration" in entrata["message"]
    assert "times are sent as America/Denver wall clock" in entrata["message"]
    assert "only after Propexo's next data sync" in entrata["message"]
    yardi = check("yardi")
    assert "no documented lead appointment update" in yardi["message"]
    rent_manager = check("rentmanager")
    assert rent_manager["message"].endswith(
        "GET /v1/timezones/: integration-wide America/Chicago (-06:00, DST), 1 property row."
    )
    mri = check("mri")
    assert mri["status"] == "FAILED"
    assert "does not document how MRI reads appointment dates and times" in mri["message"]


def test_check_warns_what_a_vendor_without_update_or_read_back_means_for_each_mode(
    cli: Cli,
) -> None:
    """`check` gets no catalog: for the configured integration's vendor it says which
    vendor it is and, in its message and a WARN log, what the missing update or the late
    read-back means for one-upcoming-tour and Update streams and create-if-absent."""

    def check(integration: str) -> tuple[str, list[str]]:
        config = cli.config(integration_id=f"intg-sandbox-{integration}")
        result = cli.run("check", config=config)
        (status,) = [m["connectionStatus"] for m in result.of_type("CONNECTION_STATUS")]
        assert status["status"] == "SUCCEEDED", status
        warnings = [
            m["log"]["message"] for m in result.of_type("LOG") if m["log"]["level"] == "WARN"
        ]
        return status["message"], warnings

    no_update = (
        "has no documented lead appointment update in Propexo: a sync with a stream in "
        "Update mode or Append + Deduped on lead_id (one upcoming tour per lead) stops before "
        "sending any row; use Append, or Append + Deduped on lead + date + time"
    )
    read_later = (
        "shows a new appointment only after Propexo's next data sync (about every 12 hours): "
        "a create without a clear answer ends 'outcome unknown' and is never re-sent blindly; "
        "a row re-sent by Airbyte's retry or a later sync is matched against the creates "
        "Propexo's write logs show done in the last day, except a create still pending when "
        "the earlier sync stopped, which may be booked again"
    )
    one_upcoming = (
        "a one-upcoming-tour row cannot move a tour booked since Propexo's last data sync, by "
        "this sync or an earlier one ('earlier write of the lead not confirmed'): its "
        "appointment id is not known yet; a sync after Propexo's data sync moves it"
    )
    message, (warning,) = check("entrata")
    assert (
        warning
        == f"Integration intg-sandbox-entrata is Entrata: Entrata {read_later}; {one_upcoming}."
    )
    assert f"Entrata {read_later}; {one_upcoming}" in message
    message, (warning,) = check("yardi")
    assert warning == f"Integration intg-sandbox-yardi is Yardi: Yardi {no_update}."
    assert f"Yardi {no_update}" in message
    message, (warning,) = check("yardi-rest")
    assert warning == (
        f"Integration intg-sandbox-yardi-rest is Yardi REST: Yardi REST {no_update}; "
        f"Yardi REST {read_later}."
    )
    for vendor in ("resman", "rentmanager", "appfolio"):
        message, warnings = check(vendor)
        assert warnings == [], (vendor, warnings)
        assert "update" not in message and "data sync" not in message, message


def test_a_moving_stream_for_a_vendor_without_an_update_stops_before_sending(cli: Cli) -> None:
    result = cli.write(
        [row("yardi", "lead-1"), stream_state("tours", 1)],
        config=cli.config(integration_id="intg-sandbox-yardi"),
        catalog_=keyed("update", "event_id"),
    )
    assert result.returncode == 1
    (trace,) = result.traces
    assert trace["error"]["failure_type"] == "config_error"
    assert "Yardi has no documented lead appointment update" in trace["error"]["message"]
    assert cli.sandbox.stats()["create"] + cli.sandbox.stats()["update"] == 0


def test_an_entrata_leads_upcoming_tour_is_moved_with_entratas_put(cli: Cli) -> None:
    event_id = cli.sandbox.seed_appointment(
        lead_id="lead-e", utc="2041-07-21T15:00:00Z", integration_id="intg-sandbox-entrata"
    )
    moved = record(
        integration_id="intg-sandbox-entrata",
        lead_id="lead-e",
        appointment_date="2041-07-22",
        appointment_time="10:00",
        notes="Moved at the lead's request",
    )
    config = cli.config(integration_id="intg-sandbox-entrata", **CHICAGO, **DEFAULTS)
    result = cli.write([moved, stream_state("tours", 1)], config=config, catalog_=ONE_PER_LEAD)

    assert result.returncode == 0, result.stderr
    (outcome,) = result.outcomes
    assert (outcome["how"], outcome["event_id"], outcome["sent_time"]) == (
        "rescheduled",
        event_id,
        "09:00:00",
    )
    (body,) = sent_bodies(cli).values()
    assert body == {
        "event_id": event_id,
        "appointment_date": "2041-07-22",
        "appointment_time": "09:00:00",
        "notes": "Moved at the lead's request",
        "appointment_duration_minutes": 45,
        "appointment_type": "TOUR",
        "title": "Tour",
    }
    appointment = cli.sandbox.appointment(event_id)
    assert appointment is not None
    assert appointment["appointment_datetime"] == "2041-07-22T15:00:00.000Z"
    assert (cli.sandbox.stats()["create"], cli.sandbox.stats()["update"]) == (0, 1)


def test_an_unclear_entrata_create_ends_outcome_unknown_without_read_back_or_resend(
    cli: Cli,
) -> None:
    # The first create's answer is lost after its job was queued; Propexo answers the other
    # row's create a second later: not an outage, the first row's problem.
    cli.sandbox.set_faults(
        FaultPlan(
            create_script=("created_then_500",),
            rules=(FaultRule("create", "hang", first=2, count=1),),
            hang_seconds=1.0,
        )
    )
    config = cli.config(**CHICAGO, **DEFAULTS)
    rows = [row("entrata", "lead-e"), row("entrata", "lead-f"), stream_state("tours", 1)]
    result = cli.write(rows, config=config)

    assert result.returncode == 0, result.stderr
    outcome, other = sorted(result.outcomes, key=lambda o: o["outcome"] == "accepted")
    assert (outcome["outcome"], outcome["category"]) == ("rejected", "outcome unknown")
    assert (
        "Entrata shows a new appointment only after Propexo's next data sync" in (outcome["reason"])
    )
    assert other["how"] == "created"
    # The unclear create was not sent again.
    assert cli.sandbox.stats()["create"] == 2


def test_rows_of_unknown_or_inactive_integrations_are_rejected_naming_them(cli: Cli) -> None:
    rows = [
        record(integration_id="intg-nowhere", lead_id="lead-1", lead_source_id="s", **TOUR),
        record(
            integration_id="intg-sandbox-inactive", lead_id="lead-2", lead_source_id="s", **TOUR
        ),
    ]
    result = cli.write([*rows, stream_state("tours", 1)])

    assert result.returncode == 0, result.stderr
    reasons = sorted(o["reason"] for o in result.outcomes)
    assert reasons == [
        "integration_id: 'intg-sandbox-inactive' (Sandbox ResMan (inactive)) is not active; "
        "re-activate it in the Propexo dashboard",
        "integration_id: Propexo has no integration 'intg-nowhere' for this token",
    ]


def test_a_row_without_property_id_is_refused_where_the_integrations_properties_differ(
    cli: Cli,
) -> None:
    # The Rent Manager and Yardi integrations are Central-wide with an Eastern property: a row
    # that does not say its property could be either, an hour apart, so it is not guessed.
    cli.sandbox.seed_lead("lead-east", property_id="prop-east")
    rows = [
        row(vendor, "lead-east", property_id=None, title="Tour", appointment_duration_minutes=30)
        for vendor in ("rentmanager", "yardi")
    ]
    result = cli.write([*rows, stream_state("tours", 1)], config=cli.config(**CHICAGO))

    assert result.returncode == 0, result.stderr
    assert [o["outcome"] for o in result.outcomes] == ["rejected"] * 2, result.outcomes
    for outcome, name in zip(result.outcomes, ("Rent Manager", "Yardi"), strict=True):
        assert outcome["reason"].startswith(f"property_id: {name} reads times in the property"), (
            outcome["reason"]
        )
        assert "prop-east" in outcome["reason"]
    assert cli.sandbox.stats()["create"] == 0


def test_a_property_without_its_own_zone_row_falls_back_and_the_rule_says_which_way(
    cli: Cli,
) -> None:
    """Rent Manager and Yardi: a property with no GET /v1/timezones/ row of its own gets the
    integration-wide row; with no integration-wide row either, Rent Manager's stated default
    (Eastern) and Yardi (no stated default) is refused. The outcome's rule names the
    fallback taken, and each PMS books the tour at the instant meant."""
    for lead in ("lead-rm-1", "lead-yardi-1", "lead-rm-2", "lead-yardi-2"):
        cli.sandbox.seed_lead(lead, property_id="prop-west")
    extra = {"property_id": "prop-west", "title": "Tour", "appointment_duration_minutes": 30}
    first = cli.write(
        [row("rentmanager", "lead-rm-1", **extra), row("yardi", "lead-yardi-1", **extra)],
        config=cli.config(**CHICAGO),
    )
    assert first.returncode == 0, first.stderr
    wide = (
        "America/Chicago (integration-wide row in GET /v1/timezones/: -06:00, DST; "
        "property prop-west has no row of its own)"
    )
    first_outcomes = sorted(first.outcomes, key=lambda o: o["line"])
    assert [(o["outcome"], o["sent_time"], o["time_rule"]) for o in first_outcomes] == [
        ("accepted", "14:00:00", wide),
        ("accepted", "14:00:00", wide),
    ]

    for integration in ("intg-sandbox-rentmanager", "intg-sandbox-yardi"):
        cli.sandbox.set_timezones(integration, ())
    second = cli.write(
        [row("rentmanager", "lead-rm-2", **extra), row("yardi", "lead-yardi-2", **extra)],
        config=cli.config(**CHICAGO),
    )
    assert second.returncode == 0, second.stderr
    rent_manager, yardi = sorted(second.outcomes, key=lambda o: o["line"])
    assert (rent_manager["outcome"], rent_manager["sent_time"], rent_manager["time_rule"]) == (
        "accepted",
        "15:00:00",
        "America/New_York (Rent Manager's default: GET /v1/timezones/ has no row for property "
        "prop-west and no integration-wide row)",
    )
    assert yardi["outcome"] == "rejected"
    assert yardi["reason"].startswith(
        "property_id: Yardi reads times in the property's zone, and GET /v1/timezones/ has "
        "neither an integration-wide row nor a row for 'prop-west'"
    ), yardi["reason"]
    assert "time_rule" not in yardi
    instants = {a["appointment_datetime"] for a in cli.sandbox.appointments()}
    assert instants == {"2027-07-20T19:00:00.000Z"}
    assert len(cli.sandbox.appointments()) == 3


def test_airbyte_retrying_an_attempt_never_books_entrata_or_yardi_rest_rows_twice(
    cli: Cli,
) -> None:
    # The first attempt books the Entrata and Yardi REST rows (which Propexo shows only after
    # its next data sync), then stops before any STATE (the token is refused at the ResMan
    # rows): Airbyte re-sends every row. Their bookings are in Propexo's write logs, not yet
    # in its appointments.
    for lead in ("lead-yr0", "lead-yr1"):
        cli.sandbox.seed_lead(lead, property_id="prop-east")
    rows = [
        *(row("entrata", f"lead-e{i}", appointment_date=f"2027-07-2{i}") for i in range(2)),
        *(row("yardi-rest", f"lead-yr{i}", appointment_date=f"2027-07-2{i}") for i in range(2)),
        *(row("resman", f"lead-r{i}", appointment_date=f"2027-07-2{i}") for i in range(2)),
        stream_state("tours", 1),
    ]
    # One request at a time: the creates go out in input order, the ResMan ones last.
    config = cli.config(**CHICAGO, **DEFAULTS, max_requests_in_flight=1)
    cli.sandbox.set_faults(FaultPlan(revoke_after_creates=4))
    first = cli.write(rows, config=config)
    assert first.returncode == 1
    assert first.states == []
    assert [o["how"] for o in first.outcomes] == ["created"] * 4
    cli.sandbox.set_faults(FaultPlan())
    cli.sandbox.restore_token()

    again = cli.write(rows, config=config)

    assert again.returncode == 0, again.traces
    assert {(o["lead_id"], o["outcome"], o["how"]) for o in again.outcomes} == {
        ("lead-e0", "accepted", "already booked"),
        ("lead-e1", "accepted", "already booked"),
        ("lead-yr0", "accepted", "already booked"),
        ("lead-yr1", "accepted", "already booked"),
        ("lead-r0", "accepted", "created"),
        ("lead-r1", "accepted", "created"),
    }
    cli.sandbox.settle()
    cli.sandbox.data_sync()
    leads = sorted(a["associated_lead_ids"][0] for a in cli.sandbox.appointments())
    assert leads == ["lead-e0", "lead-e1", "lead-r0", "lead-r1", "lead-yr0", "lead-yr1"]


def test_discover_refuses_an_mri_integration_as_check_does(cli: Cli) -> None:
    # Every MRI row would be refused (its time rule is not documented): the mapping UI must
    # not offer MRI an appointment to map, as it does not for an inactive integration.
    result = cli.run("discover", config=cli.config(integration_id="intg-sandbox-mri"))

    assert result.returncode == 1
    assert result.of_type("DESTINATION_CATALOG") == []
    (trace,) = result.traces
    assert trace["error"]["failure_type"] == "config_error"
    assert (
        "Propexo does not document how MRI reads appointment dates and times"
        in (trace["error"]["message"])
    )


def test_an_entrata_outage_stops_the_sync_and_its_retry_books_each_row_once(cli: Cli) -> None:
    # Every create from the 3rd on answers 503: an outage, not these rows' problem. The rows
    # sent into it must not all end "outcome unknown" (tours nobody re-sends): the sync stops
    # for Airbyte to retry, and the retry checks Propexo's write logs before sending again.
    rows = [
        *(row("entrata", f"lead-e{i}", appointment_date=f"2027-07-2{i}") for i in range(5)),
        stream_state("tours", 1),
    ]
    config = cli.config(**CHICAGO, **DEFAULTS, max_requests_in_flight=1)
    cli.sandbox.set_faults(FaultPlan(rules=(FaultRule("create", "503", first=3, count=None),)))
    first = cli.write(rows, config=config)

    assert first.returncode == 1
    assert [t["error"]["failure_type"] for t in first.traces] == ["transient_error"]
    assert [o["outcome"] for o in first.outcomes] == ["accepted"] * 2
    assert first.states == []
    cli.sandbox.set_faults(FaultPlan())

    again = cli.write(rows, config=config)

    assert again.returncode == 0, again.traces
    assert sorted((o["lead_id"], o["how"]) for o in again.outcomes) == [
        ("lead-e0", "already booked"),
        ("lead-e1", "already booked"),
        ("lead-e2", "created"),
        ("lead-e3", "created"),
        ("lead-e4", "created"),
    ]
    cli.sandbox.data_sync()
    leads = sorted(a["associated_lead_ids"][0] for a in cli.sandbox.appointments())
    assert leads == [f"lead-e{i}" for i in range(5)]


def test_an_entrata_tour_moved_since_its_create_is_not_seen_twice(cli: Cli) -> None:
    # Booked, shown after Propexo's data sync, then moved, all within a day: the write logs
    # still list the create at its first time, which must not read as a second upcoming tour.
    config = cli.config(integration_id="intg-sandbox-entrata", **CHICAGO, **DEFAULTS)

    def sync(date: str) -> dict[str, Any]:
        tour = record(lead_id="lead-1", notes="n", appointment_date=date, appointment_time="14:00")
        result = cli.write([tour, stream_state("tours", 1)], config=config, catalog_=ONE_PER_LEAD)
        assert result.returncode == 0, result.traces
        cli.sandbox.settle()
        (outcome,) = result.outcomes
        return outcome

    assert sync("2041-07-20")["how"] == "created"
    cli.sandbox.data_sync()
    assert sync("2041-07-21")["how"] == "rescheduled"
    moved = sync("2041-07-22")

    assert (moved["outcome"], moved.get("how")) == ("accepted", "rescheduled"), moved
    cli.sandbox.data_sync()
    (tour,) = cli.sandbox.appointments()
    assert tour["appointment_datetime"] == "2041-07-22T19:00:00.000Z"
