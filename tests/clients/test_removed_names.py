"""Result attributes removed before release name what replaced them; everything else is a plain AttributeError."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import pytest

from airflow_provider_mensatek.clients.legallymail.email import EmailRecipientStatus, EmailStatus
from airflow_provider_mensatek.clients.legallymail.signature import SignatureStatus
from airflow_provider_mensatek.clients.legallymail.sms import SmsStatus
from airflow_provider_mensatek.clients.mensatek.sms import SmsReport, SmsReportEntry
from airflow_provider_mensatek.delivery.statuses import vendor_state


def no_fields(cls: type) -> Any:
    """An instance with every field None: enough to read attributes."""
    return cls(**{name: None for name in cls.__dataclass_fields__})


@pytest.mark.parametrize(("cls", "name", "instead"), [
    (EmailRecipientStatus, "state", "vendor_state(result)"),
    (EmailStatus, "state", "vendor_state(result)"),
    (SignatureStatus, "state", "vendor_state(result)"),
    (SmsStatus, "state", "vendor_state(result)"),
    (SmsReportEntry, "status", "vendor_state(entry).status.value"),
    (SmsReportEntry, "terminal", "vendor_state(entry).terminal"),
    (SmsReport, "finished", "all(vendor_state(e).terminal for e in report.entries)"),
])
def test_a_removed_attribute_says_what_replaced_it(cls: type, name: str, instead: str) -> None:
    result = no_fields(cls)
    with pytest.raises(AttributeError, match="removed before release") as raised:
        getattr(result, name)
    assert instead in str(raised.value)
    assert "from airflow_provider_mensatek.delivery.statuses import vendor_state" in str(raised.value)
    assert not hasattr(result, name)


def test_other_attributes_and_copies_behave_as_before() -> None:
    entry = SmsReportEntry(phone="34600000001", status_code=1, status_text="Entregado", date=None,
                           delivery_seconds=None)
    with pytest.raises(AttributeError, match=r"^'SmsReportEntry' object has no attribute 'nope'$"):
        entry.nope  # type: ignore[attr-defined]  # noqa: B018
    assert copy.deepcopy(entry) == entry and pickle.loads(pickle.dumps(entry)) == entry
    assert "status" not in entry.to_dict() and vendor_state(entry).code == "1"
