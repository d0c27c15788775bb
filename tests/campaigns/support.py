"""What the campaign core's tests share: a recipients CSV, message options, plans and ledger reads."""

from __future__ import annotations

import contextlib
import io
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from airflow_provider_mensatek.campaigns.input import rows_from_csv
from airflow_provider_mensatek.campaigns.ledger import Ledger
from airflow_provider_mensatek.campaigns.plan import plan_campaign
from airflow_provider_mensatek.campaigns.recipients import rows_from_list
from airflow_provider_mensatek.sandbox import Sandbox

CSV_TEXT = (
    "name,email,phone,importe\n"
    "Ana,ana@example.com,+34 600 000 001,10\n"
    "Bea,not-an-email,600,20\n"                      # line 3: invalid email
    "Carlos,carlos@example.com,34600000003,30\n"
    "Dani,dani@example.com\n"                         # line 5: too few fields
    "Ana bis,ANA@example.com,34600000009,40\n"        # line 6: duplicate of line 2
    "\n"
    "Eva,eva@example.com,34600000005,50\n"            # line 8
)


FUTURE = "2099-06-01T09:00:00+02:00"


MESSAGE = {"sender": "avisos@example.com", "subject": "Aviso {{Nombre}}", "message": "Importe {{Variable_1}}",
           "send_at": FUTURE}


def certified_plan(tmp_path: Path, text: str = CSV_TEXT, **kwargs: Any) -> dict[str, Any]:
    options: dict[str, Any] = {"channel": "certified_email", "campaign_reference": "nov-avisos",
                               "columns": {"variables": {"Variable_1": "importe"}}, "max_invalid": 5}
    options.update(kwargs)
    return plan_campaign(rows_from_csv(io.StringIO(text)), tmp_path / "campaign", **options)


def sent_emails(sandbox: Sandbox) -> Counter[str]:
    return Counter(m.email.lower() for m in sandbox.mensatek.certified.values())


@contextlib.contextmanager
def edited_batch_file(campaign: Path, batch_id: str) -> Iterator[dict[str, Any]]:
    """A planned batch file as a dict to change in the with block; written back as it leaves."""
    path = campaign / "batches" / f"{batch_id}.json"
    batch = json.loads(path.read_text())
    yield batch
    path.write_text(json.dumps(batch))


def forty_recipient_plan(tmp_path: Path, size: int = 10) -> dict[str, Any]:
    rows = [{"email": f"p{i}@example.com", "name": f"P {i}"} for i in range(40)]
    return plan_campaign(rows_from_list(rows), tmp_path / "seq", channel="certified_email",
                         campaign_reference="seq", batch_size=size)


PLAIN = {"sender": "avisos@example.com", "subject": "Hola {{Nombre}}", "message": "Texto"}


def events_of(tmp_path: Path, batch_id: str, folder: str = "seq") -> list[str]:
    return [r["event"] for r in Ledger(tmp_path / folder / "ledger").records(batch_id)]
