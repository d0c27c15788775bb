"""Campaigns at scale, Airflow-free: batch planning, at-most-once batch sends, campaign control.

A campaign lives in one folder (see :mod:`~airflow_provider_mensatek.campaigns.folder`
for its layout; the summary is in :mod:`~airflow_provider_mensatek.campaigns.summary`).

The plan passed between tasks (XCom) holds batch ids, references, counts and
fingerprints, never the recipients: a mapped send task reads its own batch
file, so XCom stays small whatever the campaign size.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import logging
import re
import shutil
import threading
import types
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

from airflow_provider_mensatek.campaigns.answers import ANSWER_RULES, Named, settle
from airflow_provider_mensatek.campaigns.auth import (
    credential_id,
    record_auth_failure,
    refused_credential,
    refused_message,
)
from airflow_provider_mensatek.campaigns.folder import (
    BATCHES_DIR,
    LEDGER_DIR,
    PLAN_NAME,
    REJECTED_NAME,
    check_entries,
    check_entry,
    missing_batch_file,
    read_plan,
)
from airflow_provider_mensatek.campaigns.input import whole_number
from airflow_provider_mensatek.campaigns.ledger import (
    ACCEPTED,
    AMBIGUOUS,
    BLOCKED,
    CANCELLED,
    FAILED_NOT_SENT,
    IN_FLIGHT,
    REPLAY,
    RESCHEDULED,
    SEND_EVENTS,
    Ledger,
    LedgerBlockedError,
    blocked_message,
    decide,
    local_path,
    utc_now,
)
from airflow_provider_mensatek.campaigns.recipients import (
    CERTIFIED_EMAIL,
    CHANNELS,
    EMAIL,
    LEGALLYMAIL_CERTIFIED_EMAIL,
    SMS,
    Recipient,
    RecipientReader,
    RejectedRow,
)
from airflow_provider_mensatek.clients._http.transport import SEND as SEND_KIND
from airflow_provider_mensatek.clients._http.transport import send_attempts_started
from airflow_provider_mensatek.clients.errors import (
    NOTHING_SENT_ERRORS,
    AlreadyCancelledError,
    AlreadySentError,
    AmbiguousSendError,
    AuthenticationError,
    MensatekError,
    NotFoundError,
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


# -- sending one batch -------------------------------------------------------------------


@dataclass(frozen=True)
class SendOutcome:
    """What one batch send produced, in channel-neutral terms (recorded in the ledger)."""

    message_ids: list[Any]
    sent: int
    not_sent: int
    duplicates: int
    credits_used: float | None
    credits_left: float | None
    #: Recipients (dedupe keys) the answer proves the vendor did not take (see campaign_answers.settle).
    refused: list[str]
    #: recipient key -> message id, where the answer gives one per recipient.
    ids_by_key: dict[str, Any]
    result: dict[str, Any]
    #: Recipients whose fate the answer leaves open (not listed as taken, not proven refused). Not to be
    #: resent without checking the vendor panel.
    unconfirmed: list[str] = field(default_factory=list)


def plan_request(client: Any, channel: str, recipients: list[dict[str, Any]] | PlannedRecipients,
                 message: Mapping[str, Any], reference: str) -> Callable[[], Callable[[], SendOutcome]]:
    """Check one batch's send and return its request; the request returns the reading of its answer.

    Three steps, so a caller can run them apart: checking the message and
    building the vendor parameters (no HTTP; a certified-email batch is checked
    here, an error is raised by the request so it is recorded like any refusal
    before sending); the request, whose ``Res`` is checked as it returns (a
    refusal or an authentication failure raises there); reading the accepted
    answer into a :class:`SendOutcome`, which for a large certified-email batch
    means a thousand per-recipient ids.

    ``message``: the channel's arguments besides recipients/reference.
    certified_email: ``sender``, ``subject``, ``message`` + MensatekClient.send_certified_email options;
    sms: ``sender``, ``message`` + send_sms options; email: ``sender``, ``subject``, ``message`` (HTML)
    + send_email options; legallymail_certified_email: ``subject``, ``message`` + send_certified_email
    options (LegallyMail takes no reference and no send date).

    Missing or unknown message arguments are refused (ValidationError) before
    the request. Nothing after that point is wrapped: an error while sending or
    reading the answer keeps its own type, so a send the vendor may have
    accepted is never reported as "refused before sending".
    """
    options = dict(message)
    if isinstance(recipients, PlannedRecipients) and channel == CERTIFIED_EMAIL:
        try:
            return _plan_checked_certified_email(client, recipients, options, reference)
        except ValidationError as exc:
            refused = exc

            def refuse() -> Callable[[], SendOutcome]:
                raise refused

            return refuse

    def request() -> Callable[[], SendOutcome]:
        listed = recipients.decoded if isinstance(recipients, PlannedRecipients) else recipients
        out = _send_unchecked(client, channel, listed, options, reference)
        return lambda: out

    return request


def _send_unchecked(client: Any, channel: str, recipients: list[dict[str, Any]], options: dict[str, Any],
                    reference: str) -> SendOutcome:
    if channel == CERTIFIED_EMAIL:
        args: tuple[Any, ...] = (_required(options, "sender", channel), recipients,
                                 _required(options, "subject", channel), _required(options, "message", channel))
        _check_arguments(client.send_certified_email, channel, *args, reference=reference, **options)
        r = client.send_certified_email(*args, reference=reference, **options)
        echo = Named.of(((x.email, x.message_id) for x in r.recipients), need_id=True) if r.recipients else None
        refused, unconfirmed = settle([v["Email"].lower() for v in recipients], sent=r.sent, not_sent=r.not_sent,
                                      duplicates=r.duplicates, taken=echo)
        return SendOutcome(r.message_ids, r.sent, r.not_sent, r.duplicates, r.credits_used, r.credits_left,
                           refused, echo.ids if echo else {}, _without(r, "recipients", "message_ids"), unconfirmed)
    if channel == SMS:
        args = (_required(options, "sender", channel), recipients, _required(options, "message", channel))
        _check_arguments(client.send_sms, channel, *args, reference=reference, **options)
        s = client.send_sms(*args, reference=reference, **options)
        # Res and NoEnviados count messages, not recipients, and the answer names nobody.
        refused, unconfirmed = settle([v["Movil"] for v in recipients], sent=None, not_sent=s.not_sent)
        return SendOutcome([s.message_id] if s.message_id is not None else [], s.accepted, s.not_sent, 0,
                           s.credits_used, s.credits_left, refused, {}, s.to_dict(), unconfirmed)
    if channel == EMAIL:
        args = (_required(options, "sender", channel), recipients, _required(options, "subject", channel))
        html = options.pop("message", None)
        _check_arguments(client.send_email, channel, *args, html=html, reference=reference, **options)
        e = client.send_email(*args, html=html, reference=reference, **options)
        sent_list = Named.of(((x.address, x.message_id) for x in e.sent), need_id=True)
        refused, unconfirmed = settle(
            [v["Email"].lower() for v in recipients], sent=e.recipients, not_sent=None, duplicates=e.duplicates,
            taken=sent_list, refused=Named.of(((x.address, None) for x in e.not_sent), need_id=False))
        return SendOutcome(e.message_ids, len(e.sent), len(e.not_sent), e.duplicates, None, None, refused,
                           sent_list.ids, _without(e, "sent", "not_sent", "message_ids"), unconfirmed)
    if channel == LEGALLYMAIL_CERTIFIED_EMAIL:
        if options.get("send_at"):
            raise ValidationError("LegallyMail sends immediately: it has no send date", vendor="legallymail")
        options.pop("send_at", None)
        args = ([v["email"] for v in recipients], _required(options, "subject", channel),
                _required(options, "message", channel))
        _check_arguments(client.send_certified_email, channel, *args, **options)
        lm = client.send_certified_email(*args, **options)
        failed = [(x.status or "").lower() in ("failed", "error") for x in lm.recipients]
        taken: Named | None = None
        named: Named | None = None
        if lm.recipients:
            taken = Named.of(((x.email, x.tracking_id) for x, f in zip(lm.recipients, failed, strict=True)
                              if not f), need_id=True)
            named = Named.of(((x.email, None) for x, f in zip(lm.recipients, failed, strict=True) if f),
                             need_id=False)
        refused, unconfirmed = settle([v["email"].lower() for v in recipients], sent=lm.success_count,
                                      not_sent=lm.fail_count, taken=taken, refused=named)
        ok = taken.ids if taken else {}
        return SendOutcome([lm.tracking_id] if lm.tracking_id else list(ok.values()), lm.success_count,
                           lm.fail_count, 0, None, None, refused, ok, lm.to_dict(), unconfirmed)
    raise ValidationError(f"channel must be one of {', '.join(CHANNELS)}, got {channel!r}")


def _required(options: dict[str, Any], name: str, channel: str) -> Any:
    if name not in options:
        raise ValidationError(f"the {channel} campaign message needs {name!r}")
    return options.pop(name)


def _check_arguments(method: Callable[..., Any], channel: str, *args: Any, **kwargs: Any) -> None:
    """Refuse an option the client method does not take, before any request (not a TypeError mid-send)."""
    try:
        # A method bound to a client: its function's signature, computed once per function.
        if isinstance(method, types.MethodType) and type(method.__func__) is types.FunctionType:
            _signature(method.__func__).bind(method.__self__, *args, **kwargs)
        else:
            inspect.signature(method).bind(*args, **kwargs)
    except TypeError as exc:
        raise ValidationError(f"unsupported option for a {channel} campaign: {exc}") from None


@lru_cache(maxsize=64)
def _signature(function: Callable[..., Any]) -> inspect.Signature:
    return inspect.signature(function)


class PlannedRecipients:
    """A batch's recipients as planned and validated: their exact vendor encoding and their number.

    Built by :class:`BatchSender` only after the encoding matched the plan's
    fingerprint, so it is the planner's output: a JSON array of flat objects
    whose values are text or numbers (``RecipientReader`` normalises every
    recipient through the channel's own ``normalise_*_recipient``). On that
    shape a key can only appear as ``{"Key": `` or ``, "Key": `` (a quote
    inside any text is escaped), which lets the certified-email path check
    placeholders and read the addresses without decoding a thousand objects.
    Anything the shortcut cannot prove falls back to the decoded list.
    """

    def __init__(self, encoded: str, count: int) -> None:
        self.encoded = encoded
        self.count = count

    @cached_property
    def decoded(self) -> list[dict[str, Any]]:
        value = json.loads(self.encoded)
        if not isinstance(value, list) or len(value) != self.count:
            raise ValidationError(f"a planned batch holds {len(value) if isinstance(value, list) else 'no list of'}"
                                  f" recipients where its file says {self.count}; plan the campaign again")
        return value

    def check_count(self, identity_key: str) -> None:
        """Every planned recipient has exactly one ``identity_key`` (``Email``): that many must be there."""
        if self.holding(identity_key) != self.count:
            raise ValidationError(f"a planned batch holds {self.holding(identity_key)} recipients where its file "
                                  f"says {self.count}; plan the campaign again")

    def first(self) -> dict[str, Any]:
        """The first recipient, decoded alone."""
        item, _ = json.JSONDecoder().raw_decode(self.encoded, 1)
        if not isinstance(item, dict):
            raise ValidationError("a planned batch's recipients are not a list of objects")
        return item

    def holding(self, key: str) -> int:
        """How many recipients have ``key`` (exact spelling)."""
        quoted = json.dumps(key, ensure_ascii=False) + ": "
        return self.encoded.count("{" + quoted) + self.encoded.count(", " + quoted)

    def all_hold(self, keys: Iterable[str]) -> bool:
        return all(self.holding(k) == self.count for k in keys)

    def lowered(self, key: str) -> list[str]:
        """``key``'s text value of every recipient, lower-cased, in order.

        On the planner's shape ``{"Key": `` / ``, "Key": `` can only be that
        key (a quote inside any text is escaped, so neither can start inside
        one). The text ``"Key": `` alone is quicker to scan for, but a key such
        as ``x"Key`` also holds it: it is used only when it appears exactly as
        often as the anchored forms. Values holding an escape (a backslash or a
        quote) are not matched, so unless every recipient matched, the decoded
        list answers.
        """
        quoted = json.dumps(key, ensure_ascii=False) + ": "
        if self.encoded.count(quoted) == self.holding(key):
            found = re.findall(re.escape(quoted) + r'"([^"\\]*)"', self.encoded)
            if len(found) == self.count:
                return [v.lower() for v in found]
        return [str(v[key]).lower() for v in self.decoded]


def echoed_ids(value: Any) -> Named | None:
    """The recipients the ``Destinatarios`` echo of an answer names (email -> message id), or None: no echo.

    Reads it as :func:`~airflow_provider_mensatek.clients.mensatek.decode_json_array`
    does (keys in any case: the document shows ``IDMENSAJE``), without
    building a lower-cased copy of each of a thousand entries: the key
    spellings are looked up once and again only for an entry that differs.
    An entry without an email or a readable id, an email named twice, and an
    echo that is not JSON count as unreadable (see
    :func:`~airflow_provider_mensatek.campaigns.answers.settle`).
    """
    from airflow_provider_mensatek.clients._wire import as_int

    if value is None or value == "" or value == "[]" or value == []:
        return None  # the echo is optional: the counts decide
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return Named(1, {}, 1)
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        return Named(1, {}, 1)
    ids: dict[str, Any] = {}
    unreadable = 0
    id_key = email_key = None
    for item in value:
        if not isinstance(item, dict):
            unreadable += 1
            continue
        if id_key not in item or email_key not in item:
            spelled = {str(k).lower(): k for k in item}
            id_key, email_key = spelled.get("idmensaje"), spelled.get("email")
            if id_key is None or email_key is None:
                unreadable += 1
                continue
        message_id = item[id_key]
        if type(message_id) is str and len(message_id) < 19 and message_id.isascii() and message_id.isdigit():
            message_id = int(message_id)
        elif type(message_id) is not int:  # exactly int: a bool, or any other text, is read as as_int reads it
            message_id = as_int(message_id)
            if message_id is None:
                unreadable += 1
                continue
        email = item[email_key]
        key = email.lower() if type(email) is str else ""
        if not key or key in ids:
            unreadable += 1
            continue
        ids[key] = message_id
    return Named(len(value), ids, unreadable)


def _plan_checked_certified_email(client: Any, recipients: PlannedRecipients, options: dict[str, Any],
                                  reference: str) -> Callable[[], Callable[[], SendOutcome]]:
    """EnviarEMAILCERTIFICADO for a batch whose recipients were validated when it was planned.

    Everything but the recipients goes through the client's own builder (run on
    the first recipient); the recipients were normalised by the same
    ``normalise_certified_recipient`` at planning time and their encoding
    matched the plan's fingerprint just before this call, so they are sent as
    stored, neither decoded nor re-encoded (most of the client-side cost of a
    campaign). The placeholders are still checked against every recipient. The
    answer is read as ``MensatekClient.send_certified_email`` reads it.
    """
    from airflow_provider_mensatek.clients._wire import as_float, as_int
    from airflow_provider_mensatek.clients.mensatek.certified_email import check_placeholders
    from airflow_provider_mensatek.clients.validation import PLACEHOLDER_RE

    channel = CERTIFIED_EMAIL
    recipients.check_count("Email")
    args: tuple[Any, ...] = (_required(options, "sender", channel), [recipients.first()],
                             _required(options, "subject", channel), _required(options, "message", channel))
    _check_arguments(client.build_certified_email_params, channel, *args, reference=reference, **options)
    params = client.build_certified_email_params(*args, reference=reference, **options)
    used = set(PLACEHOLDER_RE.findall(params["Asunto"])) | set(PLACEHOLDER_RE.findall(params["Mensaje"]))
    if not recipients.all_hold(used):  # some recipient lacks one as spelled: the full check decides and names them
        check_placeholders(params["Asunto"], params["Mensaje"], recipients.decoded)
    params["Destinatarios"] = recipients.encoded

    def request() -> Callable[[], SendOutcome]:
        record = client.call("send_certified_email", params, kind=SEND_KIND, reference=reference)

        def read() -> SendOutcome:
            echo = echoed_ids(record.get("destinatarios"))
            result = {
                "sent": as_int(record.get("enviados"), as_int(record.get("res"), 0)) or 0,
                "not_sent": as_int(record.get("noenviados"), 0) or 0,
                "duplicates": as_int(record.get("duplicados"), 0) or 0,
                "credits_used": as_float(record.get("creditosusados")),
                "credits_left": as_float(record.get("cred")), "reference": reference, "send_at": params.get("Fecha"),
            }
            refused, unconfirmed = settle(recipients.lowered("Email"), sent=result["sent"],
                                          not_sent=result["not_sent"], duplicates=result["duplicates"], taken=echo)
            ids = echo.ids if echo is not None else {}
            return SendOutcome(list(ids.values()), result["sent"], result["not_sent"], result["duplicates"],
                               result["credits_used"], result["credits_left"], refused, ids, result, unconfirmed)

        return read

    return request


def _without(result: Any, *bulky: str) -> dict[str, Any]:
    """A result's scalar fields; per-recipient lists are already in ``ids_by_key`` / ``refused``."""
    return {k: v for k, v in vars(result).items() if k not in bulky}


@dataclass
class BatchSender:
    """Sends batches of one campaign at most once each, recording every step in the ledger.

    :param client: a MensatekClient (or a LegallyMailClient for ``legallymail_certified_email``),
        shared by every batch of the task: one HTTP session, never one per recipient.
    :param message: the channel's message arguments (see :func:`plan_request`).
    :param context: who sent (e.g. dag/run/try), stored in each record for the audit trail.
    """

    campaign: Any
    client: Any
    channel: str
    message: Mapping[str, Any]
    context: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.ledger = Ledger(self.campaign / LEDGER_DIR)
        self._credential = credential_id(self.client)
        self._auth_lock = threading.Lock()
        #: Whether the ledger's auth records were read, and what they refuse (read once per sender).
        self._auth_checked = False
        self._auth_refused: str | None = None

    def send(self, entry: Mapping[str, Any], *, recorded: Callable[[], None] | None = None) -> dict[str, Any]:
        """Send one plan entry, or return what the ledger recorded. Raises LedgerBlockedError when blocked.

        ``recorded`` is called right after the ``in_flight`` record is written
        (tests use it to stop a worker at the worst moment).
        """
        prepared = self._prepare(check_entry(entry))
        if isinstance(prepared, dict):
            return prepared
        self._claim(prepared)
        if recorded is not None:
            recorded()
        return self._finish(prepared, self._request(prepared))

    # The steps of one send. send() runs them in a row; send_all() overlaps the reading and
    # recording of one batch, and the preparing of the next, with the next batch's request.

    def _prepare(self, entry: Mapping[str, Any]) -> _Prepared | dict[str, Any]:
        """Read and check the batch and its ledger: the recorded outcome to replay, or what to send."""
        batch_id, reference = str(entry["batch_id"]), str(entry["reference"])
        # The ledger first: an accepted batch is replayed from its record, whatever its batch file says.
        batch = None if entry.get("fingerprint") else load_batch(self.campaign, batch_id)
        planned = entry.get("fingerprint") or (batch or {}).get("fingerprint")
        records = self.ledger.records(batch_id)
        decision = decide(records, planned)
        if decision.action == REPLAY and decision.record is not None:
            log.info("Batch %s (reference %r) was accepted at %s: not sending it again", batch_id, reference,
                     decision.record.get("at"))
            return outcome_dict(decision.record, replayed=True)
        if decision.action == BLOCKED and decision.record is not None:
            raise LedgerBlockedError(blocked_message(batch_id, decision.record, str(self.ledger.root)),
                                     vendor=self._vendor, code=decision.record.get("event"))
        self._check_auth()
        batch = batch or load_batch(self.campaign, batch_id)
        if batch["fingerprint"] != planned:
            raise ValidationError(f"batch {batch_id} on storage does not match the plan given to this task "
                                  "(re-planned since?); refusing to send")
        if fingerprint(batch["destinatarios"]) != batch["fingerprint"]:
            raise ValidationError(f"batch {batch_id} was changed on storage after it was planned and validated; "
                                  "refusing to send it (plan the campaign again)")
        recipients = PlannedRecipients(batch["destinatarios"], len(batch["lines"]))
        common = {"reference": reference, "fingerprint": batch["fingerprint"], "recipients": recipients.count,
                  "channel": self.channel, **({"context": dict(self.context)} if self.context else {})}
        request = plan_request(self.client, self.channel, recipients, self.message, reference)
        if not records:
            self.ledger.make_folder(batch_id)
        return _Prepared(batch_id, reference, request, common, len(records) + 1)

    def _claim(self, prepared: _Prepared, *, ahead: bool = False) -> None:
        """Write the batch's ``in_flight`` record, exclusively, before its request; raise if another claimed it.

        ``ahead``: claimed while the previous batch's request is out (the record says so, for a person
        reading the ledger during the campaign).
        """
        marks = {"claimed_ahead": True} if ahead else {}
        if self.ledger.claim(prepared.batch_id, prepared.seq, **prepared.common, **marks) is None:
            # Another worker read the same records and claimed this send first: it is sending the batch.
            raise LedgerBlockedError(
                f"Batch {prepared.batch_id} (reference {prepared.reference!r}) is being sent by another worker "
                f"right now (its in_flight record {prepared.seq} appeared between this worker's read and its "
                "claim); not sending it. Its ledger records say how that send ended; run this task again to "
                "return them.", vendor=self._vendor, code=IN_FLIGHT)

    def _request(self, prepared: _Prepared) -> Callable[[], SendOutcome]:
        """The vendor request of a claimed batch; a failure is recorded (and raised) by what it proves."""
        attempts_before = send_attempts_started()
        try:
            return prepared.request()
        except Exception as exc:
            # failed_not_sent (sendable again) only when nothing can have reached the vendor: no send
            # request left this process, or the error proves the vendor refused / never got it. Anything
            # else (an unreadable answer, a bug while parsing it) may follow an accepted send.
            nothing_left = send_attempts_started() == attempts_before
            if nothing_left or (isinstance(exc, NOTHING_SENT_ERRORS) and not isinstance(exc, AmbiguousSendError)):
                self._record_failure(prepared, FAILED_NOT_SENT, exc, str(exc))
            else:
                self._record_failure(prepared, AMBIGUOUS, exc, _error_text(exc))
            if isinstance(exc, AuthenticationError):
                self._record_auth_failure(prepared, exc)
            raise

    def _check_auth(self) -> None:
        """Before a batch is claimed: fail without a request when the ledger shows this credential refused.

        The ledger is read once per sender; a refusal this sender records itself is remembered at once.
        """
        with self._auth_lock:
            if not self._auth_checked:
                record = refused_credential(self.ledger, self._credential)
                self._auth_refused = refused_message(record, self.ledger) if record else None
                self._auth_checked = True
            refused = self._auth_refused
        if refused is not None:
            raise AuthenticationError(refused, vendor=self._vendor, code="ledger")

    def _record_auth_failure(self, prepared: _Prepared, exc: AuthenticationError) -> None:
        """Record a refused credential in the ledger, once per sender, for every other batch task to read."""
        with self._auth_lock:
            if self._auth_checked and self._auth_refused is not None:
                return
            record = {"at": utc_now(), "batch_id": prepared.batch_id, "reference": prepared.reference,
                      "vendor": self._vendor, "detail": str(exc)}
            self._auth_checked, self._auth_refused = True, refused_message(record, self.ledger)
        try:
            record_auth_failure(self.ledger, self._credential, batch_id=prepared.batch_id,
                                reference=prepared.reference, vendor=self._vendor, detail=str(exc),
                                context=self.context)
        except Exception as unrecorded:  # the batch's own failed_not_sent record stands; other tasks may retry once
            log.error("The refused credential could not be recorded in the ledger (%s): other batch tasks of "
                      "this campaign will each try it once", _error_text(unrecorded))

    def _finish(self, prepared: _Prepared, read: Callable[[], SendOutcome]) -> dict[str, Any]:
        """Read an answer the vendor gave without refusing, and record the batch ``accepted``."""
        try:
            out = read()
        except Exception as exc:  # the vendor answered and did not refuse: whatever it did is unknown
            self._record_failure(prepared, AMBIGUOUS, exc, _error_text(exc))
            raise
        try:
            record = self.ledger.append(
                prepared.batch_id, ACCEPTED, seq=prepared.seq + 1, **prepared.common, message_ids=out.message_ids,
                sent=out.sent, not_sent=out.not_sent, duplicates=out.duplicates, credits_used=out.credits_used,
                credits_left=out.credits_left, refused=out.refused, unconfirmed=out.unconfirmed,
                answer_rules=ANSWER_RULES, ids_by_key=out.ids_by_key, result=out.result,
            )
        except Exception as exc:
            # The batch stays in_flight (blocked, never resent); what the vendor said is kept in the log.
            log.error("Batch %s (reference %r) was ACCEPTED by the vendor (%s sent, %s not sent, refused %s, "
                      "message ids %s) but its ledger record could not be written (%s): it stays in_flight",
                      prepared.batch_id, prepared.reference, out.sent, out.not_sent, out.refused,
                      out.message_ids, _error_text(exc))
            raise
        return outcome_dict(record, replayed=False)

    def _record_failure(self, prepared: _Prepared, event: str, exc: BaseException, detail: str) -> None:
        self.ledger.append(prepared.batch_id, event, seq=prepared.seq + 1, **prepared.common, detail=detail,
                           error=type(exc).__name__)

    def _failed_outcome(self, entry: Mapping[str, Any], exc: BaseException) -> dict[str, Any]:
        """The outcome of a batch whose send raised (recorded in the ledger as far as it got). Never raises.

        ``state`` is the batch's last send-state record; a batch the ledger shows
        accepted is reported with that record's figures (it was sent), the error beside them.
        """
        error = _error_text(exc)
        log.error("Batch %s (reference %r): %s", entry["batch_id"], entry["reference"], error)
        outcome: dict[str, Any] = {"batch_id": entry["batch_id"], "reference": entry["reference"], "state": None,
                                   "error": error, "replayed": False, "sent": 0, "message_ids": []}
        try:
            records = self.ledger.records(str(entry["batch_id"]))
        except Exception as unreadable:
            log.error("Batch %s: its ledger records could not be read either: %s", entry["batch_id"],
                      _error_text(unreadable))
            return {**outcome, "state": "unknown", "error": f"{error} (ledger unreadable: {_error_text(unreadable)})"}
        last = next((r for r in reversed(records) if r.get("event") in SEND_EVENTS), None)
        if last is not None and last["event"] == ACCEPTED:
            return {**outcome_dict(last, replayed=True), "error": error}
        return {**outcome, "state": last["event"] if last else None}

    @property
    def _vendor(self) -> str:
        return "legallymail" if self.channel == LEGALLYMAIL_CERTIFIED_EMAIL else "mensatek"

    def send_all(self, entries: Iterable[Mapping[str, Any]], *, max_parallel: int = 1) -> list[dict[str, Any]]:
        """Every batch, one request at a time (default) or with up to ``max_parallel`` requests at a time.

        A blocked or failed batch, whatever the error, does not stop the others
        (only an authentication failure does: never repeated, anti-spam): each
        outcome says what happened, and :func:`send_all_failed` tells the
        caller to fail.
        LegallyMail's 10 requests/minute hold whatever ``max_parallel`` is: its
        client waits on the process-wide limiter before every request.
        """
        limit = MAX_MENSATEK_PARALLEL if self.channel != LEGALLYMAIL_CERTIFIED_EMAIL else 10
        if isinstance(max_parallel, bool) or not isinstance(max_parallel, int) or not 1 <= max_parallel <= limit:
            raise ValidationError(f"max_parallel must be between 1 and {limit} for {self.channel}, "
                                  f"got {max_parallel!r}")
        entries = check_entries(entries)
        if max_parallel == 1:
            return self._send_one_at_a_time(entries)

        def one(entry: Mapping[str, Any]) -> dict[str, Any]:
            try:
                return self.send(entry)
            except AuthenticationError:
                raise
            except Exception as exc:  # one batch's failure, whatever it is, must not stop the others
                return self._failed_outcome(entry, exc)

        with ThreadPoolExecutor(max_workers=max_parallel, thread_name_prefix="campaign-send") as pool:
            return list(pool.map(one, entries))

    def _send_one_at_a_time(self, entries: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """One request at a time, as a plain loop would make them, with the bookkeeping beside them.

        This thread makes the requests, one after the other. While one is out,
        a helper thread reads the previous batch's answer and writes its
        ``accepted`` record, then prepares the next batch (reads and checks its
        file and ledger) and claims it (its ``in_flight`` record, marked
        ``claimed_ahead``, on storage before its request starts). So the vendor
        sees exactly the requests of a sequential loop, and every batch's
        records are written before this returns; what moves is when: an
        ``accepted`` record lands during the next request, an ``in_flight``
        claim during the previous one.

        A worker killed in that moment leaves at most two batches ``in_flight``
        (the one being sent, and the previous one not yet recorded or the next
        one already claimed): blocked until a person checks the vendor panel,
        never sent twice. When this thread stops on an error instead (an
        authentication failure, a timeout, an interruption), the helper claims
        nothing more, and a batch it claimed that was not requested is
        recorded ``failed_not_sent``, to be sent by the next try. The error
        that stopped the loop is the one raised; bookkeeping errors are logged
        and reported per batch.
        """
        results: list[dict[str, Any]] = [{} for _ in entries]
        if not entries:
            return results
        stopping = threading.Event()

        def ready(entry: Mapping[str, Any], ahead: bool) -> _Prepared | dict[str, Any] | Exception | None:
            """Prepared and claimed, a recorded outcome to return, the error that stopped it, or None (stopped)."""
            try:
                prepared = self._prepare(entry)
                if isinstance(prepared, _Prepared):
                    if stopping.is_set():
                        return None
                    self._claim(prepared, ahead=ahead)
                return prepared
            except Exception as exc:  # handed to the sending thread, which reports it in order
                return exc

        def finish(index: int, prepared: _Prepared, read: Callable[[], SendOutcome]) -> None:
            try:
                results[index] = self._finish(prepared, read)
            except Exception as exc:
                results[index] = self._failed_outcome(entries[index], exc)

        def beside(answered: tuple[int, _Prepared, Callable[[], SendOutcome]] | None,
                   upcoming: Mapping[str, Any] | None, ahead: bool) -> _Prepared | dict[str, Any] | Exception | None:
            """The helper's share, in this order (so a kill leaves at most two batches in_flight). Never raises."""
            if answered is not None:
                finish(*answered)
            return ready(upcoming, ahead) if upcoming is not None else None

        answered: tuple[int, _Prepared, Callable[[], SendOutcome]] | None = None
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="campaign-ledger") as helper:
            pending: Future[_Prepared | dict[str, Any] | Exception | None] | None = None
            following: _Prepared | dict[str, Any] | Exception | None = None
            try:
                pending = helper.submit(ready, entries[0], False)
                following, pending = pending.result(), None
                for index, entry in enumerate(entries):
                    current, following = following, None
                    upcoming = entries[index + 1] if index + 1 < len(entries) else None
                    if isinstance(current, AuthenticationError):  # the ledger shows the credential refused
                        raise current
                    if not isinstance(current, _Prepared):
                        # Nothing to send for this one (a recorded outcome, or an error): no request to overlap.
                        results[index] = (current if isinstance(current, dict)
                                          else self._failed_outcome(entry, current or RuntimeError("not prepared")))
                        pending = helper.submit(beside, answered, upcoming, False)
                        answered = None
                        following, pending = pending.result(), None
                        continue
                    # The helper works while this thread waits on the vendor; this thread alone runs otherwise.
                    pending = helper.submit(beside, answered, upcoming, True)
                    answered = None
                    try:
                        answered = (index, current, self._request(current))
                    except AuthenticationError:
                        raise
                    except Exception as exc:
                        results[index] = self._failed_outcome(entry, exc)
                    following, pending = pending.result(), None
            except BaseException as stop:
                stopping.set()
                if pending is not None:
                    with contextlib.suppress(BaseException):
                        following = pending.result()
                if isinstance(following, _Prepared):  # claimed, never requested: the next try may send it
                    try:
                        self._record_failure(following, FAILED_NOT_SENT, stop,
                                             "claimed, then not requested: the campaign stopped before this "
                                             f"batch ({_error_text(stop)})")
                    except Exception as unrecorded:
                        log.error("Batch %s was claimed but never requested; recording that failed (%s): it "
                                  "stays in_flight", following.batch_id, _error_text(unrecorded))
                raise
            finally:
                if answered is not None:
                    finish(*answered)
        return results


@dataclass(frozen=True)
class _Prepared:
    """A batch checked and ready to claim: what its ledger records carry, and the next record number."""

    batch_id: str
    reference: str
    #: The checked vendor request (see plan_request): made only after the claim.
    request: Callable[[], Callable[[], SendOutcome]]
    common: dict[str, Any]
    seq: int


def _error_text(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, MensatekError) else f"{type(exc).__name__}: {exc}"


def send_all_failed(outcomes: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [o for o in outcomes if o.get("state") != ACCEPTED]


def outcome_dict(record: Mapping[str, Any], *, replayed: bool) -> dict[str, Any]:
    """The small, JSON-able result of a batch send (XCom); the full vendor answer stays in the ledger."""
    return {
        "batch_id": record["batch_id"], "reference": record.get("reference"), "state": record["event"],
        "replayed": replayed, "at": record.get("at"), "sent": record.get("sent", 0),
        "not_sent": record.get("not_sent", 0), "duplicates": record.get("duplicates", 0),
        "credits_used": record.get("credits_used"), "credits_left": record.get("credits_left"),
        "message_ids": list(record.get("message_ids", [])),
    }


# -- campaign control ----------------------------------------------------------------------

CANCEL = "cancel"
RESCHEDULE = "reschedule"
#: Control result outcomes for batches it could not act on (see :func:`control_not_done`).
UNKNOWN_OUTCOME = "unknown_outcome"
NO_MESSAGE_IDS = "no_message_ids"


def control_campaign(campaign: Any, client: Any, channel: str, action: str, send_at: Any = None,
                     ) -> list[dict[str, Any]]:
    """Cancel or reschedule every scheduled message of the campaign (ids from the ledger's accepted batches).

    Reports per message id (each line with its ``batch_id`` and ``reference``):
    ``cancelled`` (with ``credits_recovered``), ``already_cancelled``,
    ``already_sent``, ``not_found``, ``rescheduled`` or ``failed`` (with the
    vendor's reason). A batch it cannot act on is never skipped silently: one
    line with ``message_id`` None and outcome ``unknown_outcome`` (its send is
    in flight, ambiguous or cleared: messages may be scheduled under its
    reference) or ``no_message_ids`` (accepted, but the answer named no ids).
    Batches never sent (none or ``failed_not_sent`` in the ledger) have nothing
    to act on. An authentication failure stops at once (never repeated:
    anti-spam). Each accepted batch gets a ledger record of what was done.
    """
    if action not in (CANCEL, RESCHEDULE):
        raise ValidationError(f"action must be 'cancel' or 'reschedule', got {action!r}")
    if channel not in (CERTIFIED_EMAIL, SMS):
        raise ValidationError(f"{channel} messages cannot be cancelled or rescheduled: the vendor API has no "
                              "such function (only certified email and SMS do)")
    vendor_send_at = None
    if action == RESCHEDULE:
        from airflow_provider_mensatek.clients.validation import vendor_datetime

        vendor_send_at = vendor_datetime(send_at, what="send_at")  # refuse a bad date before any HTTP call
    elif send_at is not None:
        raise ValidationError("send_at only applies to action='reschedule'")
    planned = read_plan(campaign)["channel"]  # an unknown folder is an error, not "nothing scheduled"
    if planned != channel:
        raise ValidationError(f"the campaign at {campaign} was planned for {planned}, not {channel}")
    ledger = Ledger(campaign / LEDGER_DIR)
    results: list[dict[str, Any]] = []
    for batch_id in ledger.batch_ids():
        records = ledger.records(batch_id)
        last = next((r for r in reversed(records) if r.get("event") in SEND_EVENTS), None)
        if last is None or last["event"] == FAILED_NOT_SENT:
            continue  # nothing of this batch reached the vendor
        reference = last.get("reference") or next((r["reference"] for r in records if r.get("reference")), None)
        if last["event"] != ACCEPTED:
            # in_flight / ambiguous / cleared: its messages may be scheduled at the vendor, with ids we never got.
            results.append({"batch_id": batch_id, "reference": reference, "message_id": None,
                            "outcome": UNKNOWN_OUTCOME, "state": last["event"],
                            "detail": f"send outcome unknown ({last['event']}): find the messages of reference "
                                      f"{reference!r} in the vendor panel and {action} them there"})
            continue
        ids = last.get("message_ids", [])
        per_batch = [_control_one(client, channel, action, mid, send_at) for mid in ids]
        if not ids:
            per_batch = [{"message_id": None, "outcome": NO_MESSAGE_IDS,
                          "detail": f"accepted, but the vendor's answer named no message ids: find the messages "
                                    f"of reference {reference!r} in the vendor panel and {action} them there"}]
        for item in per_batch:
            item.update(batch_id=batch_id, reference=reference)
        ledger.append(batch_id, CANCELLED if action == CANCEL else RESCHEDULED, seq=len(records) + 1,
                      reference=reference, outcomes=per_batch, send_at=vendor_send_at)
        results.extend(per_batch)
    return results


def control_not_done(results: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The result lines of batches control could not act on (outcome unknown, or no message ids)."""
    return [r for r in results if r.get("outcome") in (UNKNOWN_OUTCOME, NO_MESSAGE_IDS)]


def _control_one(client: Any, channel: str, action: str, message_id: Any, send_at: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"message_id": message_id}
    try:
        if action == CANCEL:
            cancel = client.cancel_certified_email if channel == CERTIFIED_EMAIL else client.cancel_sms
            c = cancel(message_id)
            item.update(outcome="already_cancelled" if c.already_cancelled else "cancelled",
                        credits_recovered=c.credits_recovered, credits_left=c.credits_left)
        else:
            move = client.reschedule_certified_email if channel == CERTIFIED_EMAIL else client.reschedule_sms
            r = move(message_id, send_at)
            item.update(outcome="rescheduled", send_at=r.send_at, credits_left=r.credits_left)
    except AuthenticationError:
        raise
    except AlreadySentError:
        item["outcome"] = "already_sent"
    except AlreadyCancelledError:
        item["outcome"] = "already_cancelled"
    except NotFoundError:
        item["outcome"] = "not_found"
    except MensatekError as exc:
        item.update(outcome="failed", detail=str(exc))
    return item
