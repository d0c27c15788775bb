"""``python -m airflow_provider_mensatek.sandbox --port N``: serve both emulators until Ctrl-C."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from airflow_provider_mensatek.sandbox import Clock, Sandbox


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m airflow_provider_mensatek.sandbox",
                                     description=__doc__)
    parser.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (0 = any free port)")
    parser.add_argument("--step-seconds", type=float, default=60.0,
                        help="simulated seconds between two status changes of a message")
    parser.add_argument("--speed", type=float, default=1.0,
                        help="simulated seconds per real second (0 freezes time; move it via /_sandbox/clock)")
    args = parser.parse_args(argv)
    sandbox = Sandbox(port=args.port, clock=Clock(speed=args.speed), step_seconds=args.step_seconds).start()
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
