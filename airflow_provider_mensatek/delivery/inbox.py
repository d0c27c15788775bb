"""What the report receiver writes to each channel's Asset state store, and how a wait reads it.

The receiver (``webhooks/``) keeps every report in its own table; that table is
the inbox. Waiting tasks and triggers must not open the metadata database, so the
receiver also writes a small read cache where Airflow 3.3 lets them read: the
*asset state store* of the channel's Asset (``delivery/report_assets.py``). This
module is the contract between the two sides, without Airflow.

Keys in the state store of a channel's Asset, values JSON:

``m:<message_id>`` (:func:`message_key`) -> :class:`MessageState`
    ``{"v": 1, "channel", "message_id", "seq", "report_id", "parts": {part: report}}``:
    the latest report of each part of the message (:func:`report_part`: one part per
    recipient, as one SMS ``idMensaje`` covers every phone of a send), each as
    :meth:`DeliveryReport.to_dict` without personal data. ``seq`` is the journal
    number of the write, ``report_id`` the receiver's row of the report that made it.
``_journal`` (:data:`JOURNAL_KEY`) -> :class:`Journal`
    ``{"v": 1, "seq", "recent": [[seq, message_id], ...]}``: the last
    :data:`JOURNAL_SIZE` writes of ``m:`` keys of the channel, oldest first.

What the writer promises:

* It writes only when a report *advances* its message: a part's latest status
  moves forward in :func:`~airflow_provider_mensatek.delivery.rank.order_key`
  order. A repeated, late or lesser report is stored in the inbox and nothing here changes.
* Each write takes the channel's next ``seq`` (1, 2, 3 ... with no gap, under a
  lock per channel held to commit), writes ``m:<id>`` with every part of the
  message as the inbox has it, and appends ``[seq, message_id]`` to ``_journal``,
  in the transaction that stores the report. So a journal's entries are in commit
  order, and ``seq`` is not the report's id (ids are taken at insert, not at commit).
* The store only answers for an *active* Asset (one a parsed DAG declares: a
  sensor in webhook mode lists it in its ``inlets``). The receiver writes nothing
  for an inactive Asset, and Airflow deletes the keys of an Asset that becomes
  inactive; the journal then restarts with a gap that :meth:`Journal.changed_since`
  reports.

How a reader uses it: read ``_journal`` first, then your ``m:<id>`` keys, and keep
the journal's ``seq``; later, read ``_journal`` again and re-read only the ids
:meth:`Journal.changed_since` returns, or every key when it returns None (the
reader fell more than :data:`JOURNAL_SIZE` writes behind, or the journal restarted).
A missing key means no report advanced that message yet, or the Asset is not
active: the store cannot tell the two apart.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import pairwise
from types import MappingProxyType
from typing import Any

from airflow_provider_mensatek.delivery.report import DeliveryReport
from airflow_provider_mensatek.delivery.statuses import VendorStatus, aggregate, no_report_yet

#: Version of both JSON layouts.
VERSION = 1
JOURNAL_KEY = "_journal"
MESSAGE_KEY_PREFIX = "m:"
#: Journal entries kept: a watcher reading every few seconds falls behind only past this many
#: advances of one channel between two reads.
JOURNAL_SIZE = 512
#: The part of a report without a recipient.
NO_PART = "-"
#: Airflow's ``asset_state_store.key`` is 512 characters.
MAX_KEY = 512


def message_key(message_id: str) -> str:
    """The state store key of a message (``m:<message_id>``)."""
    if not isinstance(message_id, str) or not message_id:
        raise ValueError("a message id is non-empty text")
    key = MESSAGE_KEY_PREFIX + message_id
    if len(key) > MAX_KEY:
        raise ValueError(f"message id too long for a state store key ({len(key)} > {MAX_KEY} characters)")
    return key


def part_of(recipient: str | None) -> str:
    """The part of a message a report is about: the first 16 hex of the SHA-256 of its recipient, or ``-``.

    Hashed so a key of the state store names no address or phone; trimmed and
    case-folded because an address's case says nothing about who receives it.
    """
    text = (recipient or "").strip().lower()
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16] if text else NO_PART


def report_part(report: DeliveryReport) -> str:
    """The part a report is about: its recipient's, or for a received SMS the phone that sent it.

    A reply comes from one of the phones the original SMS went to, so replies to
    one ``idMensaje`` are told apart by who sent them, as its status reports are by
    whom they were sent to.
    """
    return part_of(report.reply_sender if report.channel == "sms_inbound" else report.recipient)


@dataclass(frozen=True)
class MessageState:
    """The latest report of every part of one message, as the receiver last wrote it."""

    channel: str
    message_id: str
    seq: int
    report_id: int
    parts: Mapping[str, DeliveryReport]

    def __post_init__(self) -> None:
        if not self.parts:
            raise ValueError("a message state has at least one part")
        object.__setattr__(self, "parts", MappingProxyType(dict(self.parts)))

    @property
    def key(self) -> str:
        return message_key(self.message_id)

    @property
    def latest(self) -> DeliveryReport:
        """The most advanced report of all parts (the maximum of their order keys)."""
        return max(self.parts.values(), key=lambda report: report.order_key)

    def status(self, expected_parts: int | None = None) -> VendorStatus:
        """One status for the message: the part's own when it has one, else every part's aggregated.

        ``expected_parts`` (e.g. the phones of an SMS send) counts the parts not
        reported yet as "no report yet", so the message is neither final nor
        beyond what its slowest part reached until every part has reported.
        """
        reports = sorted(self.parts.items())
        vendor_channel = reports[0][1].status.channel
        statuses: list[tuple[str, VendorStatus]] = [(part, report.status) for part, report in reports]
        missing = (expected_parts or 0) - len(statuses)
        statuses += [(f"part {index + 1} of {expected_parts}", no_report_yet(vendor_channel))
                     for index in range(len(statuses), len(statuses) + max(missing, 0))]
        if len(statuses) == 1:
            return statuses[0][1]
        return aggregate(vendor_channel, statuses)

    def advance(self, part: str, report: DeliveryReport, *, seq: int, report_id: int) -> MessageState | None:
        """This state with ``report`` as ``part``'s latest, or None when it does not supersede that part's."""
        current = self.parts.get(part)
        if current is not None and not report.supersedes(current):
            return None
        return MessageState(channel=self.channel, message_id=self.message_id, seq=seq, report_id=report_id,
                            parts={**self.parts, part: report})

    def merge(self, other: MessageState) -> MessageState:
        """Both states' parts, the later report of each; ``seq``/``report_id`` of the newer write."""
        if (other.channel, other.message_id) != (self.channel, self.message_id):
            raise ValueError("only states of the same message merge")
        parts = dict(self.parts)
        for part, report in other.parts.items():
            if part not in parts or report.supersedes(parts[part]):
                parts[part] = report
        newer = other if other.seq > self.seq else self
        return MessageState(channel=self.channel, message_id=self.message_id, seq=newer.seq,
                            report_id=newer.report_id, parts=parts)

    # -- JSON ----------------------------------------------------------------------------

    def to_value(self) -> dict[str, Any]:
        """The JSON-able value of :meth:`key` (parts without personal data)."""
        return {"v": VERSION, "channel": self.channel, "message_id": self.message_id, "seq": self.seq,
                "report_id": self.report_id,
                "parts": {part: report.to_dict(personal=False) for part, report in sorted(self.parts.items())}}

    def to_json(self) -> str:
        return json.dumps(self.to_value(), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_value(cls, value: Mapping[str, Any] | str | None) -> MessageState | None:
        """From what the store returns (the decoded JSON, or its text); None for a missing key.

        ``ValueError`` for a value of another layout or version.
        """
        data = _decoded(value)
        if data is None:
            return None
        parts = data.get("parts")
        if not isinstance(parts, Mapping):
            raise ValueError("a message state's parts must be an object")
        return cls(channel=_text(data, "channel"), message_id=_text(data, "message_id"), seq=_count(data, "seq"),
                   report_id=_count(data, "report_id"),
                   parts={str(part): DeliveryReport.from_dict(report) for part, report in parts.items()})


@dataclass(frozen=True)
class Journal:
    """The last :data:`JOURNAL_SIZE` writes of a channel's message states: ``(seq, message_id)``, oldest first."""

    seq: int = 0
    recent: tuple[tuple[int, str], ...] = ()

    def __post_init__(self) -> None:
        recent = tuple((int(seq), str(message_id)) for seq, message_id in self.recent)
        if any(later[0] <= earlier[0] for earlier, later in pairwise(recent)):
            raise ValueError("journal entries must be in increasing seq order")
        if recent and recent[-1][0] != self.seq:
            raise ValueError("a journal's seq is that of its last entry")
        object.__setattr__(self, "recent", recent[-JOURNAL_SIZE:])

    def append(self, seq: int, message_id: str) -> Journal:
        """The journal after the write ``seq`` (greater than :attr:`seq`) of ``message_id``'s state."""
        if seq <= self.seq:
            raise ValueError(f"journal seq {seq} is not after {self.seq}")
        return Journal(seq=seq, recent=(*self.recent, (seq, message_id)))

    def changed_since(self, since: int) -> set[str] | None:
        """Message ids written after ``since`` (a :attr:`seq` read earlier); None when that cannot be known.

        None means the entries right after ``since`` are no longer here (the reader
        fell behind the window, or the journal restarted after the Asset was
        inactive): read each key of interest instead.
        """
        if since == self.seq:
            return set()
        if since > self.seq:
            return None
        if not self.recent or self.recent[0][0] > since + 1:
            return None
        return {message_id for seq, message_id in self.recent if seq > since}

    def to_value(self) -> dict[str, Any]:
        return {"v": VERSION, "seq": self.seq, "recent": [[seq, message_id] for seq, message_id in self.recent]}

    def to_json(self) -> str:
        return json.dumps(self.to_value(), separators=(",", ":"))

    @classmethod
    def from_value(cls, value: Mapping[str, Any] | str | None) -> Journal:
        """From what the store returns; an empty journal for a missing key."""
        data = _decoded(value)
        if data is None:
            return cls()
        recent = data.get("recent")
        if not isinstance(recent, list):
            raise ValueError("a journal's recent must be a list")
        entries: list[tuple[int, str]] = []
        for entry in recent:
            if (not isinstance(entry, list | tuple) or len(entry) != 2 or isinstance(entry[0], bool)
                    or not isinstance(entry[0], int) or not isinstance(entry[1], str)):
                raise ValueError("a journal entry is [seq, message_id]")
            entries.append((entry[0], entry[1]))
        return cls(seq=_count(data, "seq"), recent=tuple(entries))


def changed_message_ids(journal: Journal, since: int, watched: Iterable[str]) -> set[str]:
    """Which of ``watched`` to re-read after ``since``: those the journal names, or all when it cannot tell."""
    wanted = set(watched)
    changed = journal.changed_since(since)
    return wanted if changed is None else wanted & changed


def _decoded(value: Mapping[str, Any] | str | None) -> Mapping[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, str | bytes):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError("not a JSON value") from None
    if not isinstance(value, Mapping) or value.get("v") != VERSION:
        raise ValueError(f"not a version {VERSION} value of the report state store")
    return value


def _text(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be non-empty text")
    return value


def _count(data: Mapping[str, Any], name: str) -> int:
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer")
    return value


__all__ = [
    "JOURNAL_KEY",
    "JOURNAL_SIZE",
    "MAX_KEY",
    "MESSAGE_KEY_PREFIX",
    "NO_PART",
    "VERSION",
    "Journal",
    "MessageState",
    "changed_message_ids",
    "message_key",
    "part_of",
    "report_part",
]
