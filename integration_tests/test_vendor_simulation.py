"""Generated rows across every vendor, one sync each, against the sandbox over real sockets.

Hypothesis draws rows for integrations of every PMS with each vendor field present, absent or
out of its limits, and tour times across a year of Chicago wall clocks (DST changes
included). Whatever it draws, the invariants hold:

- every row ends accepted or rejected, once;
- no body the connector sends is refused by the sandbox's own reading of the vendor pages;
- every accepted row is booked at the instant its Chicago wall clock means (zoneinfo oracle);
- every row rejected before sending names a field and, for a vendor's field, the vendor.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from destination_propexo.records.mapping import API_FIELDS
from integration_tests.conftest import Cli, record, stream_state
from propexo_sandbox import Sandbox

CHICAGO = zoneinfo.ZoneInfo("America/Chicago")
NAMES = {
    "resman": "ResMan",
    "entrata": "Entrata",
    "rentmanager": "Rent Manager",
    "yardi": "Yardi",
    "yardi-rest": "Yardi REST",
    "appfolio": "AppFolio",
    "realpage-rpx": "RealPage RPX",
    "mri": "MRI",
}


def maybe(*values: object) -> st.SearchStrategy[object]:
    return st.sampled_from((None, *values))


ROW = st.fixed_dictionaries(
    {
        "integration": st.sampled_from(sorted(NAMES)),
        "local": st.datetimes(dt.datetime(2027, 1, 1), dt.datetime(2027, 12, 31, 23, 59)),
        "lead_source_id": maybe("src-web"),
        "unit_id": maybe("unit-1", ""),
        "employee_id": maybe("emp-1"),
        "notes": maybe("Parking at the back", "", "n" * 300),
        "title": maybe("Tour", "t" * 51),
        "appointment_duration_minutes": maybe(30, "45", 0, 2.5, 30.0),
        "appointment_type": maybe("TOUR", "virtual_tour", "SHOWING"),
        "property_id": maybe("prop-east", "prop-sandbox-1"),
        # Where the lead really is when the row does not say (the PMS knows, the row may not).
        "lead_property": maybe("prop-east"),
        # RealPage's hidden zone in the sandbox is Chicago: the zone a user would state.
        "property_timezone": maybe("America/Chicago"),
    }
)


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rows=st.lists(ROW, min_size=1, max_size=30))
def test_generated_rows_across_vendors_keep_the_invariants(
    tmp_path: Path, rows: list[dict[str, Any]]
) -> None:
    with Sandbox(write_status_delay=0.05) as sandbox:
        cli = Cli(tmp_path, sandbox)
        messages = []
        for number, drawn in enumerate(rows):
            lead = f"lead-{number}"
            where = drawn["property_id"] or drawn["lead_property"]
            if where is not None:
                sandbox.seed_lead(lead, property_id=where)
            data = {
                name: value
                for name, value in drawn.items()
                if name not in ("integration", "local", "lead_property") and value is not None
            }
            local = drawn["local"]
            messages.append(
                record(
                    integration_id=f"intg-sandbox-{drawn['integration']}",
                    lead_id=lead,
                    appointment_date=f"{local:%Y-%m-%d}",
                    appointment_time=f"{local:%H:%M}",
                    **data,
                )
            )
        result = cli.write(
            [*messages, stream_state("tours", 1)],
            config=cli.config(source_timezone="America/Chicago"),
        )
        sandbox.data_sync()
        booked = {
            str(a["associated_lead_ids"][0]): str(a["appointment_datetime"])
            for a in sandbox.appointments()
        }

    assert result.returncode == 0, result.traces
    outcomes = {o["lead_id"]: o for o in result.outcomes}
    assert len(result.outcomes) == len(rows) == len(outcomes)
    for number, drawn in enumerate(rows):
        outcome = outcomes[f"lead-{number}"]
        assert outcome.get("category") != "refused by Propexo", outcome
        if outcome["outcome"] == "accepted":
            local = drawn["local"].replace(second=0, microsecond=0)
            instant = local.replace(tzinfo=CHICAGO, fold=0).astimezone(dt.UTC)
            assert booked[f"lead-{number}"] == f"{instant:%Y-%m-%dT%H:%M:%S}.000Z", outcome
            assert outcome["vendor"] == NAMES[drawn["integration"]]
        else:
            assert outcome["category"] == "invalid record", outcome
            field = outcome["reason"].split(":")[0]
            assert field in API_FIELDS, outcome["reason"]
            if field not in ("appointment_date", "appointment_time", "appointment_datetime"):
                assert NAMES[drawn["integration"]] in outcome["reason"], outcome["reason"]
