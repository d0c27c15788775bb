"""Campaign control: cancel or reschedule every scheduled message id of a campaign."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from airflow_provider_mensatek.campaigns.folder import (
    LEDGER_DIR,
    read_plan,
)
from airflow_provider_mensatek.campaigns.ledger import (
    ACCEPTED,
    CANCELLED,
    FAILED_NOT_SENT,
    RESCHEDULED,
    SEND_EVENTS,
    Ledger,
)
from airflow_provider_mensatek.campaigns.recipients import (
    CERTIFIED_EMAIL,
    SMS,
)
from airflow_provider_mensatek.clients.errors import (
    AlreadyCancelledError,
    AlreadySentError,
    AuthenticationError,
    MensatekError,
    NotFoundError,
    ValidationError,
)

log = logging.getLogger("airflow_provider_mensatek.campaigns.send")


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
