"""Vendor status codes mapped to one vocabulary, :class:`DeliveryStatus`.

A vendor status says where a message is (``status``) and which milestones it
has passed (``reached``): Mensatek certified email 11 is "delivered, opened,
read and certified", so it satisfies a wait for ``delivered``, ``read`` or
``certified``. ``terminal`` means the message will not change again;
``failure`` means it ended without getting where it was sent to go (bounced,
rejected, expired, phone does not exist ...).

Codes nobody documented are kept verbatim, treated as non-terminal (so a wait
continues rather than failing on a vendor addition) and logged as a warning.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from airflow_provider_mensatek.clients.errors import ValidationError
from airflow_provider_mensatek.clients.legallymail.email import EmailRecipientStatus, EmailSummary
from airflow_provider_mensatek.clients.legallymail.signature import SignatureSummary
from airflow_provider_mensatek.clients.legallymail.sms import SmsStatus as LegallyMailSmsStatus
from airflow_provider_mensatek.clients.mensatek.sms import SmsReportEntry

log = logging.getLogger("airflow_provider_mensatek.delivery.statuses")


class DeliveryStatus(str, Enum):
    """Where a message is, in one vocabulary for every vendor and channel (a sensor's ``target`` is one)."""

    SCHEDULED = "scheduled"
    PENDING = "pending"
    SENT = "sent"
    DELIVERED = "delivered"
    OPENED = "opened"
    READ = "read"
    CERTIFIED = "certified"
    ACCEPTED = "accepted"
    SIGNED = "signed"
    REJECTED = "rejected"
    EXPIRED = "expired"
    BOUNCED = "bounced"
    FAILED = "failed"
    CANCELLED = "cancelled"
    #: A report that carries information but does not move the message (SMS contract GPS).
    INFO = "info"
    UNKNOWN = "unknown"


S = DeliveryStatus

#: Statuses that can be waited for (a sensor's ``target``).
TARGETS = frozenset({S.SENT, S.DELIVERED, S.OPENED, S.READ, S.CERTIFIED, S.ACCEPTED, S.SIGNED})

#: Statuses that end a message without success, whatever the channel.
FAILURE_STATUSES = frozenset({S.REJECTED, S.EXPIRED, S.BOUNCED, S.FAILED, S.CANCELLED})

_IMPLIES: dict[DeliveryStatus, frozenset[DeliveryStatus]] = {
    S.SENT: frozenset({S.SENT}),
    S.DELIVERED: frozenset({S.SENT, S.DELIVERED}),
    S.OPENED: frozenset({S.SENT, S.DELIVERED, S.OPENED}),
    S.READ: frozenset({S.SENT, S.DELIVERED, S.OPENED, S.READ}),
}


@dataclass(frozen=True)
class StatusRule:
    status: DeliveryStatus
    terminal: bool = False
    #: Milestones passed besides those ``status`` implies (e.g. certified).
    also: frozenset[DeliveryStatus] = frozenset()
    meaning: str = ""

    @property
    def reached(self) -> frozenset[DeliveryStatus]:
        return _IMPLIES.get(self.status, frozenset({self.status})) | self.also

    @property
    def failure(self) -> bool:
        return self.status in FAILURE_STATUSES


def _r(status: DeliveryStatus, meaning: str, *, terminal: bool | None = None,
       also: Iterable[DeliveryStatus] = ()) -> StatusRule:
    if terminal is None:
        terminal = status in FAILURE_STATUSES
    return StatusRule(status, terminal, frozenset(also), meaning)


_CERTIFIED = (S.CERTIFIED,)
_CONTRACT_READ = (S.DELIVERED, S.OPENED, S.READ)

#: An EMAIL Contract that is "signed/perfected and certified": everything a wait can ask for.
_CONTRACT_DONE = (S.SENT, S.DELIVERED, S.OPENED, S.READ, S.CERTIFIED, S.ACCEPTED, S.SIGNED)

#: Mensatek certified email (EMAILCERTIFICADO ``Resultado`` / ``Estado``). The
#: document's status table is lost; these are the codes the document names (11
#: in the report sample; 14, and 17, 160, 181 for an EMAIL Contract, in the
#: certificate download section) and, for the rest, the same API's SMS table
#: (1, 2, 10, 50) as sandbox/mensatek.py explains. 3 is an assumption for a
#: cancelled scheduled message. 14 is not terminal: the recipient may still
#: open it (-> 11).
#:
#: 17, 160 and 181: "contract signed/perfected and certified - in the case of
#: EMAIL Contract", the statuses a certificate is downloaded for. That is all
#: the email document says, so each satisfies every target. 17 and 181 are
#: final, as in the SMS table; 160 is not, because in the SMS table it is an
#: earlier contract step ("accessed the contract") that 181 may still follow.
MENSATEK_CERTIFIED_EMAIL: dict[str, StatusRule] = {
    "1": _r(S.SCHEDULED, "Scheduled"),
    "2": _r(S.PENDING, "Awaiting delivery"),
    "3": _r(S.CANCELLED, "Cancelled (assumed code)"),
    "10": _r(S.SENT, "Sent"),
    "11": _r(S.READ, "Delivered, opened, read and certified", terminal=True, also=_CERTIFIED),
    "14": _r(S.DELIVERED, "Delivered and certified", also=_CERTIFIED),
    "17": _r(S.SIGNED, "EMAIL Contract signed/perfected and certified (17)", terminal=True,
             also=_CONTRACT_DONE),
    "50": _r(S.BOUNCED, "Bounced: the mailbox does not exist"),
    "160": _r(S.SIGNED, "EMAIL Contract signed/perfected and certified (160)", also=_CONTRACT_DONE),
    "181": _r(S.SIGNED, "EMAIL Contract signed/perfected and certified (181)", terminal=True,
              also=_CONTRACT_DONE),
}

_AWAITING = "Awaiting delivery confirmation from the phone"
_RETRYING = "Temporary problem; Mensatek keeps retrying"
_EXPIRED = "Expired: the phone stayed switched off"
_GONE = "The phone does not exist / unsubscribed"

#: Mensatek SMS (``Resultado`` in reports and GetReportSMS), the whole table of
#: mensatek-sms.txt. States the document says Mensatek keeps retrying (120-123,
#: 126, 131-135, 1003) stay pending: the vendor may still deliver. Delivered
#: states are not terminal because certified SMS and SMS contracts go on
#: (13 -> 14 -> 15 ...).
MENSATEK_SMS: dict[str, StatusRule] = {
    "0": _r(S.PENDING, _AWAITING),
    "1": _r(S.SCHEDULED, "Scheduled"),
    "2": _r(S.PENDING, _AWAITING),
    # Not in the table: a cancelled scheduled SMS needs a final state; the sandbox
    # reports 3, as for certified email (an assumption, see sandbox/mensatek_channels.py).
    "3": _r(S.CANCELLED, "Cancelled (assumed code)"),
    "10": _r(S.PENDING, _AWAITING),
    "11": _r(S.DELIVERED, "Delivered to the phone"),
    "13": _r(S.DELIVERED, "Delivered to the phone (certified SMS: being certified)"),
    "14": _r(S.CERTIFIED, "Certified SMS delivered and certified", also=(S.DELIVERED, S.SENT)),
    "15": _r(S.CERTIFIED, "SMS contract: awaiting a YES reply", also=(S.DELIVERED, S.SENT)),
    "16": _r(S.CERTIFIED, "SMS contract: reply received, certifying", also=(S.DELIVERED, S.SENT)),
    "17": _r(S.ACCEPTED, "SMS contract via certified reply: contract available", terminal=True,
             also=(S.DELIVERED, S.SENT, S.CERTIFIED, S.SIGNED)),
    "50": _r(S.FAILED, "The network says the phone does not exist"),
    "51": _r(S.FAILED, "Delivery to the phone failed"),
    "52": _r(S.FAILED, "Delivery to the network failed"),
    "53": _r(S.EXPIRED, _EXPIRED),
    "54": _r(S.REJECTED, "Number on blacklist"),
    "55": _r(S.REJECTED, "Number blocked"),
    "70": _r(S.DELIVERED, "Delivered to the phone (delivery time not available)"),
    "101": _r(S.EXPIRED, _EXPIRED),
    "102": _r(S.REJECTED, "User unsubscribed"),
    "103": _r(S.EXPIRED, _EXPIRED),
    "104": _r(S.FAILED, "The phone is not correct"),
    "106": _r(S.DELIVERED, "Delivered to the phone (delivery time not available)"),
    "110": _r(S.FAILED, _GONE),
    "111": _r(S.FAILED, "Phone unsubscribed"),
    "112": _r(S.FAILED, "Phone without service"),
    "113": _r(S.EXPIRED, _EXPIRED),
    "120": _r(S.PENDING, "Failure in the destination SMSC (message held to ensure delivery)"),
    "121": _r(S.PENDING, "Congestion in the destination SMSC; " + _RETRYING),
    "122": _r(S.PENDING, "Failure in the destination SMSC (message held to ensure delivery)"),
    "123": _r(S.PENDING, "Phone switched off or out of coverage"),
    "124": _r(S.FAILED, "Phone without SMS service"),
    "125": _r(S.REJECTED, "Phone blocked or restricted"),
    "126": _r(S.PENDING, "Phone busy"),
    "130": _r(S.FAILED, "Error in the destination phone (does not exist / unsubscribed)"),
    "131": _r(S.PENDING, "Phone memory full; " + _RETRYING),
    "132": _r(S.PENDING, "The phone cannot receive messages; " + _RETRYING),
    "133": _r(S.FAILED, "Failure in destination mobile (unsubscribed)"),
    "134": _r(S.PENDING, "Problem in the destination mobile; " + _RETRYING),
    "135": _r(S.PENDING, "Problem in the destination network; " + _RETRYING),
    "136": _r(S.FAILED, "Phone without service"),
    "137": _r(S.FAILED, "Phone unsubscribed"),
    "140": _r(S.FAILED, "Destination error, contact support"),
    "141": _r(S.FAILED, "Destination error, contact support"),
    "150": _r(S.FAILED, "The destination network has temporarily closed delivery; contact support"),
    "160": _r(S.OPENED, "SMS contract: the recipient opened the contract", also=(S.DELIVERED,)),
    "161": _r(S.READ, "SMS contract: contract read to the end"),
    "162": _r(S.ACCEPTED, "SMS contract: contract accepted", also=_CONTRACT_READ),
    "163": _r(S.SIGNED, "SMS contract: contract signed", also=(*_CONTRACT_READ, S.ACCEPTED)),
    "180": _r(S.ACCEPTED, "SMS contract final: accepted by basic acceptance", terminal=True,
              also=(*_CONTRACT_READ, S.SIGNED, S.CERTIFIED)),
    "181": _r(S.SIGNED, "SMS contract final: accepted and signed (biometric), certified", terminal=True,
              also=(*_CONTRACT_READ, S.ACCEPTED, S.CERTIFIED)),
    "190": _r(S.REJECTED, "SMS contract: contract rejected"),
    "195": _r(S.EXPIRED, "SMS contract: contract expired without signature"),
    "1000": _r(S.PENDING, _AWAITING),
    "1001": _r(S.SCHEDULED, "Scheduled"),
    "1002": _r(S.PENDING, "Sending to the destination operator"),
    "1003": _r(S.PENDING, "Problem in the destination mobile; " + _RETRYING),
    "5000": _r(S.INFO, "SMS contract: GPS location of the signer"),
}

#: Mensatek email and RCS report ``Estado``. Both documents lost their status
#: tables; only 11 appears (in the report samples, with an opening counted for
#: email). We read it as "delivered" and leave everything else verbatim.
MENSATEK_EMAIL: dict[str, StatusRule] = {"11": _r(S.DELIVERED, "Delivered (only code in the document)")}
MENSATEK_RCS: dict[str, StatusRule] = {"11": _r(S.DELIVERED, "Delivered (only code in the document)")}

#: LegallyMail email, message and recipient level: pending / sent / delivered /
#: read / failed / bounced (legallymail.txt, GET /emails and GET /email).
LEGALLYMAIL_EMAIL: dict[str, StatusRule] = {
    "pending": _r(S.PENDING, "Pending"),
    "sent": _r(S.SENT, "Sent"),
    "delivered": _r(S.DELIVERED, "Delivered (delivery certificate issued)", also=_CERTIFIED),
    "read": _r(S.READ, "Read (read certificate issued)", terminal=True, also=_CERTIFIED),
    "failed": _r(S.FAILED, "Failed"),
    "bounced": _r(S.BOUNCED, "Bounced"),
}

#: LegallyMail signatures. The document shows only "pending" and "signed";
#: "expired" follows from the request's ``expires_at``, and "rejected" /
#: "declined" / "cancelled" are assumptions for a signer who refuses and a
#: withdrawn request, so a wait on them fails instead of polling forever.
LEGALLYMAIL_SIGNATURE: dict[str, StatusRule] = {
    "pending": _r(S.PENDING, "Pending signature"),
    "signed": _r(S.SIGNED, "Signed", terminal=True, also=(S.DELIVERED, S.ACCEPTED, S.CERTIFIED)),
    "expired": _r(S.EXPIRED, "Expired without signature (assumed value)"),
    "rejected": _r(S.REJECTED, "Rejected by the signer (assumed value)"),
    "declined": _r(S.REJECTED, "Declined by the signer (assumed value)"),
    "cancelled": _r(S.CANCELLED, "Cancelled (assumed value)"),
}

#: LegallyMail certified SMS: "sent" and "delivered" are documented; "failed"
#: follows from the ``failed_at`` field. Certification is ``ts_confirmed_at``,
#: see :func:`classify` ``certified``.
LEGALLYMAIL_SMS: dict[str, StatusRule] = {
    "sent": _r(S.SENT, "Sent"),
    "delivered": _r(S.DELIVERED, "Delivered"),
    "failed": _r(S.FAILED, "Failed (assumed value, from failed_at)"),
}

CHANNELS: dict[str, Mapping[str, StatusRule]] = {
    "mensatek.certified_email": MENSATEK_CERTIFIED_EMAIL,
    "mensatek.sms": MENSATEK_SMS,
    "mensatek.email": MENSATEK_EMAIL,
    "mensatek.rcs": MENSATEK_RCS,
    "legallymail.email": LEGALLYMAIL_EMAIL,
    "legallymail.signature": LEGALLYMAIL_SIGNATURE,
    "legallymail.sms": LEGALLYMAIL_SMS,
}


@dataclass(frozen=True)
class VendorStatus:
    """One vendor status, verbatim, with its meaning in the common vocabulary."""

    channel: str
    code: str | None
    text: str | None
    status: DeliveryStatus
    terminal: bool
    failure: bool
    reached: frozenset[DeliveryStatus] = field(default_factory=frozenset)
    known: bool = True

    def has_reached(self, target: DeliveryStatus) -> bool:
        return target in self.reached

    def describe(self) -> str:
        """The vendor's own words first (what an operator looks up in the vendor panel)."""
        text = self.text or ""
        code = f"{self.code}" if self.code is not None else "?"
        return f"{code} {text}".strip() + f" [{self.status.value}]"

    def to_dict(self) -> dict[str, Any]:
        return {
            "channel": self.channel, "code": self.code, "text": self.text, "status": self.status.value,
            "terminal": self.terminal, "failure": self.failure, "reached": sorted(s.value for s in self.reached),
            "known": self.known,
        }


def classify(channel: str, code: Any, text: str | None = None, *, certified: bool = False) -> VendorStatus:
    """Map a vendor code (number or word, as the vendor sent it) to a :class:`VendorStatus`.

    ``certified`` adds the certified milestone when the vendor says so outside
    the status field (LegallyMail SMS ``ts_confirmed_at``).
    """
    try:
        table = CHANNELS[channel]
    except KeyError:
        raise ValidationError(f"Unknown status channel {channel!r}; known: {sorted(CHANNELS)}") from None
    key = None if code is None else str(code).strip().lower()
    rule = table.get(key) if key is not None else None
    if rule is None:
        log.warning("Undocumented %s status %r (%s): kept verbatim and treated as not final",
                    channel, code, text or "no text")
        return VendorStatus(channel=channel, code=None if code is None else str(code), text=text,
                            status=S.UNKNOWN, terminal=False, failure=False, known=False)
    reached = rule.reached | ({S.CERTIFIED} if certified else frozenset())
    return VendorStatus(channel=channel, code=str(code), text=text or rule.meaning, status=rule.status,
                        terminal=rule.terminal, failure=rule.failure, reached=reached)


def parse_target(value: Any) -> DeliveryStatus:
    """A sensor ``target`` (``"certified"``, ``DeliveryStatus.READ`` ...) as a DeliveryStatus."""
    try:
        status = DeliveryStatus(str(getattr(value, "value", value)).strip().lower())
    except ValueError:
        status = None
    if status not in TARGETS:
        raise ValidationError(f"target must be one of {sorted(t.value for t in TARGETS)}, got {value!r}")
    return status


def no_report_yet(channel: str, text: str = "No report yet") -> VendorStatus:
    """A message the vendor knows but reports nothing about yet (an SMS report without entries)."""
    return VendorStatus(channel=channel, code=None, text=text, status=S.PENDING, terminal=False, failure=False)


def aggregate(channel: str, parts: Sequence[tuple[str, VendorStatus]]) -> VendorStatus:
    """One status for a message with several recipients (an SMS to many phones, a multi-recipient send).

    A failed recipient fails the message (named in the text); otherwise the
    message has reached what every recipient has reached, and is final when
    every recipient is.
    """
    if not parts:
        return no_report_yet(channel)
    failed = [(label, s) for label, s in parts if s.failure]
    if failed:
        first = failed[0][1]
        text = "; ".join(f"{lbl}: {s.text or s.code}" for lbl, s in failed)
        return VendorStatus(channel=channel, code=first.code, text=text, status=first.status, terminal=True,
                            failure=True, reached=frozenset.intersection(*(s.reached for _, s in parts)))
    reached = frozenset.intersection(*(s.reached for _, s in parts))
    least = min(parts, key=lambda p: len(p[1].reached))[1]
    return VendorStatus(
        channel=channel, code=",".join(str(s.code) for _, s in parts),
        text="; ".join(f"{label}: {s.text or s.code}" for label, s in parts),
        status=least.status, terminal=all(s.terminal for _, s in parts), failure=False, reached=reached,
        known=all(s.known for _, s in parts),
    )


def vendor_state(result: EmailRecipientStatus | EmailSummary | SignatureSummary | LegallyMailSmsStatus
                 | SmsReportEntry) -> VendorStatus:
    """A status the vendor clients return, in the provider's vocabulary.

    The clients keep what the vendor said; what it means for a wait, an archive or a
    report is this layer's to say, so every reader classifies through here.
    """
    if isinstance(result, SmsReportEntry):
        return classify("mensatek.sms", result.status_code, result.status_text)
    if isinstance(result, LegallyMailSmsStatus):
        return classify("legallymail.sms", result.status, certified=bool(result.ts_confirmed_at))
    if isinstance(result, SignatureSummary):
        return classify("legallymail.signature", result.status)
    if isinstance(result, EmailRecipientStatus | EmailSummary):
        return classify("legallymail.email", result.status)
    raise TypeError(f"no vendor status in a {type(result).__name__}")
