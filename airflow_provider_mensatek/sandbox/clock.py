"""Sandbox time: a clock tests move by hand and demos run fast (every vendor date is Europe/Madrid)."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from airflow_provider_mensatek.sandbox import control_params as check

MADRID = ZoneInfo("Europe/Madrid")


class Clock:
    """Sandbox time. ``speed`` simulated seconds pass per real second; tests use speed 0 and ``advance``."""

    def __init__(self, start: datetime | None = None, *, speed: float = 0.0) -> None:
        self._lock = threading.Lock()
        self._base = (start or datetime.now(tz=MADRID)).astimezone(MADRID)
        self._real_base = time.monotonic()
        self.speed = check.number("speed", speed, minimum=0, maximum=check.MAX_CLOCK_SPEED)

    def now(self) -> datetime:
        with self._lock:
            elapsed = (time.monotonic() - self._real_base) * self.speed
            return self._base + timedelta(seconds=elapsed)

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            self._base += timedelta(seconds=seconds)
            return self._base

    def set(self, when: datetime) -> None:
        with self._lock:
            self._base = when.astimezone(MADRID)
            self._real_base = time.monotonic()

    def set_speed(self, speed: float) -> None:
        """Change the speed from now on (assigning ``speed`` alone rescales the time already run)."""
        speed = check.number("speed", speed, minimum=0, maximum=check.MAX_CLOCK_SPEED)
        with self._lock:
            now = time.monotonic()
            self._base += timedelta(seconds=(now - self._real_base) * self.speed)
            self._real_base = now
            self.speed = speed
