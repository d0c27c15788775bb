"""LegallyMailClient: one method per LegallyMail REST endpoint, typed results.

Contract: ``vendor-docs/legallymail.txt``. Each API surface is a module of this package
(:mod:`.email`, :mod:`.signature`, :mod:`.sms`, :mod:`.account`); :mod:`._core` holds
what they share, and handles, here and nowhere else:

* the token travels only in ``Authorization: Bearer`` (never in the body or
  the URL, both of which the vendor also accepts and both of which end up in
  access logs);
* answers are JSON objects with ``success`` (``/info`` has none); sends wrap
  their answer in ``data``, except ``/sms/send`` which answers flat;
* errors are HTTP statuses: 400 -> :class:`InvalidRequestError` with the
  vendor's message, 401 -> :class:`AuthenticationError` (the transport never
  retries it and remembers it), 403 -> :class:`ForbiddenError` or, when the
  body talks about credits / remaining emails, :class:`InsufficientCreditsError`,
  404 -> :class:`NotFoundError`, 429 -> :class:`RateLimitedError` (retried after
  ``Retry-After``), 5xx -> transient on reads, :class:`AmbiguousSendError` on sends;
* the documented 10 requests/minute: every request first takes a slot from the
  process-wide :class:`~airflow_provider_mensatek.clients._http.rate_limit.RateLimiter`
  of the token, so the client waits instead of collecting 429s.
"""

from __future__ import annotations

from airflow_provider_mensatek.clients.legallymail.account import AccountApi
from airflow_provider_mensatek.clients.legallymail.email import EmailApi
from airflow_provider_mensatek.clients.legallymail.signature import SignatureApi
from airflow_provider_mensatek.clients.legallymail.sms import SmsApi


class LegallyMailClient(EmailApi, SignatureApi, SmsApi, AccountApi):
    """Airflow-free client for the LegallyMail REST API (Bearer token).

    ``allowed_roots``: the local folders attachments and signature documents may
    be read from (none by default: local paths are refused until you name them).
    """
