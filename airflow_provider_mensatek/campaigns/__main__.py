"""``python -m airflow_provider_mensatek.campaigns ledger {show,clear,export} <ledger> ...``.

``<ledger>`` is the campaign's ledger folder (``<campaign>/ledger``) as a local
path or an ObjectStoragePath URL (``file://``, ``s3://conn@bucket/...``).

* ``show``: one line per batch with its send state, and a line for a refused
  credential (exit 1 if any batch is blocked: in_flight or ambiguous, or a
  credential is recorded refused);
* ``clear <batch> --by <who> --note <why>``: after checking the vendor panel
  for the batch's reference, allow ONE resend of a blocked batch (an
  appended ``cleared`` record; nothing is deleted);
* ``clear-auth --by <who> --note <why>``: the connection's credential the
  campaign recorded as refused is valid again (the vendor unblocked it): let
  the batch tasks try it (once). A changed credential needs no clearing;
* ``export <file>``: every record as one JSON Lines audit file.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from airflow_provider_mensatek.campaigns.auth import AUTH_FAILED, auth_records, clear_auth
from airflow_provider_mensatek.campaigns.ledger import BLOCKING, Ledger, LedgerError, export_jsonl
from airflow_provider_mensatek.object_storage import to_storage_path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m airflow_provider_mensatek.campaigns",
                                     description="Inspect and clear a campaign send ledger.")
    commands = parser.add_subparsers(dest="command", required=True)
    ledger_cmd = commands.add_parser("ledger", help="the send ledger of a campaign")
    actions = ledger_cmd.add_subparsers(dest="action", required=True)
    show = actions.add_parser("show", help="each batch's send state")
    clear = actions.add_parser("clear", help="allow one resend of a blocked (in_flight/ambiguous) batch")
    clear_auth_cmd = actions.add_parser("clear-auth", help="let the batch tasks try a credential recorded as "
                                                           "refused again (it is valid again)")
    export = actions.add_parser("export", help="every record as one JSON Lines file")
    for sub in (show, clear, clear_auth_cmd, export):
        sub.add_argument("ledger", help="the ledger folder (<campaign>/ledger): path or URL")
        sub.add_argument("--conn-id", default=None, help="Airflow connection for the storage")
    clear.add_argument("batch", help="batch id, e.g. 00003")
    clear.add_argument("--by", required=True, help="who checked the vendor panel (kept in the ledger)")
    clear.add_argument("--note", required=True, help="what the panel showed (kept in the ledger)")
    clear_auth_cmd.add_argument("--by", required=True, help="who checked the credential (kept in the ledger)")
    clear_auth_cmd.add_argument("--note", required=True, help="why it is valid again (kept in the ledger)")
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
    if args.action == "clear-auth":
        try:
            record = clear_auth(ledger, by=args.by, note=args.note)
        except LedgerError as exc:
            print(f"ERROR    {exc.message}", file=sys.stderr)
            return 1
        print(f"CLEARED  the refused credential ({len(record['failures'])} record(s)): the next batch task tries "
              "it, once")
        return 0
    auth = auth_records(ledger)
    if args.action == "export":
        count = export_jsonl(ledger, to_storage_path(args.target, args.conn_id), also=auth)
        print(f"EXPORTED {count} record(s) to {args.target}")
        return 0
    blocked = 0
    for batch_id in ledger.batch_ids():
        records = ledger.records(batch_id)
        state = ledger.state(batch_id)
        last = records[-1] if records else {}
        blocked += state in BLOCKING
        print(f"{batch_id}  {state or '-':<16} {last.get('reference', '')}  {last.get('at', '')}")
    if auth and auth[-1].get("event") == AUTH_FAILED:
        blocked += 1
        print(f"auth   refused credential recorded at {auth[-1].get('at')} by batch {auth[-1].get('batch_id')}: "
              "fix the connection, or clear-auth once it is valid again")
    return 1 if blocked else 0


if __name__ == "__main__":
    sys.exit(main())
