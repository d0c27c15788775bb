"""A refused credential, recorded in the campaign ledger: one failed login per credential per campaign.

The transport remembers a refused credential for the rest of its process. A
mapped campaign on a real executor runs each batch task in a process of its
own, where that memory is empty: without a shared record every batch would try
the refused credential once, and Mensatek treats "a repeatedly failed
connection" as spam and may block the account. So a batch send that gets an
authentication failure records it here, and every send reads it before its
request and fails without one.

Records live in ``<ledger>/.auth/`` (beside the batch folders; a dot folder is
never listed as a batch), one JSON object each, ``<seq>-<event>-<random>.json``:

* ``auth_failed``: when, by which batch (and reference), the vendor, the error,
  and a salted hash of the credential;
* ``auth_cleared``: who cleared it and why.

A send is refused while an ``auth_failed`` record newer than the last
``auth_cleared`` matches its credential. Two ways out, both deliberate:

* fix the connection: a different credential (user or token) does not match the
  record, so it is tried, once (refused too, it is recorded in turn);
* the same credential is valid again (the vendor unblocked it, say):
  ``python -m airflow_provider_mensatek.campaigns ledger clear-auth``.

The ledger is read by whoever can read the campaign folder, so it holds no
credential and nothing that decodes to one: PBKDF2-HMAC-SHA256 over the
client's credential id (itself a SHA-256 of vendor, base URL, user and token),
with a random salt per record.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Mapping
from typing import Any

from airflow_provider_mensatek.campaigns.ledger import Ledger, LedgerError, local_path, utc_now, write_record

AUTH_DIR = ".auth"
AUTH_FAILED = "auth_failed"
AUTH_CLEARED = "auth_cleared"
#: Enough to make guessing a weak token from a copied ledger slow; computed only when a record exists.
_ITERATIONS = 100_000


def credential_id(client: Any) -> str | None:
    """The client's public ``credential_id`` (a SHA-256 digest, never the credential).

    None for a client without one (a stand-in): then any recorded failure applies to it.
    """
    value = getattr(client, "credential_id", None)
    return value if isinstance(value, str) else None


def _fingerprint(credential: str, salt: str) -> str:
    return hashlib.pbkdf2_hmac("sha256", credential.encode(), bytes.fromhex(salt), _ITERATIONS).hex()


def auth_records(ledger: Ledger) -> list[dict[str, Any]]:
    """Every auth record of the campaign, oldest first."""
    folder = ledger.root / AUTH_DIR
    local = local_path(folder)
    out = []
    if local is not None:
        if not os.path.isdir(local):
            return []
        for name in os.listdir(local):
            if name.endswith(".json") and not name.startswith("."):
                with open(os.path.join(local, name), encoding="utf-8") as handle:
                    out.append(json.loads(handle.read()))
    else:
        if not folder.exists():
            return []
        out = [json.loads(p.read_text()) for p in folder.iterdir()
               if p.name.endswith(".json") and not p.name.startswith(".")]
    return sorted(out, key=lambda r: (r.get("seq", 0), r.get("at", "")))


def _pending(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The auth_failed records written after the last auth_cleared."""
    cleared = max((i for i, r in enumerate(records) if r.get("event") == AUTH_CLEARED), default=-1)
    return [r for r in records[cleared + 1:] if r.get("event") == AUTH_FAILED]


def refused_credential(ledger: Ledger, credential: str | None) -> dict[str, Any] | None:
    """The uncleared ``auth_failed`` record that matches ``credential``, or None: it may be tried."""
    for record in reversed(_pending(auth_records(ledger))):
        recorded, salt = record.get("credential"), record.get("salt")
        if credential is None or not isinstance(recorded, str) or not isinstance(salt, str):
            return record
        if _fingerprint(credential, salt) == recorded:
            return record
    return None


def record_auth_failure(ledger: Ledger, credential: str | None, *, batch_id: str, reference: str, vendor: str,
                        detail: str, context: Mapping[str, Any] | None = None) -> dict[str, Any]:
    salt = os.urandom(16).hex()
    return _append(ledger, AUTH_FAILED, batch_id=batch_id, reference=reference, vendor=vendor, detail=detail,
                   salt=salt, credential=_fingerprint(credential, salt) if credential is not None else None,
                   **({"context": dict(context)} if context else {}))


def clear_auth(ledger: Ledger, *, by: str, note: str) -> dict[str, Any]:
    """Let the recorded credential be tried again (once: refused again, it is recorded again)."""
    if not by or not note:
        raise LedgerError("clearing an auth failure needs who clears it (--by) and why (--note), for the audit trail")
    pending = _pending(auth_records(ledger))
    if not pending:
        raise LedgerError(f"no authentication failure to clear in {ledger.root}")
    return _append(ledger, AUTH_CLEARED, cleared_by=by, note=note,
                   failures=[{"at": r.get("at"), "batch_id": r.get("batch_id")} for r in pending])


def refused_message(record: Mapping[str, Any], ledger: Ledger) -> str:
    return (
        f"The {record.get('vendor', 'vendor')} credential of this connection was refused at {record.get('at')} by "
        f"batch {record.get('batch_id')} (reference {record.get('reference')!r}) of this campaign: "
        f"{record.get('detail')}. Not calling the vendor with it again: repeated failed logins get the account "
        "blocked as spam. Fix the connection's credential (a different one is tried, once), or, if this same "
        "credential is valid again, clear the record: python -m airflow_provider_mensatek.campaigns ledger "
        f"clear-auth {ledger.root} --by <you> --note <why>"
    )


def _append(ledger: Ledger, event: str, **fields: Any) -> dict[str, Any]:
    folder = ledger.root / AUTH_DIR
    folder.mkdir(parents=True, exist_ok=True)
    seq = len(auth_records(ledger)) + 1
    record = {"seq": seq, "event": event, "at": utc_now(), **fields}
    write_record(folder, f"{seq:06d}-{event}-{uuid.uuid4().hex[:8]}.json",
                 json.dumps(record, ensure_ascii=False) + "\n", exclusive=False)
    return record
