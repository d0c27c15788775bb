"""Mensatek Email (EnviarEMAIL): parameters, placeholders, the send."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_mensatek.clients._http.extra_params import merge_extra_params
from airflow_provider_mensatek.clients._http.transport import (
    SEND,
)
from airflow_provider_mensatek.clients.errors import (
    ValidationError,
)
from airflow_provider_mensatek.clients.mensatek._core import MensatekCore
from airflow_provider_mensatek.clients.mensatek._email_and_rcs import (
    PLACEHOLDER_RE,
    CampaignSendResult,
    _common_params,
    _template_id,
    normalise_email_recipient,
    parse_campaign,
    recipient_variable_names,
)
from airflow_provider_mensatek.clients.mensatek.wire import FUNCTIONS, MAX_ATTACHMENT_BYTES, MAX_NAME_LEN, vendor_json
from airflow_provider_mensatek.clients.validation import (
    as_list,
    check_email,
    load_attachment,
    require_text,
)

log = logging.getLogger("airflow_provider_mensatek.clients.mensatek")


def build_email_params(
    sender_email: str,
    recipients: Any,
    subject: str,
    *,
    html: str | None = None,
    template_id: int | None = None,
    sender_name: str | None = None,
    reply_to: str | None = None,
    send_at: Any = None,
    forbidden_interval: Any = None,
    attachments: Sequence[Any] | None = None,
    allowed_roots: tuple[str, ...] = (),
    track_opens: bool | None = None,
    track_clicks: bool | None = None,
    list_unsubscribe: str | None = None,
    list_help: str | None = None,
    reference: str | None = None,
    report: bool | None = None,
    extra_params: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Validate an email campaign and build the ``EnviarEMAIL`` parameters (no HTTP).

    Local attachment paths are read only inside ``allowed_roots`` (the client's).
    """
    fn = FUNCTIONS["send_email"]
    if (html is None or html == "") == (template_id is None or template_id == ""):
        raise ValidationError("Give exactly one of html (Mensaje) or template_id (Plantilla)", function=fn)
    subject = require_text(subject, "subject")
    vendor_recipients = [normalise_email_recipient(r, i) for i, r in
                         enumerate(as_list(recipients, "recipients"))]
    params: dict[str, Any] = {
        "Emailremitente": check_email(sender_email, what="sender email"),
        "Destinatarios": vendor_json(vendor_recipients),
        "Asunto": subject,
    }
    if html:
        params["Mensaje"] = require_text(html, "html")
    else:
        params["Plantilla"] = _template_id(template_id)
    check_email_placeholders([subject, html or ""], vendor_recipients)
    if sender_name is not None:
        params["Nombreremitente"] = require_text(sender_name, "sender_name", max_len=100)
    if reply_to is not None:
        params["Replyto"] = check_email(reply_to, what="reply_to")
    _common_params(params, send_at=send_at, forbidden=forbidden_interval, reference=reference, report=report)
    if attachments:
        files = [load_attachment(a, max_name_len=MAX_NAME_LEN, max_bytes=MAX_ATTACHMENT_BYTES,
                                 allowed_roots=allowed_roots)
                 for a in as_list(attachments, "attachments")]
        # The attachment example of this document was lost; the same vendor's
        # certified email uses Nombre + base64 Contenido.
        params["Adjuntos"] = vendor_json([{"Nombre": f.name, "Contenido": f.base64} for f in files])
    for key, flag, what in (("Seguimientoaperturas", track_opens, "track_opens"),
                            ("Seguimientoclicks", track_clicks, "track_clicks")):
        if flag is not None:
            if not isinstance(flag, bool):
                raise ValidationError(f"{what} must be True or False, got {flag!r}", function=fn)
            params[key] = "1" if flag else "0"
    for key, header, what in (("Listunsubscribe", list_unsubscribe, "list_unsubscribe"),
                              ("Listhelp", list_help, "list_help")):
        if header is not None:
            params[key] = _list_header(header, what)
    merge_extra_params(params, extra_params, fn)
    return params



def _list_header(value: Any, what: str) -> str:
    """``<mailto:…>, <https://…>`` as RFC 2369 headers are written."""
    text = require_text(value, what)
    parts = [p.strip() for p in text.split(",")]
    for part in parts:
        if not (part.startswith("<") and part.endswith(">")) or not part[1:].startswith(("mailto:", "https:",
                                                                                          "http:")):
            raise ValidationError(f"{what}: {part!r} must be <mailto:…> or <https://…> (comma-separated)")
    return text


def check_email_placeholders(texts: Sequence[str], recipients: Sequence[Mapping[str, Any]]) -> None:
    """A ``###Variable###`` defined for some recipients must be defined for all of them.

    A placeholder no recipient defines may be one of the vendor's reserved
    variables (their list was lost from the document): it is logged, not refused.
    """
    used: dict[str, str] = {}
    for text in texts:
        for name in PLACEHOLDER_RE.findall(text):
            used.setdefault(name.lower(), name)
    defined = [recipient_variable_names(r) for r in recipients]
    problems = []
    for key, name in used.items():
        lacking = [i + 1 for i, names in enumerate(defined) if key not in names]
        if lacking and len(lacking) < len(recipients):
            problems.append(f"###{name}### is missing for recipient(s) {', '.join(map(str, lacking[:10]))}")
        elif lacking:
            log.info("###%s### is defined by no recipient; assuming it is a Mensatek reserved variable", name)
    if problems:
        raise ValidationError("Variables used in the subject/message are not defined for every recipient: "
                              + "; ".join(problems))


class EmailApi(MensatekCore):
    """EnviarEMAIL."""

    def send_email(
        self,
        sender_email: str,
        recipients: Any,
        subject: str,
        *,
        html: str | None = None,
        template_id: int | None = None,
        sender_name: str | None = None,
        reply_to: str | None = None,
        send_at: Any = None,
        forbidden_interval: Any = None,
        attachments: Sequence[Any] | None = None,
        track_opens: bool | None = None,
        track_clicks: bool | None = None,
        list_unsubscribe: str | None = None,
        list_help: str | None = None,
        reference: str | None = None,
        report: bool | None = None,
        extra_params: Mapping[str, Any] | None = None,
    ) -> CampaignSendResult:
        """Send (or schedule) an email campaign (EnviarEMAIL). Never retried once it may have arrived.

        Exactly one of ``html`` (Mensaje) or ``template_id`` (Plantilla).
        Recipients: addresses, or dicts with ``Email``, ``Nombre``, ``variables``
        (name -> value, used as ``###Name###``) and ``reference``.
        """
        params = build_email_params(
            sender_email, recipients, subject, html=html, template_id=template_id, sender_name=sender_name,
            reply_to=reply_to, send_at=send_at, forbidden_interval=forbidden_interval,
            attachments=attachments, allowed_roots=self.allowed_roots,
            track_opens=track_opens, track_clicks=track_clicks, list_unsubscribe=list_unsubscribe,
            list_help=list_help, reference=reference, report=report, extra_params=extra_params,
        )
        record = self.call("send_email", params, kind=SEND, reference=reference)
        return parse_campaign(record, "email", params, reference)
