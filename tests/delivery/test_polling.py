"""PollPolicy / PollSchedule: the numbers, their floors, and JSON round-trips."""

from __future__ import annotations

import json
import random

import pytest

from airflow_provider_mensatek.clients.errors import ValidationError
from airflow_provider_mensatek.delivery.polling import (
    LEGALLYMAIL_POLICY,
    MENSATEK_POLICY,
    PollPolicy,
    PollSchedule,
    policy_for,
)


def test_mensatek_default_waits_five_minutes_and_doubles_to_one_hour() -> None:
    rng = random.Random(1)
    assert MENSATEK_POLICY.initial_delay == 300
    firsts = [MENSATEK_POLICY.first_delay(rng) for _ in range(200)]
    assert min(firsts) >= 300
    assert max(firsts) <= 600  # spread over 5 more minutes
    assert max(firsts) - min(firsts) > 200
    no_jitter = MENSATEK_POLICY.with_overrides({"jitter": 0})
    assert [no_jitter.interval_after(n) for n in range(1, 8)] == [300, 600, 1200, 2400, 3600, 3600, 3600]


def test_jitter_never_goes_below_the_minimum_nor_above_the_maximum() -> None:
    rng = random.Random(7)
    policy = PollPolicy(initial_delay=10, min_interval=100, max_interval=1000, jitter=0.5)
    gaps = [policy.interval_after(n, rng) for n in range(1, 12) for _ in range(50)]
    assert min(gaps) >= 100
    assert max(gaps) <= 1000
    # Jitter really spreads sensors apart at the ceiling.
    assert len({round(policy.interval_after(9, rng)) for _ in range(20)}) > 5


def test_legallymail_default_stays_within_its_documented_budget() -> None:
    assert LEGALLYMAIL_POLICY.min_interval >= 60
    assert LEGALLYMAIL_POLICY.max_checks is not None


def test_every_number_can_be_overridden() -> None:
    policy = policy_for("mensatek", {"initial_delay": 1, "min_interval": 2, "max_interval": 3, "multiplier": 1.5,
                                     "jitter": 0, "max_checks": 4})
    assert policy == PollPolicy(1, 2, 3, 1.5, 0, 4, initial_spread=300, spread_per_message=True)
    assert policy_for("mensatek", {"initial_spread": 0}).initial_spread == 0
    assert policy_for("mensatek", {"spread_per_message": False}).spread_per_message is False
    whole = PollPolicy(5, 5, 5)
    assert policy_for("legallymail", whole) is whole


@pytest.mark.parametrize("overrides", [
    {"min_interval": -1}, {"max_interval": 10, "min_interval": 20}, {"jitter": 1.5}, {"multiplier": 0.5},
    {"max_checks": 0}, {"initial_dealy": 5},
])
def test_bad_policy_numbers_are_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        policy_for("mensatek", overrides)


def test_schedule_continues_after_a_json_round_trip() -> None:
    rng = random.Random(3)
    schedule = PollSchedule.start(MENSATEK_POLICY, ["1", "2"], now=1000.0, rng=rng)
    assert schedule.due(1299) == []
    first = min(m.next_at for m in schedule.messages.values())
    assert first >= 1300
    schedule.checked("1", first, final=False)
    schedule.checked("2", first, final=True)
    restored = PollSchedule.from_dict(json.loads(json.dumps(schedule.to_dict())))
    assert restored == schedule
    # The second check of "1" is a full min_interval after the first, not a fresh initial delay.
    assert restored.messages["1"].checks == 1
    assert restored.next_wake() == restored.messages["1"].next_at >= first + 300 * 0.9
    assert restored.pending() == ["1"]


def test_retry_after_holds_every_check_back() -> None:
    schedule = PollSchedule.start(PollPolicy(0, 0, 0, jitter=0), ["a"], now=0.0)
    assert schedule.due(0.0) == ["a"]
    schedule.retry_after(0.0, 120)
    assert schedule.due(119.9) == []
    assert schedule.next_wake() == 120
    assert schedule.due(120) == ["a"]


def test_a_bare_429_waits_at_least_min_interval() -> None:
    schedule = PollSchedule.start(PollPolicy(0, 45, 90, jitter=0), ["a"], now=0.0)
    schedule.retry_after(10.0, None)
    assert schedule.not_before == 55.0


def test_max_checks_gives_up_on_a_message() -> None:
    schedule = PollSchedule.start(PollPolicy(0, 1, 1, jitter=0, max_checks=2), ["a"], now=0.0)
    schedule.checked("a", 0.0, final=False)
    schedule.checked("a", 1.0, final=False)
    assert schedule.due(100.0) == []
    assert schedule.next_wake() is None
    assert schedule.exhausted() == ["a"]


def test_one_wait_shares_its_jitter_different_waits_spread_apart() -> None:
    # Policies for APIs with list calls keep a wait's messages together (LegallyMail).
    rng = random.Random(11)
    one = PollSchedule.start(LEGALLYMAIL_POLICY, ["a", "b", "c"], now=0.0, rng=rng)
    assert len({m.next_at for m in one.messages.values()}) == 1
    for key in one.messages:
        one.checked(key, 400.0, final=False)
    assert len({m.next_at for m in one.messages.values()}) == 1
    others = {PollSchedule.start(LEGALLYMAIL_POLICY, ["a"], now=0.0, rng=rng).messages["a"].next_at
              for _ in range(10)}
    assert len(others) == 10


def test_one_mensatek_wait_on_a_whole_campaign_spreads_its_calls() -> None:
    # Mensatek has one report call per message: a sensor waiting on 1,000 ids must not
    # fire 1,000 calls in one burst (review finding A4).
    schedule = PollSchedule.start(MENSATEK_POLICY, [str(i) for i in range(1000)], now=0.0)
    firsts = sorted(m.next_at for m in schedule.messages.values())
    assert firsts[0] >= MENSATEK_POLICY.initial_delay
    busiest_minute = max(sum(1 for t in firsts if start <= t < start + 60) for start in firsts)
    assert busiest_minute <= 300  # ~200 expected over a 5-minute spread; 1,000 without it
    for key in list(schedule.messages)[:50]:
        schedule.checked(key, schedule.messages[key].next_at, final=False)
    seconds = sorted(schedule.messages[k].next_at for k in list(schedule.messages)[:50])
    assert len(set(seconds)) == 50  # later checks stay spread too


def test_legallymail_waits_keep_their_messages_together_for_list_calls() -> None:
    schedule = PollSchedule.start(LEGALLYMAIL_POLICY, ["a", "b", "c"], now=0.0)
    assert len({m.next_at for m in schedule.messages.values()}) == 1


def test_a_schedule_rebuilt_at_each_try_checks_when_a_kept_one_would() -> None:
    # Reschedule mode with no task state store (Airflow < 3.3): each try rebuilds the schedule from the
    # wait's start. Its checks fall when those of a schedule kept between tries fall.
    policy = LEGALLYMAIL_POLICY.with_overrides({"max_checks": 9})
    kept = PollSchedule(policy=policy, started_at=1000.0, seed=0.25)
    kept.messages = PollSchedule.as_if_on_time(policy, ["a"], started_at=1000.0, now=1000.0, seed=0.25).messages
    kept_times, rebuilt_times = [], []
    now = kept.next_wake()
    while now is not None:
        kept_times.append(now)
        kept.checked("a", now, final=False)
        now = kept.next_wake()
    now = 1000.0
    for _ in range(20):
        rebuilt = PollSchedule.as_if_on_time(policy, ["a"], started_at=1000.0, now=now, seed=0.25)
        if rebuilt.due(now):
            rebuilt_times.append(now)
            rebuilt.checked("a", now, final=False)
        wake = rebuilt.next_wake()
        if wake is None:
            break
        now = wake
    assert rebuilt_times == pytest.approx(kept_times)
    assert len(rebuilt_times) == 9 and rebuilt_times[0] >= 1060  # the initial delay ran once, from the start
    assert rebuilt.exhausted() == ["a"]


def test_a_rebuilt_schedule_asks_about_all_its_messages_together() -> None:
    # Mensatek spreads a campaign's messages apart; rebuilt at each try, the spread would wake one try per
    # message and each would ask again about every message it forgot.
    keys = [str(i) for i in range(100)]
    early = PollSchedule.as_if_on_time(MENSATEK_POLICY, keys, started_at=0.0, now=0.0, seed=0.5)
    (first,) = {m.next_at for m in early.messages.values()}
    assert 300 <= first <= 600
    assert early.due(first - 1) == []
    later = PollSchedule.as_if_on_time(MENSATEK_POLICY, keys, started_at=0.0, now=first + 5000, seed=0.5)
    assert later.due(first + 5000) == keys
    # Checks 5, 10, 20 and 40 minutes apart (jittered down by up to 10%) fit in 5,000 s: four made, the fifth due.
    assert {m.checks for m in later.messages.values()} == {4}
