"""A campaign's summary: totals, who to resend (``not_sent.csv``) and who to check first (``unconfirmed.csv``).

``not_sent.csv`` is the file people fix and resend, so a recipient is listed
there only when it is proven not sent:

* an invalid row (never planned into a batch);
* a batch with no ledger record at all: every send writes its ``in_flight``
  record before its request, so none was made;
* a ``failed_not_sent`` batch (recorded only when nothing can have reached the vendor);
* a recipient an accepted answer proves refused (see
  :func:`~airflow_provider_mensatek.campaigns.answers.settle`).

Everything else that may not have been sent goes to ``unconfirmed.csv``: batches
``in_flight`` or ``ambiguous`` (the vendor may have them), ``cleared`` batches
(a person allowed their task one resend: resending them from a file as well
would send twice), and recipients an accepted answer leaves open. Duplicates
are counted but listed in neither (their first occurrence was planned).

Both files are for people, who open them in a spreadsheet: every cell is
quoted and neutralised against formula injection (see
:mod:`~airflow_provider_mensatek.campaigns.spreadsheet_cells`).
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

from airflow_provider_mensatek.campaigns.answers import ANSWER_RULES
from airflow_provider_mensatek.campaigns.auth import auth_records
from airflow_provider_mensatek.campaigns.folder import (
    LEDGER_DIR,
    LEDGER_EXPORT_NAME,
    NOT_SENT_NAME,
    REJECTED_NAME,
    SUMMARY_NAME,
    UNCONFIRMED_NAME,
    read_plan,
)
from airflow_provider_mensatek.campaigns.input import MAX_REJECTED_ROW_CHARS
from airflow_provider_mensatek.campaigns.ledger import (
    ACCEPTED,
    CLEARED,
    FAILED_NOT_SENT,
    IN_FLIGHT,
    SEND_EVENTS,
    Ledger,
    export_jsonl,
)
from airflow_provider_mensatek.campaigns.plan import load_batch, load_batch_rows, write_atomic
from airflow_provider_mensatek.campaigns.spreadsheet_cells import neutralise

NOT_ATTEMPTED = "not_attempted"

#: One listed recipient: (source line, source row, category, reason).
_Listed = tuple[int, dict[str, Any], str, str]


def summarize(campaign: Any) -> dict[str, Any]:
    """Totals of the campaign, written to ``summary.json``, plus ``not_sent.csv``, ``unconfirmed.csv`` and
    ``ledger.jsonl`` (see the module docstring for who goes where)."""
    plan = read_plan(campaign)
    ledger = Ledger(campaign / LEDGER_DIR)
    batch_states: Counter[str] = Counter()
    sent = credits_used = 0.0
    credits_left: tuple[str, Any] | None = None
    not_sent: list[_Listed] = []
    unconfirmed: list[_Listed] = []
    vendor_not_sent = 0

    for row in _rejected(campaign):
        if row["kind"] != "duplicate":
            reason = row["reason"] + (f" (only the first {MAX_REJECTED_ROW_CHARS} characters of the row are kept "
                                      "here: take it from the source file)" if row.get("truncated") else "")
            not_sent.append((row["line"], row["row"], "invalid", reason))
    for entry in plan["batches"]:
        batch_id, reference = entry["batch_id"], entry["reference"]
        records = ledger.records(batch_id)
        last = next((r for r in reversed(records) if r.get("event") in SEND_EVENTS), None)
        state = last["event"] if last else NOT_ATTEMPTED
        batch_states[state] += 1
        if last is not None and state == ACCEPTED:
            sent += last.get("sent", 0)
            vendor_not_sent += last.get("not_sent", 0)
            credits_used += last.get("credits_used") or 0
            if last.get("credits_left") is not None and (credits_left is None or last["at"] > credits_left[0]):
                credits_left = (last["at"], last["credits_left"])
            _accepted(campaign, batch_id, last, not_sent, unconfirmed)
            continue
        rows = load_batch_rows(campaign, batch_id)
        if last is None or state == FAILED_NOT_SENT:
            reason = ("batch not sent: its task did not run (no send was ever started)" if last is None
                      else f"batch failed, nothing sent: {last.get('detail', '')}")
            not_sent.extend((line, row, state, reason) for line, row in rows)
            continue
        if state == CLEARED:
            category = "cleared"
            reason = (f"outcome was unknown; {last.get('cleared_by')} cleared the batch for one resend by its "
                      f"task ({last.get('note')}), not made yet: run its task again rather than resending from "
                      "this file")
        else:
            category = "outcome_unknown"
            why = "worker stopped mid-send" if state == IN_FLIGHT else last.get("detail", "")
            reason = (f"outcome unknown ({why}): check the vendor panel for reference {reference} before "
                      "resending")
        unconfirmed.extend((line, row, category, reason) for line, row in rows)

    not_sent.sort(key=lambda t: t[0])
    unconfirmed.sort(key=lambda t: t[0])
    _write_rows(campaign / NOT_SENT_NAME, not_sent)
    _write_rows(campaign / UNCONFIRMED_NAME, unconfirmed)
    exported = export_jsonl(ledger, campaign / LEDGER_EXPORT_NAME, also=auth_records(ledger))
    refused = sum(1 for t in not_sent if t[2] == "refused_by_vendor")
    summary = {
        "campaign": plan["campaign"], "campaign_reference": plan["campaign_reference"], "channel": plan["channel"],
        "recipients": plan["rows"], "valid": plan["valid"], "invalid": plan["invalid"],
        "duplicates": plan["duplicates"], "batches": len(plan["batches"]), "batch_states": dict(batch_states),
        "sent": int(sent), "not_sent": len(not_sent), "not_sent_by_vendor_unnamed": max(0, vendor_not_sent - refused),
        "not_sent_reasons": dict(Counter(t[2] for t in not_sent)), "unconfirmed": len(unconfirmed),
        "unconfirmed_reasons": dict(Counter(t[2] for t in unconfirmed)),
        "unconfirmed_file": str(campaign / UNCONFIRMED_NAME), "credits_used": credits_used,
        "credits_left": credits_left[1] if credits_left else None,
        "not_sent_file": str(campaign / NOT_SENT_NAME), "ledger_file": str(campaign / LEDGER_EXPORT_NAME),
        "ledger_records": exported,
    }
    write_atomic(campaign / SUMMARY_NAME, json.dumps(summary, ensure_ascii=False, indent=1))
    return summary


def _accepted(campaign: Any, batch_id: str, record: dict[str, Any], not_sent: list[_Listed],
              unconfirmed: list[_Listed]) -> None:
    """The recipients of an accepted batch its answer did not confirm: proven refused, or left open."""
    reference = record.get("reference")
    refused = set(record.get("refused", []))
    unsure = set(record.get("unconfirmed", []))
    proven = record.get("answer_rules") == ANSWER_RULES
    if not proven:  # written by a release that called every recipient missing from an echo refused
        unsure |= refused
        refused = set()
    if not refused and not unsure:
        return
    planned = load_batch(campaign, batch_id)
    keys = dict(zip(planned["lines"], planned["keys"], strict=True))
    for line, row in load_batch_rows(campaign, batch_id):
        key = keys.get(line)
        if key in refused:
            not_sent.append((line, row, "refused_by_vendor",
                             f"refused by the vendor in an accepted batch (reference {reference})"))
        elif key in unsure:
            why = ("its answer does not prove which recipients were taken" if proven
                   else "recorded by an earlier release that did not cross-check the vendor's answer")
            unconfirmed.append((line, row, "unconfirmed_by_answer", (
                f"batch accepted ({record.get('sent', 0)} sent, {record.get('not_sent', 0)} not sent) but {why}: "
                f"check the vendor panel for reference {reference} before resending")))


def _rejected(campaign: Any) -> Iterator[dict[str, Any]]:
    path = campaign / REJECTED_NAME
    if not path.exists():
        return
    with path.open("r") as handle:
        for text in handle:
            if text.strip():
                yield json.loads(text)


def _write_rows(path: Any, rows: Iterable[_Listed]) -> None:
    """The listed recipients as CSV for people: source columns, line, reason; every cell quoted and neutralised."""
    rows = list(rows)
    columns: dict[str, None] = {}
    for _, row, _, _ in rows:
        columns.update(dict.fromkeys(row))
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL)
    writer.writerow([neutralise(str(c)) for c in [*columns, "line", "reason"]])
    for line, row, _, reason in rows:
        cells = [row.get(c) for c in columns]
        writer.writerow([neutralise("" if v is None else str(v)) for v in [*cells, line, reason]])
    write_atomic(path, buffer.getvalue())
