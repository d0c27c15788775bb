"""LegallyMail e-signature: ``POST /signature/request``, ``GET /signatures``, ``GET /signature``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_mensatek.clients._http.transport import (
    SEND,
)
from airflow_provider_mensatek.clients._removed_names import STATE, RemovedNames
from airflow_provider_mensatek.clients._wire import _Jsonable
from airflow_provider_mensatek.clients.legallymail._core import LegallyMailCore
from airflow_provider_mensatek.clients.legallymail.checks import (
    MAX_LIST_LIMIT,
    VENDOR,
    Signer,
    _text,
    check_identifier,
    check_language,
    check_signers,
    load_document,
)
from airflow_provider_mensatek.clients.validation import (
    Attachment,
    check_int_range,
)


@dataclass(frozen=True)
class SignerStatus(_Jsonable):
    name: str | None
    email: str | None
    phone: str | None
    status: str | None
    signed_at: str | None


@dataclass(frozen=True)
class SignatureRequestResult(_Jsonable):
    uuid: str
    signer_name: str | None
    signer_email: str | None
    document_name: str | None
    status: str | None
    created_at: str | None
    signers: list[Signer] = field(default_factory=list)


@dataclass(frozen=True)
class SignatureSummary(RemovedNames, _Jsonable):
    REMOVED = STATE
    uuid: str
    signer_name: str | None
    signer_email: str | None
    document_name: str | None
    status: str | None
    created_at: str | None
    signed_at: str | None


@dataclass(frozen=True)
class SignatureStatus(SignatureSummary):
    expires_at: str | None = None
    document_hash: str | None = None
    signed_document_hash: str | None = None
    signers: list[SignerStatus] = field(default_factory=list)
    download_original_url: str | None = None
    download_acta_url: str | None = None


class SignatureApi(LegallyMailCore):
    """E-signature requests."""

    def _signature_body(
        self, document: Any, signers: Any, *, document_name: str | None, language: str
    ) -> tuple[dict[str, Any], list[Signer]]:
        checked = check_signers(signers)
        lang = check_language(language)
        name, content = load_document(document, document_name, allowed_roots=self.allowed_roots)
        body: dict[str, Any]
        if len(checked) == 1:
            # The vendor's primary (single-signer) form.
            only = checked[0]
            body = {"signer_name": only.name, "signer_email": only.email}
            if only.phone:
                body["signer_phone"] = only.phone
        else:
            body = {"signers": [{k: v for k, v in s.to_dict().items() if v is not None} for s in checked]}
        body.update({"document": Attachment(name, content).base64, "document_name": name, "language": lang})
        return body, checked

    def request_signature(
        self,
        document: Any,
        signers: Any,
        *,
        document_name: str | None = None,
        language: str = "es",
    ) -> SignatureRequestResult:
        """``POST /signature/send``: ask 1 to 5 people to sign a PDF (at most 10 MB).

        ``document`` is PDF bytes, a local path inside :attr:`allowed_roots`, or an
        object-storage path (``ObjectStoragePath``, any fsspec/UPath object);
        ``document_name`` (what signers see) defaults to the file name.
        """
        body, checked = self._signature_body(document, signers, document_name=document_name, language=language)
        emails = ", ".join(s.email for s in checked)
        answer = self.call("POST", "signature/send", kind=SEND, json=body,
                           look_for=f"a signature request for {body['document_name']!r} to {emails}")
        data = answer.get("data") or {}
        uuid = _text(data.get("uuid"))
        if not uuid:
            raise self._accepted_but_unreadable("signature/send", "the answer has no uuid",
                                                f"a signature request for {body['document_name']!r} to {emails}")
        return SignatureRequestResult(
            uuid=uuid, signer_name=_text(data.get("signer_name")), signer_email=_text(data.get("signer_email")),
            document_name=_text(data.get("document_name")), status=_text(data.get("status")),
            created_at=_text(data.get("created_at")), signers=checked,
        )

    def list_signatures(self, limit: int = 10) -> list[SignatureSummary]:
        """``GET /signatures?limit=``: the latest signature requests (1 to 25)."""
        limit = check_int_range(limit, "limit", 1, MAX_LIST_LIMIT, vendor=VENDOR)
        answer = self.call("GET", "signatures", params={"limit": limit})
        return [_signature_summary(s) for s in answer.get("data") or [] if isinstance(s, Mapping)]

    def get_signature(self, uuid: str) -> SignatureStatus:
        """``GET /signature?uuid=``: status of a request, each signer, hashes and download URLs."""
        uid = check_identifier(uuid, "uuid")
        answer = self.call("GET", "signature", params={"uuid": uid})
        data = answer.get("data") or {}
        signers = [
            SignerStatus(name=_text(s.get("signer_name")), email=_text(s.get("signer_email")),
                         phone=_text(s.get("signer_phone")), status=_text(s.get("status")),
                         signed_at=_text(s.get("signed_at")))
            for s in data.get("signers") or [] if isinstance(s, Mapping)
        ]
        summary = _signature_summary(data)
        return SignatureStatus(
            **summary.__dict__, expires_at=_text(data.get("expires_at")),
            document_hash=_text(data.get("document_hash")),
            signed_document_hash=_text(data.get("signed_document_hash")), signers=signers,
            download_original_url=_text(data.get("download_original_url")),
            download_acta_url=_text(data.get("download_acta_url")),
        )


def _signature_summary(s: Mapping[str, Any]) -> SignatureSummary:
    return SignatureSummary(
        uuid=str(s.get("uuid", "")), signer_name=_text(s.get("signer_name")),
        signer_email=_text(s.get("signer_email")), document_name=_text(s.get("document_name")),
        status=_text(s.get("status")), created_at=_text(s.get("created_at")), signed_at=_text(s.get("signed_at")),
    )
