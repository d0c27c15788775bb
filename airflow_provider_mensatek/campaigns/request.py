"""One batch's request: the recipients it plans, the checks before the send, the call itself."""

from __future__ import annotations

import inspect
import json
import logging
import re
import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any

from airflow_provider_mensatek.campaigns.answers import Named, settle
from airflow_provider_mensatek.campaigns.recipients import (
    CERTIFIED_EMAIL,
    CHANNELS,
    EMAIL,
    LEGALLYMAIL_CERTIFIED_EMAIL,
    SMS,
)
from airflow_provider_mensatek.clients._http.transport import SEND as SEND_KIND
from airflow_provider_mensatek.clients.errors import (
    ValidationError,
)

log = logging.getLogger("airflow_provider_mensatek.campaigns.send")


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
