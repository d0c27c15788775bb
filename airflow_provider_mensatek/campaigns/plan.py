"""Campaign planning: batch sizes, references, the batch files a send task reads, the plan.

The plan passed between tasks (XCom) holds batch ids, references, counts and
fingerprints, never the recipients: a mapped send task reads its own batch
file, so XCom stays small whatever the campaign size.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import shutil
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from airflow_provider_mensatek.campaigns.folder import (
    BATCHES_DIR,
    LEDGER_DIR,
    PLAN_NAME,
    REJECTED_NAME,
    missing_batch_file,
)
from airflow_provider_mensatek.campaigns.input import whole_number
from airflow_provider_mensatek.campaigns.ledger import (
    Ledger,
    local_path,
)
from airflow_provider_mensatek.campaigns.recipients import (
    CHANNELS,
    LEGALLYMAIL_CERTIFIED_EMAIL,
    Recipient,
    RecipientReader,
    RejectedRow,
)
from airflow_provider_mensatek.clients.errors import (
    ValidationError,
)

log = logging.getLogger("airflow_provider_mensatek.campaigns.send")

#: Mensatek documents no recipient limit per send; 1,000 keeps one request well under a
#: minute and a lost batch small (assumption; configurable per campaign).
DEFAULT_MENSATEK_BATCH_SIZE = 1000
MAX_MENSATEK_BATCH_SIZE = 10_000
#: Mensatek documents no request rate limit. Parallel sends within a task are capped
#: here so a campaign never looks like an attack (assumption; the anti-spam note in
#: the SMS document threatens to limit a connection that misbehaves).
MAX_MENSATEK_PARALLEL = 4
#: Referenciausuario holds up to 100 characters.
MAX_REFERENCE_LEN = 100

#: Version of the batch files a send task reads (2: recipients stored as their exact vendor encoding).
BATCH_FORMAT = 2


# -- files ---------------------------------------------------------------------------


def write_atomic(path: Any, text: str) -> None:
    """Write under a temporary name beside ``path``, then rename: readers never see half a file."""
    temporary = path.parent / f".{path.name}.tmp"
    with temporary.open("w") as handle:
        handle.write(text)
    temporary.rename(path)


def read_json(path: Any) -> Any:
    local = local_path(path)  # a local file: plain open(), a third of the cost of the path object's
    with (open(local) if local is not None else path.open("r")) as handle:
        return json.load(handle)


# -- planning ------------------------------------------------------------------------


def batch_size_for(channel: str, requested: Any, *, legallymail_max_recipients: int = 10) -> int:
    """The batch size of a channel: LegallyMail's recipient limit per send, a configurable size for Mensatek.

    ``requested``: None for the default, else a whole number >= 1 (or its text): 0 is refused, never read as
    "the default".
    """
    size = whole_number(requested, "batch_size", minimum=1)
    if channel == LEGALLYMAIL_CERTIFIED_EMAIL:
        if size is not None and size > legallymail_max_recipients:
            raise ValidationError(f"batch_size {size} exceeds LegallyMail's {legallymail_max_recipients} "
                                  "recipients per send (the connection extra max_recipients)",
                                  vendor="legallymail")
        return size if size is not None else legallymail_max_recipients
    if size is not None and size > MAX_MENSATEK_BATCH_SIZE:
        raise ValidationError(f"batch_size must be at most {MAX_MENSATEK_BATCH_SIZE}, got {size}")
    return size if size is not None else DEFAULT_MENSATEK_BATCH_SIZE


def batch_reference(campaign_reference: str, number: int) -> str:
    """``<campaign reference>-<batch number, 5 digits>``, within the vendor's 100 characters."""
    suffix = f"-{number:05d}"
    return campaign_reference[: MAX_REFERENCE_LEN - len(suffix)] + suffix


def encode_recipients(vendor_recipients: list[dict[str, Any]]) -> str:
    """The ``Destinatarios`` JSON of a batch, byte for byte as the client encodes it."""
    return json.dumps(vendor_recipients, ensure_ascii=False)


def fingerprint(encoded_recipients: str) -> str:
    """sha256 of a batch's encoded vendor recipients: changes with any recipient, field or order."""
    return hashlib.sha256(encoded_recipients.encode("utf-8")).hexdigest()[:32]


def check_campaign_reference(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"campaign_reference is required (text), got {value!r}")
    text = value.strip()
    if any(c in text for c in "/\\\n\r"):
        raise ValidationError(f"campaign_reference may not contain slashes or line breaks: {text!r}")
    return text


@dataclass
class Batch:
    number: int
    batch_id: str
    reference: str
    recipients: list[Recipient]

    @cached_property
    def encoded(self) -> str:
        """The batch's ``Destinatarios`` exactly as it will be sent."""
        return encode_recipients([r.vendor for r in self.recipients])

    @cached_property
    def fingerprint(self) -> str:
        return fingerprint(self.encoded)

    def file(self) -> dict[str, Any]:
        """The batch file: the encoded recipients as sent (a send task hashes and sends them as they are,
        with no decoding), plus each recipient's source line and dedupe key, in the same order."""
        return {"batch_id": self.batch_id, "reference": self.reference, "fingerprint": self.fingerprint,
                "format": BATCH_FORMAT, "count": len(self.recipients),
                "lines": [r.line for r in self.recipients], "keys": [r.key for r in self.recipients],
                "destinatarios": self.encoded}

    def entry(self, campaign: str, channel: str) -> dict[str, Any]:
        """The JSON-able plan entry one mapped send task receives."""
        return {"campaign": campaign, "channel": channel, "number": self.number, "batch_id": self.batch_id,
                "reference": self.reference, "recipients": len(self.recipients),
                "fingerprint": self.fingerprint, "first_line": self.recipients[0].line,
                "last_line": self.recipients[-1].line}


def plan_batches(recipients: Iterable[Recipient], campaign_reference: str, size: int) -> Iterator[Batch]:
    """Consecutive batches of ``size`` recipients, numbered from 1, with deterministic ids and references."""
    pending: list[Recipient] = []
    number = 0
    for recipient in recipients:
        pending.append(recipient)
        if len(pending) == size:
            number += 1
            yield Batch(number, f"{number:05d}", batch_reference(campaign_reference, number), pending)
            pending = []
    if pending:
        number += 1
        yield Batch(number, f"{number:05d}", batch_reference(campaign_reference, number), pending)


def plan_campaign(
    rows: Iterable[tuple[int, Any]],
    campaign: Any,
    *,
    channel: str,
    campaign_reference: str,
    columns: Any = None,
    batch_size: Any = None,
    max_invalid: Any = 0,
    legallymail_max_recipients: int = 10,
    source: str | None = None,
    default_country_code: Any = None,
) -> dict[str, Any]:
    """Read, validate and batch the recipients into the campaign folder; return the JSON-able plan.

    ``default_country_code`` (SMS): see :class:`~airflow_provider_mensatek.campaigns.recipients.RecipientReader`.

    Raises :class:`~airflow_provider_mensatek.campaigns.recipients.TooManyInvalidRowsError`
    (nothing sent, no plan written) above ``max_invalid``. Re-planning a
    campaign whose ledger already has records is allowed only with the same
    batches (same recipients in the same order): a changed source on a
    started campaign is refused, so a re-run cannot send other people under
    the batch ids the ledger recorded.
    """
    reference = check_campaign_reference(campaign_reference)
    if channel not in CHANNELS:
        raise ValidationError(f"channel must be one of {', '.join(CHANNELS)}, got {channel!r}")
    size = batch_size_for(channel, batch_size, legallymail_max_recipients=legallymail_max_recipients)
    max_invalid = whole_number(max_invalid, "max_invalid", minimum=0)
    campaign.mkdir(parents=True, exist_ok=True)
    # Built apart, swapped in only once the started-campaign check passed: a refused re-plan leaves the
    # batch files the ledger's batches were sent from exactly as they were.
    staging = campaign / f".plan-{uuid.uuid4().hex[:12]}"
    staging.mkdir(parents=True, exist_ok=True)
    try:
        plan = _plan_into(staging, rows, campaign, channel=channel, reference=reference, columns=columns,
                          size=size, max_invalid=max_invalid, source=source, country=default_country_code)
        _refuse_changed_started_campaign(campaign, plan)
        (campaign / BATCHES_DIR).mkdir(parents=True, exist_ok=True)
        for entry in plan["batches"]:
            for name in (f"{entry['batch_id']}.json", f"{entry['batch_id']}.rows.json"):
                (staging / name).rename(campaign / BATCHES_DIR / name)
        (staging / REJECTED_NAME).rename(campaign / REJECTED_NAME)
        write_atomic(campaign / PLAN_NAME, json.dumps(plan, ensure_ascii=False, indent=1, default=str))
    finally:
        _remove_tree(staging)
    return plan


def _plan_into(staging: Any, rows: Iterable[tuple[int, Any]], campaign: Any, *, channel: str, reference: str,
               columns: Any, size: int, max_invalid: int | None, source: str | None,
               country: Any) -> dict[str, Any]:
    """Read and batch the recipients into ``staging`` (batch files and rejected rows); return the plan."""
    entries: list[dict[str, Any]] = []
    with (staging / REJECTED_NAME).open("w") as rejected_out:
        def keep(row: RejectedRow) -> None:
            rejected_out.write(json.dumps(row.to_dict(), ensure_ascii=False, default=str) + "\n")

        reader = RecipientReader(channel, columns, max_invalid, on_rejected=keep, default_country_code=country)
        mapping = reader.mapping.to_dict()
        for batch in plan_batches(reader.recipients(rows), reference, size):
            with (staging / f"{batch.batch_id}.json").open("w") as out:
                out.write(json.dumps(batch.file(), ensure_ascii=False))
            # The source rows (for not_sent.csv) apart: a send task never needs to parse them.
            with (staging / f"{batch.batch_id}.rows.json").open("w") as out:
                out.write(json.dumps({str(r.line): r.row for r in batch.recipients}, ensure_ascii=False,
                                     default=str))
            entries.append(batch.entry(str(campaign), channel))
    return {
        "campaign": str(campaign), "campaign_reference": reference, "channel": channel, "source": source,
        "columns": mapping, "batch_size": size, "rows": reader.read,
        "valid": sum(e["recipients"] for e in entries), "invalid": reader.invalid,
        "duplicates": reader.duplicates, "first_rejected": [r.to_dict() for r in reader.first_rejected],
        "more_rejected": reader.invalid + reader.duplicates - len(reader.first_rejected), "batches": entries,
    }


def _remove_tree(path: Any) -> None:
    local = local_path(path)
    if local is not None:
        shutil.rmtree(local, ignore_errors=True)
        return
    if not path.exists():
        return
    for child in path.iterdir():
        if child.is_dir():
            _remove_tree(child)
        else:
            child.unlink()
    with contextlib.suppress(OSError):
        path.rmdir()


def _refuse_changed_started_campaign(campaign: Any, plan: Mapping[str, Any]) -> None:
    ledger = Ledger(campaign / LEDGER_DIR)
    started = ledger.batch_ids()
    if not started:
        return
    previous = read_json(campaign / PLAN_NAME) if (campaign / PLAN_NAME).exists() else {"batches": []}
    before = {e["batch_id"]: e["fingerprint"] for e in previous["batches"]}
    now = {e["batch_id"]: e["fingerprint"] for e in plan["batches"]}
    changed = sorted(b for b in started if before.get(b) != now.get(b))
    if changed or plan["channel"] != previous.get("channel"):
        raise ValidationError(
            f"The campaign at {campaign} has already sent batches and its recipients or channel changed "
            f"(batches {', '.join(changed[:10]) or 'all'}). Not re-planning: use a new campaign folder and "
            "reference for a different recipient list."
        )


def load_batch(campaign: Any, batch_id: str) -> dict[str, Any]:
    """A batch file, in the shape :meth:`Batch.file` writes. Refuses one it cannot read, before any request.

    Files of the first format (``recipients``: line, key and vendor object each)
    are read into the same shape: their encoding is rebuilt exactly as it was
    when they were planned, so their fingerprint still holds.
    """
    local = local_path(campaign)  # a local campaign: no path objects per batch
    try:
        data: dict[str, Any] = read_json(Path(local, BATCHES_DIR, f"{batch_id}.json") if local is not None
                                         else campaign / BATCHES_DIR / f"{batch_id}.json")
    except FileNotFoundError:
        raise missing_batch_file(campaign, batch_id) from None
    if data.get("format") == BATCH_FORMAT and isinstance(data.get("destinatarios"), str):
        return data
    listed = data.get("recipients")
    if "format" not in data and isinstance(listed, list) and all(
            isinstance(r, dict) and {"line", "key", "vendor"} <= r.keys() for r in listed):
        return {**{k: v for k, v in data.items() if k != "recipients"}, "format": BATCH_FORMAT,
                "count": len(listed), "lines": [r["line"] for r in listed], "keys": [r["key"] for r in listed],
                "destinatarios": encode_recipients([r["vendor"] for r in listed])}
    raise ValidationError(f"batch file {batch_id}.json of {campaign} is not a batch file this version can read "
                          f"(format {data.get('format')!r}); plan the campaign again")


def load_batch_rows(campaign: Any, batch_id: str) -> list[tuple[int, dict[str, Any]]]:
    """(line, source row) of each recipient of a batch."""
    try:
        rows: dict[str, dict[str, Any]] = read_json(campaign / BATCHES_DIR / f"{batch_id}.rows.json")
    except FileNotFoundError:
        raise missing_batch_file(campaign, batch_id) from None
    return [(int(line), row) for line, row in rows.items()]
