"""``python -m airflow_provider_mensatek.webhooks reports list|export|replay|purge`` (see ``webhooks/cli.py``)."""

from __future__ import annotations

import sys

from airflow_provider_mensatek.webhooks.cli import main

if __name__ == "__main__":
    sys.exit(main())
