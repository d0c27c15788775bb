"""The request, answer and fault types the sandbox server and its vendor emulators exchange."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from airflow_provider_mensatek.sandbox import control_params as check
from airflow_provider_mensatek.sandbox.request_log import shown_request


@dataclass
class RecordedRequest:
    """One request as the vendor received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    params: dict[str, Any]
    at: datetime
    content_type: str = ""
    #: Position since the last reset (set by the log): a gap before the first shown entry is what was dropped.
    seq: int = 0

    def __repr__(self) -> str:
        # Test failures print requests: show them as the log does, never with the credentials.
        return f"RecordedRequest({self.to_dict()!r})"

    @property
    def function(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[-1]

    @property
    def authorization(self) -> str | None:
        return self.headers.get("authorization")

    @property
    def basic_auth(self) -> tuple[str, str] | None:
        value = self.authorization or ""
        if not value.lower().startswith("basic "):
            return None
        try:
            user, _, password = base64.b64decode(value[6:]).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return user, password

    @property
    def bearer_token(self) -> str | None:
        value = self.authorization or ""
        return value[7:] if value.lower().startswith("bearer ") else None

    def param(self, name: str, default: Any = None) -> Any:
        """Case-insensitive parameter lookup (the vendors treat names case-insensitively)."""
        lowered = name.lower()
        for key, value in self.params.items():
            if key.lower() == lowered:
                return value
        return default

    def json_param(self, name: str) -> Any:
        """A parameter that may arrive JSON-encoded in a string (arrays in Mensatek)."""
        value = self.param(name)
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                return value
        return value

    def to_dict(self, secrets: tuple[str, ...] = ()) -> dict[str, Any]:
        """JSON-safe and credential-free; ``secrets`` are hidden too wherever they appear."""
        return shown_request(method=self.method, path=self.path, query=self.query, headers=self.headers,
                             params=self.params, at=self.at, content_type=self.content_type,
                             body_size=len(self.body), seq=self.seq, secrets=secrets)


@dataclass
class SandboxResponse:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> SandboxResponse:
        return cls(status, json.dumps(data, ensure_ascii=False).encode("utf-8"), "application/json",
                   headers or {})

    @classmethod
    def text(cls, text: str, status: int = 200) -> SandboxResponse:
        return cls(status, text.encode("utf-8"), "text/plain; charset=utf-8")


@dataclass
class Fault:
    """What to do instead of (or after) answering normally. ``kind`` is one of:

    ``drop_after_accept``
        process the request (state changes!) then close the socket without answering:
        the classic ambiguous send;
    ``drop``
        close the socket without processing anything;
    ``garble_after_accept``
        process the request, then answer ``status`` with ``body`` (e.g. an HTML error page
        or a truncated JSON) instead of the real answer;
    ``status``
        answer ``status`` (with ``retry_after`` if given) without processing;
    ``delay``
        sleep ``delay`` seconds, then answer normally.
    """

    kind: str
    status: int = 503
    retry_after: float | None = None
    delay: float = 0.0
    body: str = ""

    def __post_init__(self) -> None:
        # Checked (and numbers read from their text) here, so the control route and
        # Python callers get the same refusals: ``delay=inf`` would hold a thread for good.
        check.text("kind", self.kind, choices=check.FAULT_KINDS)
        self.status = check.integer("status", self.status, minimum=100, maximum=599)
        if self.retry_after is not None:
            self.retry_after = check.number("retry_after", self.retry_after, minimum=0,
                                            maximum=check.MAX_RETRY_AFTER)
        self.delay = check.number("delay", self.delay, minimum=0, maximum=check.MAX_FAULT_DELAY)
        check.text("body", self.body, required=False)
