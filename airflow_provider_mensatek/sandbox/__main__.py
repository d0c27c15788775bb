"""``python -m airflow_provider_mensatek.sandbox --port N``: serve both emulators until Ctrl-C."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from airflow_provider_mensatek.sandbox import Clock, Sandbox
from airflow_provider_mensatek.sandbox.request_body import DEFAULT_MAX_BODY_BYTES
from airflow_provider_mensatek.sandbox.request_log import DEFAULT_MAX_LOGGED_BYTES, DEFAULT_MAX_LOGGED_REQUESTS
from airflow_provider_mensatek.sandbox.server import DEFAULT_IDLE_TIMEOUT


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m airflow_provider_mensatek.sandbox",
                                     description=__doc__)
    parser.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (0 = any free port)")
    parser.add_argument("--step-seconds", type=float, default=60.0,
                        help="simulated seconds between two status changes of a message")
    parser.add_argument("--speed", type=float, default=1.0,
                        help="simulated seconds per real second (0 freezes time; move it via /_sandbox/clock)")
    parser.add_argument("--idle-timeout", type=float, default=DEFAULT_IDLE_TIMEOUT,
                        help="seconds a connection may stay silent before the server closes it")
    parser.add_argument("--max-body-bytes", type=int, default=DEFAULT_MAX_BODY_BYTES,
                        help="larger request bodies are answered 413")
    parser.add_argument("--max-logged-requests", type=int, default=DEFAULT_MAX_LOGGED_REQUESTS,
                        help="requests kept for /_sandbox/requests (the oldest are dropped)")
    parser.add_argument("--max-logged-bytes", type=int, default=DEFAULT_MAX_LOGGED_BYTES,
                        help="request bodies kept for /_sandbox/requests, summed (the oldest are dropped)")
    parser.add_argument("--sms-report-style", choices=("json", "documented"), default="json",
                        help="GetReportSMS Informe as a JSON string, or single-quoted as the SMS document's example")
    args = parser.parse_args(argv)
    try:
        sandbox = Sandbox(port=args.port, clock=Clock(speed=args.speed), step_seconds=args.step_seconds,
                          idle_timeout=args.idle_timeout, max_body_bytes=args.max_body_bytes,
                          max_logged_requests=args.max_logged_requests, max_logged_bytes=args.max_logged_bytes)
    except ValueError as error:
        parser.error(str(error))
    sandbox.mensatek.sms_report_style = args.sms_report_style
    sandbox.start()
    print(json.dumps({
        "url": sandbox.url,
        "mensatek_url": sandbox.mensatek_url,
        "legallymail_url": sandbox.legallymail_url,
        "mensatek_user": sandbox.mensatek_user,
        "note": "sandbox credentials are public test values; see README",
    }), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
