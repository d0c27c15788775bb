"""What redacting an accepted answer costs a client: Mensatek answers of 1, 1,000 and 10,000 recipients.

    .venv/bin/python bench/answer_redaction.py

For each size: parsing the answer alone (``parse_mensatek_body``), then parsing
plus ``Transport.redact_answer`` (what ``MensatekClient._check`` does), for a
clean answer and for one whose recipient echo quotes the token. Two clients
are built first, so the process-wide registry holds two credentials, as a
worker sending through both vendors does. Median of 21 runs each, in this
process, with time.perf_counter. A benchmark prints figures; it asserts nothing.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from airflow_provider_mensatek.clients import LegallyMailClient, MensatekClient
from airflow_provider_mensatek.clients.mensatek.wire import parse_mensatek_body

USER, TOKEN = "bench-user", "b3nch/T0ken+with=symbols&9"
RUNS = 21


def answer(recipients: int, echo_token: bool) -> str:
    echo = [{"Nombre": f"Persona {i}", "Email": f"persona{i}@example.com", "IdMensaje": str(1_000_000 + i)}
            for i in range(recipients)]
    if echo_token:
        echo[-1]["Nombre"] = f"Persona {TOKEN}"
    return json.dumps([{"Res": "1", "Enviados": str(recipients), "NoEnviados": "0", "Duplicados": "0",
                        "CreditosUsados": str(recipients), "Cred": "1000", "Destinatarios": json.dumps(echo)}])


def median_ms(action: Callable[[], Any]) -> float:
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> None:
    client = MensatekClient(USER, TOKEN, base_url="http://127.0.0.1:9/mensatek/v7")
    LegallyMailClient("another/legally+mail=token", base_url="http://127.0.0.1:9/legallymail")
    transport = client.transport
    print(f"{'recipients':>10} {'answer':>9} {'parse ms':>9} {'parse+redact ms':>16} {'redaction ms':>13}")
    for size in (1, 1000, 10_000):
        for echo_token in (False, True):
            text = answer(size, echo_token)
            parse = median_ms(lambda text=text: parse_mensatek_body(text))  # type: ignore[misc]
            both = median_ms(lambda text=text: transport.redact_answer(parse_mensatek_body(text)))  # type: ignore[misc]
            kind = "echo" if echo_token else "clean"
            print(f"{size:>10,} {kind:>9} {parse:>9.3f} {both:>16.3f} {both - parse:>13.3f}")


if __name__ == "__main__":
    main()
