"""A campaign folder's layout, its plan, and the plan entries that point into it, checked with clear errors.

A campaign lives in one folder (any pathlib-like object; ``ObjectStoragePath``
on the Airflow side)::

    <campaign>/plan.json          the plan (written last: its presence means complete)
    <campaign>/batches/<id>.json  each batch's recipients (vendor shape + source line + source row)
    <campaign>/rejected.jsonl     invalid and duplicate rows, with line number and reason
    <campaign>/ledger/            the send ledger (see campaign_ledger)
    <campaign>/summary.json       totals, written by the summary step
    <campaign>/not_sent.csv       recipients proven not sent, with the reason: to fix and resend
    <campaign>/unconfirmed.csv    recipients that may have been sent: check the vendor panel first
    <campaign>/ledger.jsonl       the ledger exported as one audit file

A wrong ``campaign_path``, a plan step that never finished or a hand-written
batch entry must fail the task once with a message saying what is wrong,
before any request: a KeyError or FileNotFoundError would be retried by
Airflow and say nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from airflow_provider_mensatek.campaigns.input import shorten
from airflow_provider_mensatek.campaigns.recipients import CHANNELS
from airflow_provider_mensatek.clients.errors import ValidationError

PLAN_NAME = "plan.json"
BATCHES_DIR = "batches"
REJECTED_NAME = "rejected.jsonl"
LEDGER_DIR = "ledger"
SUMMARY_NAME = "summary.json"
NOT_SENT_NAME = "not_sent.csv"
UNCONFIRMED_NAME = "unconfirmed.csv"
LEDGER_EXPORT_NAME = "ledger.jsonl"

#: Batch ids are the batch number in at least five digits; nothing else may reach a file name.
_BATCH_ID = re.compile(r"[0-9]{5,12}")
_ENTRY_TEXT = ("campaign", "channel", "batch_id", "reference")


def read_plan(campaign: Any) -> dict[str, Any]:
    """The campaign's plan; a clear error when the folder or its plan is missing or unreadable."""
    try:
        with (campaign / PLAN_NAME).open("r") as handle:
            plan = json.load(handle)
    except FileNotFoundError:
        if not campaign.exists():
            raise ValidationError(f"There is no campaign folder at {campaign}: check campaign_path (a campaign "
                                  "folder is made by MensatekPlanCampaignOperator)") from None
        raise ValidationError(f"{campaign} has no {PLAN_NAME}: its plan step never finished, or this is not a "
                              "campaign folder. Plan the campaign first.") from None
    except ValueError:
        raise ValidationError(f"{campaign}/{PLAN_NAME} is not readable JSON: plan the campaign again") from None
    if not isinstance(plan, dict) or not isinstance(plan.get("batches"), list):
        raise ValidationError(f"{campaign}/{PLAN_NAME} is not a campaign plan (no batch list): plan the campaign "
                              "again")
    return plan


def missing_batch_file(campaign: Any, batch_id: str) -> ValidationError:
    """The error for a batch whose file is not in its campaign folder (nothing was sent)."""
    if not campaign.exists():
        return ValidationError(f"There is no campaign folder at {campaign} (batch {batch_id}'s plan entry points "
                               "there): check the campaign path; nothing was sent")
    return ValidationError(f"Batch {batch_id} has no file in {campaign}/{BATCHES_DIR}: the plan entry does not "
                           "belong to this campaign folder, or the campaign was planned again without it. Nothing "
                           "was sent; plan the campaign again.")


def check_entry(entry: Any) -> dict[str, Any]:
    """One plan entry as the send steps need it (see ``Batch.entry``), or a clear ValidationError."""
    problem = _entry_problem(entry)
    if problem:
        raise ValidationError(f"batch must be one entry of a campaign plan's batch list (what "
                              f"MensatekPlanCampaignOperator returns): {problem}; got {shorten(repr(entry), 200)}")
    return dict(entry)


def check_entries(entries: Any) -> list[dict[str, Any]]:
    """Every entry checked, all of one campaign and channel, none twice: before the first is sent."""
    if isinstance(entries, str | bytes | Mapping) or not isinstance(entries, Iterable):
        raise ValidationError(f"plan must be the batch list MensatekPlanCampaignOperator returns (or the whole "
                              f"plan), got {type(entries).__name__}")
    checked = [check_entry(entry) for entry in entries]
    seen: set[str] = set()
    for entry in checked:
        if entry["batch_id"] in seen:
            raise ValidationError(f"batch {entry['batch_id']} appears twice in the batches given; each batch is "
                                  "sent once")
        seen.add(entry["batch_id"])
        if (entry["campaign"], entry["channel"]) != (checked[0]["campaign"], checked[0]["channel"]):
            raise ValidationError(f"the batches given belong to more than one campaign or channel "
                                  f"({checked[0]['campaign']} {checked[0]['channel']}, {entry['campaign']} "
                                  f"{entry['channel']}): send each campaign with its own task")
    return checked


def _entry_problem(entry: Any) -> str | None:
    if not isinstance(entry, Mapping):
        return f"it is a {type(entry).__name__}, not a dict"
    missing = [key for key in _ENTRY_TEXT if key not in entry]
    if missing:
        return f"it lacks {', '.join(missing)}"
    not_text = [key for key in _ENTRY_TEXT if not isinstance(entry[key], str) or not entry[key].strip()]
    if not_text:
        return f"{', '.join(not_text)} must be non-empty text"
    if entry["channel"] not in CHANNELS:
        return f"channel must be one of {', '.join(CHANNELS)}"
    if not _BATCH_ID.fullmatch(entry["batch_id"]):
        return "batch_id must be the batch number in digits, as planned (e.g. '00001')"
    if "fingerprint" in entry and not isinstance(entry["fingerprint"], str):
        return "fingerprint must be text"
    return None
