"""``python -m airflow_provider_mensatek.campaigns ledger {show,clear,export} <ledger> ...``.

``<ledger>`` is the campaign's ledger folder (``<campaign>/ledger``) as a local
path or an ObjectStoragePath URL (``file://``, ``s3://conn@bucket/...``).

* ``show``: one line per batch with its send state (exit 1 if any batch is
  blocked: in_flight or ambiguous);
* ``clear <batch> --by <who> --note <why>``: after checking the vendor panel
  for the batch's reference, allow ONE resend of a blocked batch (an
  appended ``cleared`` record; nothing is deleted);
* ``export <file>``: every record as one JSON Lines audit file.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from airflow_provider_mensatek.certificates.store import to_storage_path
from airflow_provider_mensatek.clients.campaign_ledger import BLOCKING, Ledger, LedgerError, export_jsonl


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m airflow_provider_mensatek.campaigns",
                                     description="Inspect and clear a campaign send ledger.")
    commands = parser.add_subparsers(dest="command", required=True)
    ledger_cmd = commands.add_parser("ledger", help="the send ledger of a campaign")
    actions = ledger_cmd.add_subparsers(dest="action", required=True)
    show = actions.add_parser("show", help="each batch's send state")
    clear = actions.add_parser("clear", help="allow one resend of a blocked (in_flight/ambiguous) batch")
    export = actions.add_parser("export", help="every record as one JSON Lines file")
    for sub in (show, clear, export):
        sub.add_argument("ledger", help="the ledger folder (<campaign>/ledger): path or URL")
        sub.add_argument("--conn-id", default=None, help="Airflow connection for the storage")
    clear.add_argument("batch", help="batch id, e.g. 00003")
    clear.add_argument("--by", required=True, help="who checked the vendor panel (kept in the ledger)")
    clear.add_argument("--note", required=True, help="what the panel showed (kept in the ledger)")
    export.add_argument("target", help="file to write (path or URL)")
    args = parser.parse_args(argv)

    ledger = Ledger(to_storage_path(args.ledger, args.conn_id))
    if args.action == "clear":
        try:
            record = ledger.clear(args.batch, by=args.by, note=args.note)
        except LedgerError as exc:
            print(f"ERROR    {exc.message}", file=sys.stderr)
            return 1
        print(f"CLEARED  batch {args.batch} (was {record['previous']}, reference {record['reference']}): "
              "the next run of its task sends it once")
        return 0
    if args.action == "export":
        count = export_jsonl(ledger, to_storage_path(args.target, args.conn_id))
        print(f"EXPORTED {count} record(s) to {args.target}")
        return 0
    blocked = 0
    for batch_id in ledger.batch_ids():
        records = ledger.records(batch_id)
        state = ledger.state(batch_id)
        last = records[-1] if records else {}
        blocked += state in BLOCKING
        print(f"{batch_id}  {state or '-':<16} {last.get('reference', '')}  {last.get('at', '')}")
    return 1 if blocked else 0


if __name__ == "__main__":
    sys.exit(main())
