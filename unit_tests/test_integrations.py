"""The integrations of one sync: vendors and zone rows read from Propexo once each, on
scripted answers (no socket)."""

from __future__ import annotations

import io
import traceback

import orjson
import pytest
import requests

from destination_propexo.airbyte.catalog import configured_streams
from destination_propexo.airbyte.protocol import Emitter
from destination_propexo.config import load_config
from destination_propexo.errors import TransientError
from destination_propexo.propexo.client import PropexoClient
from destination_propexo.propexo.ratelimit import RateBudget
from destination_propexo.propexo.retry import RetryPolicy
from destination_propexo.records.timezones import ZoneSetting
from destination_propexo.records.vendors import (
    VENDORS,
    UnusableIntegration,
    VendorFieldError,
    time_reading,
)
from destination_propexo.stop import Stop
from destination_propexo.sync.integrations import SyncIntegrations
from destination_propexo.sync.session import write_sync
from unit_tests.support import Answer, ScriptedTransport, integration, job, ok


def integrations(transport: ScriptedTransport, **stated: str) -> SyncIntegrations:
    stop = Stop()
    client = PropexoClient(
        "https://propexo.test",
        "token",
        RateBudget(60_000, stop=stop),
        stop=stop,
        policy=RetryPolicy(max_attempts=2, backoff_initial=0.0, jitter=0.0),
        adapter=transport,
    )
    return SyncIntegrations(client, stated)


def zone_row(offset: str, dst: bool | None, property_id: str | None, **extra: object) -> dict:
    return {"offset": offset, "observes_daylight_savings": dst, "property_id": property_id, **extra}


def test_each_integration_is_read_once_however_many_rows_name_it() -> None:
    transport = ScriptedTransport(integration=[integration("ENTRATA")])
    known = integrations(transport)
    assert [known.vendor("intg-1") for _ in range(5)] == [VENDORS["ENTRATA"]] * 5
    assert known.vendor("intg-2") is VENDORS["ENTRATA"]
    assert transport.count("integration") == 2


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (Answer(404, {"error": {"message": "nope"}}), "Propexo has no integration 'intg-1'"),
        (integration("BUILDIUM"), "is a BUILDIUM integration; this destination books"),
        (integration("RESMAN", active=False), "is not active"),
    ],
)
def test_an_unusable_integration_is_remembered_with_its_reason(answer: Answer, reason: str) -> None:
    transport = ScriptedTransport(integration=[answer])
    known = integrations(transport)
    for _ in range(3):
        with pytest.raises(UnusableIntegration, match=reason):
            known.vendor("intg-1")
    assert transport.count("integration") == 1


def test_each_row_of_an_unusable_integration_gets_its_own_refusal_not_a_growing_one() -> None:
    # One kept exception raised for every row would carry every row's traceback with it.
    known = integrations(ScriptedTransport(integration=[integration("BUILDIUM")]))
    refusals = []
    for _ in range(50):
        with pytest.raises(UnusableIntegration) as refused:
            known.vendor("intg-1")
        refusals.append(refused.value)
    assert len({id(refusal) for refusal in refusals}) == len(refusals)
    assert str(refusals[0]) == str(refusals[-1])
    depth = [len(traceback.extract_tb(refusal.__traceback__)) for refusal in refusals]
    assert depth[-1] == depth[1]


def test_an_integration_propexo_cannot_tell_stops_the_sync() -> None:
    transport = ScriptedTransport(integration=[Answer(503, {"error": {"message": "down"}})])
    with pytest.raises(TransientError, match="Could not read integration 'intg-1'"):
        integrations(transport).vendor("intg-1")


def test_zone_rows_are_read_once_per_integration_all_pages_inactive_left_out_odd_kept() -> None:
    pages = [
        ok(
            {
                "meta": {"hasMore": True},
                "results": [
                    zone_row("-05:00", True, "prop-east"),
                    zone_row("-08:00", True, "prop-old", is_active=False),
                    {"offset": 5},
                ],
            }
        ),
        ok({"meta": {"hasMore": False}, "results": [zone_row("-06:00", True, None)]}),
    ]
    transport = ScriptedTransport(timezones=pages)
    known = integrations(transport)
    # The unreadable row is kept as such (refused when used), never dropped.
    expected = (
        ZoneSetting("-05:00", True, "prop-east"),
        ZoneSetting("5", None, None),
        ZoneSetting("-06:00", True, None),
    )
    assert known.zone_settings("intg-1") == expected
    assert known.zone_settings("intg-1") == expected
    assert transport.count("timezones") == 2
    offsets = [r.url.split("offset=")[1].split("&")[0] for name, r in transport.sent]
    assert offsets == ["0", "3"]


@pytest.mark.parametrize(
    "row",
    [
        {"property_id": "prop-west", "observes_daylight_savings": True},
        {"property_id": "prop-west", "offset": None, "observes_daylight_savings": True},
        {"property_id": "prop-west", "offset": -8, "observes_daylight_savings": True},
        {"property_id": "prop-west", "offset": "-08:00", "observes_daylight_savings": "yes"},
    ],
)
def test_an_unreadable_zone_row_refuses_its_property_rather_than_falling_back(
    row: dict[str, object],
) -> None:
    # Left out, prop-west would get the integration-wide Eastern zone: 3 hours off.
    page = {"meta": {"hasMore": False}, "results": [row, zone_row("-05:00", True, None)]}
    known = integrations(ScriptedTransport(timezones=[ok(page)]))
    settings = known.zone_settings("intg-1")
    with pytest.raises(VendorFieldError, match=r"property prop-west.*no known rule"):
        time_reading(VENDORS["RENTMANAGER"], property_id="prop-west", settings=settings)
    east = time_reading(VENDORS["RENTMANAGER"], property_id="prop-other", settings=settings)
    assert east.zone == "America/New_York"


def test_stated_zones_are_looked_up_by_property() -> None:
    known = integrations(ScriptedTransport(), **{"prop-1": "America/Chicago"})
    assert known.stated_zone("prop-1") == "America/Chicago"
    assert known.stated_zone("prop-2") is None
    assert known.stated_zone(None) is None


def test_a_sync_stops_without_sending_when_a_rows_integration_cannot_be_read() -> None:
    def integration_of(sent: requests.PreparedRequest) -> Answer:
        if "intg-2" in (sent.path_url or ""):
            return Answer(503, {"error": {"message": "down"}}, headers={"Retry-After": "0"})
        return integration("RESMAN")

    transport = ScriptedTransport(integration=integration_of, create=[job("job-1")])
    row = {
        "integration_id": "intg-2",
        "lead_id": "lead-1",
        "lead_source_id": "src",
        "appointment_date": "2024-07-20",
        "appointment_time": "14:00",
    }
    message = {"type": "RECORD", "record": {"stream": "tours", "data": row, "emitted_at": 0}}
    out = io.BytesIO()
    with pytest.raises(TransientError, match="Could not read integration 'intg-2'"):
        write_sync(
            load_config(
                {"token": "t", "integration_id": "intg-1", "api_url": "http://127.0.0.1:1"}
                | {"track_write_status": False}
            ),
            configured_streams({"streams": [{"stream": {"name": "tours"}}]}),
            [[orjson.dumps(message)]],
            Emitter(out),
            adapter=transport,
        )
    assert transport.count("create") == 0
    assert b'"type":"STATE"' not in out.getvalue()
