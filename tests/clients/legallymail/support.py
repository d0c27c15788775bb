"""What the LegallyMail client tests share."""

from __future__ import annotations

from tests.conftest import LEGALLYMAIL_TOKEN


def assert_bearer_only(request: object) -> None:
    """The token travels in the Authorization header and nowhere else."""
    assert request.headers["authorization"] == f"Bearer {LEGALLYMAIL_TOKEN}"  # type: ignore[attr-defined]
    assert LEGALLYMAIL_TOKEN not in request.body.decode("utf-8", "replace")  # type: ignore[attr-defined]
    assert all(LEGALLYMAIL_TOKEN not in str(v) for v in request.query.values())  # type: ignore[attr-defined]
