"""The campaign send ledger: at most once per batch across retries, crashes and re-run DAG runs.

Storage layout, under the ledger directory (any pathlib-like object:
``pathlib.Path`` here, ``airflow.sdk.ObjectStoragePath`` on the Airflow side)::

    <ledger>/<batch_id>/<seq>-<event>-<random>.json   one JSON line per record
    <ledger>/<batch_id>/<seq>-in_flight.json          the claim of one send (a fixed name, created exclusively)
    <ledger>/.auth/<seq>-<event>-<random>.json         refused credentials (see campaign_auth)

**Why one object per record.** Mapped batch tasks run on different workers
and write the same ledger at the same time. Object stores (S3, GCS) have no
append, and a read-modify-write of one ``ledger.jsonl`` loses records when two
workers interleave (the last PUT wins) unless every store offers conditional
writes. A new object per record never conflicts; each object is complete
when it appears (an object PUT is atomic; on a local file system the record is
written under a temporary name, fsynced, renamed or linked, and its folder
fsynced, so a power loss cannot forget a record a send relied on). Reading the records of one
batch lists only that batch's folder. :func:`export_jsonl` concatenates every
record into one JSON Lines file for the audit trail.

**Why the in_flight record has a fixed name.** Two workers may decide to
send the same batch at the same moment (a zombie task and its retry, two DAG
runs of one campaign). Both read the same records, so both want the same next
``seq``; the in_flight record ``<seq>-in_flight.json`` is created exclusively
(local files: written under a temporary name, then hard-linked, which fails
when the name exists; other file systems: fsspec's exclusive mode ``"xb"``,
e.g. S3 conditional writes, ``If-None-Match: *``). Only the writer that
created it sends; the other gets ``LedgerBlockedError`` and sends nothing.
Storage that cannot create exclusively (no ``"xb"`` mode, or a store that
ignores the condition: see :mod:`.exclusive_create`, probed before the first
claim) refuses the send with ``ExclusiveCreateUnsupportedError``; it never
falls back to a plain write.

**Listings are read fresh.** s3fs caches folder listings per process; a
cached listing would not show a record another worker wrote since, so every
read of the ledger drops the cache of the folder it lists first.

Records of one batch are ordered by ``seq`` (the count of records found when
it was written), not by wall clock: the tries of one batch run one after the
other, but possibly on workers whose clocks disagree.

**Decision rule** (:func:`decide`), on the last *send-state* record of a batch:

* none, ``failed_not_sent`` (the vendor or our validation answered: nothing
  went out) or ``cleared`` (a person checked the vendor panel) -> send;
* ``accepted`` -> do not send; return the recorded result;
* ``in_flight`` (the worker stopped mid-send) or ``ambiguous`` (the request
  may have arrived) -> blocked until a person clears the batch.

``cancelled`` / ``rescheduled`` records (campaign control) are audit entries
and never make a batch sendable again.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import PurePath
from typing import Any

from airflow_provider_mensatek.campaigns.exclusive_create import (
    ExclusiveCreateUnsupportedError,
    require_exclusive_create,
)
from airflow_provider_mensatek.clients.errors import MensatekError

IN_FLIGHT = "in_flight"
ACCEPTED = "accepted"
AMBIGUOUS = "ambiguous"
FAILED_NOT_SENT = "failed_not_sent"
CLEARED = "cleared"
CANCELLED = "cancelled"
RESCHEDULED = "rescheduled"
SEND_EVENTS = frozenset({IN_FLIGHT, ACCEPTED, AMBIGUOUS, FAILED_NOT_SENT, CLEARED})
CONTROL_EVENTS = frozenset({CANCELLED, RESCHEDULED})
BLOCKING = frozenset({IN_FLIGHT, AMBIGUOUS})

SEND = "send"
REPLAY = "replay"
BLOCKED = "blocked"



class LedgerBlockedError(MensatekError):
    """A batch may already have been sent (in flight or ambiguous): a person must check and clear it."""


class LedgerError(MensatekError):
    """The ledger refuses an operation (e.g. clearing a batch that was accepted)."""


def utc_now() -> str:
    return datetime.now(tz=timezone.utc).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Decision:
    action: str
    record: dict[str, Any] | None = None


def decide(records: Iterable[Mapping[str, Any]], fingerprint: str | None = None) -> Decision:
    """What to do with a batch given its ledger records (oldest first). See the module docstring."""
    last: Mapping[str, Any] | None = None
    for record in records:
        if record.get("event") in SEND_EVENTS:
            last = record
    if last is None or last["event"] in (FAILED_NOT_SENT, CLEARED):
        return Decision(SEND, dict(last) if last else None)
    if last["event"] == ACCEPTED:
        recorded = last.get("fingerprint")
        if fingerprint is not None and recorded is not None and recorded != fingerprint:
            # Same batch id, other recipients: the source changed after this batch went out.
            return Decision(BLOCKED, {**last, "detail": "the batch's recipients changed since it was accepted "
                                                        f"(fingerprint {recorded} -> {fingerprint})"})
        return Decision(REPLAY, dict(last))
    return Decision(BLOCKED, dict(last))


def blocked_message(batch_id: str, record: Mapping[str, Any], ledger: str) -> str:
    event = record.get("event")
    detail = record.get("detail") or ("the worker stopped during the send" if event == IN_FLIGHT else "")
    if event == IN_FLIGHT and record.get("claimed_ahead"):
        detail = ("claimed by a task sending the campaign one batch at a time while it sent the batch before; "
                  "if that task is still running it is about to send this one: leave it. If it stopped, this "
                  "batch may or may not have been sent")
    return (
        f"Batch {batch_id} (reference {record.get('reference')!r}) is {event} since {record.get('at')}"
        + (f": {detail}" if detail else "")
        + ". It may have been sent; not sending it again automatically. Check the vendor panel for the "
        f"reference, then either leave it, or clear it to allow one resend: python -m "
        f"airflow_provider_mensatek.campaigns ledger clear {ledger} {batch_id} --by <you> --note <why>"
    )


class Ledger:
    """One campaign's ledger directory. ``root`` is pathlib-like (``/``, ``open``, ``iterdir``, ``rename``)."""

    def __init__(self, root: Any) -> None:
        self.root = root
        #: The OS path of a local ledger (plain os calls, no path objects), else None.
        self._local = local_path(root)
        #: Batch folders this object created and synced (see :meth:`make_folder`).
        self._made: set[str] = set()

    def __repr__(self) -> str:
        return f"Ledger({str(self.root)!r})"

    def records(self, batch_id: str) -> list[dict[str, Any]]:
        out = []
        if self._local is not None:
            folder = os.path.join(self._local, batch_id)
            if not os.path.isdir(folder):
                return []
            for name in os.listdir(folder):
                if _is_record(name):
                    with open(os.path.join(folder, name), encoding="utf-8") as handle:
                        out.append(json.loads(handle.read()))
        else:
            path = self.root / batch_id
            _drop_cached_listing(path)
            if not path.exists():
                return []
            out = [json.loads(p.read_text()) for p in path.iterdir() if _is_record(p.name)]
        return sorted(out, key=lambda r: (r.get("seq", 0), r.get("at", "")))

    def batch_ids(self) -> list[str]:
        """The batches with at least one record (a local folder made ahead of a claim that never came is not one)."""
        if self._local is not None:
            if not os.path.isdir(self._local):
                return []
            return sorted(name for name in os.listdir(self._local) if not name.startswith(".")
                          and os.path.isdir(os.path.join(self._local, name))
                          and any(_is_record(n) for n in os.listdir(os.path.join(self._local, name))))
        _drop_cached_listing(self.root)
        if not self.root.exists():
            return []
        return sorted(p.name for p in self.root.iterdir() if not p.name.startswith(".") and p.is_dir())

    def check_exclusive_create(self) -> None:
        """Raise ExclusiveCreateUnsupportedError, before anything is sent, if this storage cannot claim a send
        exclusively (local files always can)."""
        if self._local is None:
            require_exclusive_create(self.root)

    def make_folder(self, batch_id: str) -> None:
        """On local storage, create a batch's folder ahead of its first record and sync its entry, so the
        claim that follows syncs one file and one folder. Other storage has no folders to make."""
        if self._local is None:
            return
        os.makedirs(os.path.join(self._local, batch_id), exist_ok=True)
        # Synced even when the folder was there already: whoever made it may not have synced it.
        _fsync_directory(self._local)
        self._made.add(batch_id)

    def all_records(self) -> Iterator[dict[str, Any]]:
        for batch_id in self.batch_ids():
            yield from self.records(batch_id)

    def append(self, batch_id: str, event: str, *, seq: int | None = None, **fields: Any) -> dict[str, Any]:
        """Write one record (atomically: temporary name, then rename) and return it.

        ``seq``: the caller that has just read the batch's records knows the next
        number, which saves listing the folder again (two storage calls per send).
        """
        if event not in SEND_EVENTS | CONTROL_EVENTS:
            raise LedgerError(f"unknown ledger event {event!r}")
        if self._local is not None and seq is not None and seq > 1:  # the folder exists: plain os calls
            record = {"seq": seq, "batch_id": batch_id, "event": event, "at": utc_now(), **fields}
            _write_local(os.path.join(self._local, batch_id), f"{seq:06d}-{event}-{uuid.uuid4().hex[:8]}.json",
                         json.dumps(record, ensure_ascii=False) + "\n", exclusive=False, new_folder=False)
            return record
        folder = self.root / batch_id
        if seq is None or seq == 1:
            folder.mkdir(parents=True, exist_ok=True)
        if seq is None:
            seq = sum(1 for p in folder.iterdir() if p.name.endswith(".json") and not p.name.startswith(".")) + 1
        record = {"seq": seq, "batch_id": batch_id, "event": event, "at": utc_now(), **fields}
        name = f"{seq:06d}-{event}-{uuid.uuid4().hex[:8]}.json"
        write_record(folder, name, json.dumps(record, ensure_ascii=False) + "\n", exclusive=False,
                      new_folder=seq == 1)
        return record

    def claim(self, batch_id: str, seq: int, **fields: Any) -> dict[str, Any] | None:
        """Write the ``in_flight`` record of a send as ``<seq>-in_flight.json``, exclusively.

        Returns the record, or None when that name exists already: another
        worker claimed the same step of this batch and is sending it.
        """
        record = {"seq": seq, "batch_id": batch_id, "event": IN_FLIGHT, "at": utc_now(), **fields}
        text = json.dumps(record, ensure_ascii=False) + "\n"
        name = f"{seq:06d}-{IN_FLIGHT}.json"
        if self._local is not None and batch_id in self._made:
            created = _write_local(os.path.join(self._local, batch_id), name, text, exclusive=True, new_folder=False)
            return record if created else None
        self.check_exclusive_create()
        folder = self.root / batch_id
        if seq == 1:
            folder.mkdir(parents=True, exist_ok=True)
        created = write_record(folder, name, text, exclusive=True, new_folder=seq == 1)
        return record if created else None

    def state(self, batch_id: str) -> str | None:
        last = None
        for record in self.records(batch_id):
            if record.get("event") in SEND_EVENTS:
                last = record["event"]
        return last

    def clear(self, batch_id: str, *, by: str, note: str) -> dict[str, Any]:
        """Allow one resend of a blocked batch, after a person checked the vendor panel.

        Only ``in_flight`` / ``ambiguous`` batches can be cleared; the earlier
        records stay (the ledger is the audit trail).
        """
        if not by or not note:
            raise LedgerError("clearing a batch needs who clears it (--by) and why (--note), for the audit trail")
        records = self.records(batch_id)
        state = next((r["event"] for r in reversed(records) if r.get("event") in SEND_EVENTS), None)
        if state not in BLOCKING:
            raise LedgerError(f"batch {batch_id} is {state or 'not in the ledger'}; only in_flight or ambiguous "
                              "batches can be cleared (an accepted batch was sent and stays sent)")
        reference = records[-1].get("reference")
        return self.append(batch_id, CLEARED, reference=reference, cleared_by=by, note=note, previous=state)


def _is_record(name: str) -> bool:
    return name.endswith(".json") and not name.startswith(".")


def local_path(path: Any) -> str | None:
    """The OS path of a local ``pathlib.Path`` / ``file://`` ObjectStoragePath; None for other storage."""
    if isinstance(path, PurePath):
        return str(path)
    if getattr(path, "protocol", None) in ("file", "local"):
        return str(path.path)
    return None


def write_record(folder: Any, name: str, text: str, *, exclusive: bool, new_folder: bool = True) -> bool:
    """Write one complete record file; with ``exclusive``, only if ``name`` does not exist (else False).

    ``new_folder``: the batch folder may have been created for this record (its first one).
    """
    local = local_path(folder)
    if local is not None:
        return _write_local(local, name, text, exclusive=exclusive, new_folder=new_folder)
    target = folder / name
    if not exclusive:
        with target.open("w") as handle:  # an object PUT is atomic: readers never see half of it
            handle.write(text)
        return True
    try:
        with target.open("xb") as handle:
            handle.write(text.encode("utf-8"))
        return True
    except FileExistsError:
        return False
    except (ValueError, NotImplementedError, TypeError) as exc:
        raise ExclusiveCreateUnsupportedError(
            f"{target} cannot be created exclusively ({type(exc).__name__}: {exc}); a plain write could let two "
            "workers send one batch, so nothing is written and nothing is sent", vendor="provider") from exc


def _write_local(folder: str, name: str, text: str, *, exclusive: bool, new_folder: bool) -> bool:
    """A local record: complete when it appears, and on disk (file and directory entries fsynced).

    The send that follows an ``in_flight`` record, or the next step that trusts
    an ``accepted`` one, must not be undone by a power loss that forgets it.
    """
    final = os.path.join(folder, name)
    temporary = os.path.join(folder, f".{name}.{uuid.uuid4().hex[:8]}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, text.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    if not exclusive:
        os.replace(temporary, final)
    else:
        try:
            # link() fails when the name exists, and the record appears complete: an exclusive, atomic create.
            os.link(temporary, final)
        except FileExistsError:
            return False
        finally:
            os.unlink(temporary)
    _fsync_directory(folder)
    if new_folder:  # the batch folder's own entry in the ledger folder is new as well
        _fsync_directory(os.path.dirname(folder))
    return True


def _drop_cached_listing(path: Any) -> None:
    fs = getattr(path, "fs", None)
    if fs is not None:
        fs.invalidate_cache(path.path)


def _fsync_directory(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # a platform that cannot open directories (Windows): nothing more we can do
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def export_jsonl(ledger: Ledger, target: Any, also: Iterable[Mapping[str, Any]] = ()) -> int:
    """Every record, batch by batch, then ``also`` (the campaign's auth records), as one JSON Lines file
    (written atomically). Returns the count."""
    temporary = target.parent / f".{target.name}.tmp"
    count = 0
    with temporary.open("w") as handle:
        for record in (*ledger.all_records(), *also):
            handle.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
            count += 1
    temporary.rename(target)
    return count
