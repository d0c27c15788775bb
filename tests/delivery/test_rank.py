"""The rank rule, checked over every code of every status table: a message's latest status never moves backwards."""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping
from datetime import datetime, timedelta

import pytest

from airflow_provider_mensatek.clients.validation import MADRID
from airflow_provider_mensatek.delivery.rank import (
    TIER_FINAL_FAILURE,
    TIER_FINAL_SUCCESS,
    TIER_INFO,
    TIER_PROGRESS,
    TIER_UNKNOWN,
    status_rank,
    tier,
)
from airflow_provider_mensatek.delivery.report import SOURCE_POLL, SOURCE_WEBHOOK, DeliveryReport
from airflow_provider_mensatek.delivery.statuses import CHANNELS, DeliveryStatus, StatusRule, VendorStatus, classify

S = DeliveryStatus
T0 = datetime(2024, 5, 6, 10, 0, tzinfo=MADRID)


def table_statuses(channel: str) -> list[VendorStatus]:
    table: Mapping[str, StatusRule] = CHANNELS[channel]
    return [classify(channel, code) for code in table]


def expected_tier(status: VendorStatus) -> int:
    if status.status is S.INFO:
        return TIER_INFO
    if not status.terminal:
        return TIER_PROGRESS
    return TIER_FINAL_FAILURE if status.failure else TIER_FINAL_SUCCESS


def milestones(status: VendorStatus) -> frozenset[DeliveryStatus]:
    return status.reached | {status.status}


@pytest.mark.parametrize("channel", sorted(CHANNELS))
def test_every_pair_of_codes_of_a_channel_follows_the_rule(channel: str) -> None:
    statuses = table_statuses(channel)
    for status in statuses:
        assert tier(status) == expected_tier(status), status.code
    for a, b in itertools.permutations(statuses, 2):
        ra, rb = status_rank(a), status_rank(b)
        if expected_tier(a) != expected_tier(b):
            # Final success > final failure > not final > (unknown > info): by tier, whatever was reached.
            assert (ra > rb) == (expected_tier(a) > expected_tier(b)), (a.code, b.code)
        elif milestones(a) > milestones(b):
            assert ra > rb, (a.code, b.code)  # reached more: later
        elif milestones(a) == milestones(b):
            assert ra == rb, (a.code, b.code)  # same place: time and code decide (order_key)
        else:
            assert ra != rb, (a.code, b.code)  # a total order: different milestones never tie


@pytest.mark.parametrize("channel", sorted(CHANNELS))
def test_unknown_codes_rank_below_every_known_status_and_above_info(channel: str) -> None:
    unknown = classify(channel, "no-such-code-999")
    assert not unknown.known and tier(unknown) == TIER_UNKNOWN
    for status in table_statuses(channel):
        if status.status is S.INFO:
            assert status_rank(status) < status_rank(unknown)
        else:
            assert status_rank(status) > status_rank(unknown), status.code


@pytest.mark.parametrize(("channel", "later", "earlier"), [
    # "a late 'delivered' after 'certified' does not regress it", in each channel that has both.
    ("mensatek.sms", "14", "11"), ("mensatek.sms", "14", "13"), ("mensatek.sms", "14", "70"),
    ("mensatek.certified_email", "11", "14"), ("mensatek.certified_email", "14", "10"),
    ("legallymail.email", "read", "delivered"), ("legallymail.email", "delivered", "sent"),
    ("legallymail.sms", "delivered", "sent"),
    # Progress within SMS Contracts: certified, then the contract opened, read, accepted, signed, final.
    ("mensatek.sms", "160", "14"), ("mensatek.sms", "161", "160"), ("mensatek.sms", "162", "161"),
    ("mensatek.sms", "163", "162"), ("mensatek.sms", "181", "163"), ("mensatek.sms", "17", "16"),
    # A contract that ends badly after certification has ended; a final success is never undone by a failure.
    ("mensatek.sms", "195", "15"), ("mensatek.sms", "190", "163"), ("mensatek.sms", "17", "195"),
    ("mensatek.certified_email", "11", "50"), ("mensatek.certified_email", "50", "14"),
    # Anything beats scheduled; pending beats scheduled; a failure beats pending.
    ("mensatek.sms", "2", "1"), ("mensatek.sms", "50", "2"), ("mensatek.sms", "3", "1"),
    ("mensatek.sms", "11", "1003"), ("mensatek.sms", "53", "123"),
    # GPS (info) never replaces a status.
    ("mensatek.sms", "1", "5000"),
])
def test_documented_progressions(channel: str, later: str, earlier: str) -> None:
    assert status_rank(classify(channel, later)) > status_rank(classify(channel, earlier))


def report(channel: str, code: str, minutes: float, key: str | None = None) -> DeliveryReport:
    return DeliveryReport(channel=channel.partition(".")[2], message_id="1", status=classify(channel, code),
                          source=SOURCE_WEBHOOK, dedupe_key=key or f"k-{code}-{minutes}",
                          occurred_at=T0 + timedelta(minutes=minutes))


@pytest.mark.parametrize(("channel", "timeline"), [
    ("mensatek.certified_email", ["1", "2", "10", "14", "11"]),
    ("mensatek.sms", ["1", "2", "13", "14", "15", "16", "17"]),  # certified SMS, SMS Contract by YES reply
    ("mensatek.sms", ["2", "11", "14", "160", "161", "162", "163", "181"]),  # SMS Contract with a PDF
    ("mensatek.sms", ["2", "123", "134", "53"]),  # switched off, retried, expired
    ("legallymail.email", ["pending", "sent", "delivered", "read"]),
])
def test_the_latest_report_does_not_depend_on_the_order_reports_arrive_in(channel: str, timeline: list[str]) -> None:
    reports = [report(channel, code, minute) for minute, code in enumerate(timeline)]
    # Copies of reports too (a duplicate delivery, or a poll seeing the same status).
    reports += [report(channel, code, minute, key=f"poll-{code}") for minute, code in enumerate(timeline)][::2]
    rng = random.Random(14)
    for _ in range(200):
        rng.shuffle(reports)
        latest = reports[0]
        for incoming in reports[1:]:
            if incoming.supersedes(latest):
                latest = incoming
        assert latest.status.code == timeline[-1]
        assert latest.occurred_at == T0 + timedelta(minutes=len(timeline) - 1)


def test_equal_ranks_are_decided_by_time_then_code_then_key() -> None:
    thirteen, eleven = report("mensatek.sms", "13", 1), report("mensatek.sms", "11", 2)
    assert thirteen.rank == eleven.rank and eleven.supersedes(thirteen) and not thirteen.supersedes(eleven)
    same_time = report("mensatek.sms", "16", 1), report("mensatek.sms", "15", 1)
    assert same_time[0].supersedes(same_time[1])  # 16 follows 15 in the table
    twin = report("mensatek.sms", "11", 2, key="zzz")
    assert twin.supersedes(eleven) != eleven.supersedes(twin)  # never both, never neither
    no_time = DeliveryReport(channel="sms", message_id="1", status=classify("mensatek.sms", "11"),
                             source=SOURCE_POLL, dedupe_key="p")
    assert eleven.supersedes(no_time)
