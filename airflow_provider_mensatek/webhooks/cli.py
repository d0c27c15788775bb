"""``python -m airflow_provider_mensatek.webhooks reports list|export|replay|purge``: the inbox from a shell.

Runs wherever Airflow is configured for the deployment's metadata database (the
same ``AIRFLOW_HOME`` / ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`` as its other
commands). ``list`` and ``export`` show no personal data unless ``export
--personal`` (then the file is created readable by its owner only).

``replay`` runs what the receiver ran for each chosen report again: re-parses a
body that did not parse (a newer parser may read it), moves its message forward if
it supersedes, rewrites the message's state store keys, and emits its Asset event
again, with the ``mensatek_reports`` connection's current ``asset_events`` and
``personal_data``. A consumer DAG therefore sees the event twice if it had
already run: make consumers idempotent (the event carries ``report_id``).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone
from typing import IO, Any

from airflow_provider_mensatek.delivery.report_assets import REPORT_ASSETS

_PERSONAL_FIELDS = ("recipient", "reply_sender", "reply_text")
_BATCH = 500


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m airflow_provider_mensatek.webhooks",
                                     description="Mensatek real-time reports stored by the Airflow receiver.")
    groups = parser.add_subparsers(dest="group", required=True)
    reports = groups.add_parser("reports", help="the stored reports").add_subparsers(dest="command", required=True)

    def selection(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--id", dest="ids", type=int, action="append", default=[], help="a report id (repeatable)")
        sub.add_argument("--channel", choices=sorted(REPORT_ASSETS), help="only this channel")
        sub.add_argument("--message-id", help="only reports of this message id")
        sub.add_argument("--since", type=_when, help="received at or after (ISO 8601; UTC if no offset)")

    listing = reports.add_parser("list", help="list reports, newest last (no personal data)")
    selection(listing)
    listing.add_argument("--limit", type=int, default=50, help="the most recent N of the selection (default 50)")
    listing.add_argument("--output", choices=("table", "json"), default="table")

    export = reports.add_parser("export", help="write reports as JSON Lines")
    export.add_argument("file", help="the file to create, or - for standard output")
    selection(export)
    export.add_argument("--personal", action="store_true",
                        help="include recipients, SMS text and the raw body (base64)")

    replay = reports.add_parser("replay", help="apply stored reports again and re-emit their Asset events")
    selection(replay)
    replay.add_argument("--all", action="store_true", help="every stored report (when no other selection)")

    purge = reports.add_parser("purge", help="delete reports received before a number of days ago")
    purge.add_argument("--older-than", type=_days, required=True, metavar="DAYS")
    purge.add_argument("--yes", action="store_true", help="delete (without it, only count)")
    return parser


def main(argv: Sequence[str] | None = None, out: IO[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    stream = out or sys.stdout
    if args.command == "list":
        return _list(args, stream)
    if args.command == "export":
        return _export(args, stream)
    if args.command == "replay":
        return _replay(args, stream)
    return _purge(args, stream)


# -- selection ---------------------------------------------------------------------------------------


def _when(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date or time: {text!r}") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def _days(text: str) -> float:
    try:
        days = float(text)
    except ValueError:
        days = -1.0
    if not days >= 1:
        raise argparse.ArgumentTypeError("DAYS must be a number of at least 1")
    return days


def _conditions(args: argparse.Namespace) -> list[Any]:
    from airflow_provider_mensatek.webhooks.tables import report_table as t

    found: list[Any] = []
    if args.ids:
        found.append(t.c.id.in_(args.ids))
    if args.channel:
        found.append(t.c.channel == args.channel)
    if args.message_id:
        found.append(t.c.message_id == args.message_id)
    if args.since:
        found.append(t.c.received_at >= args.since)
    return found


def _rows(conditions: list[Any], *, columns: Sequence[Any] | None = None) -> Iterator[Any]:
    """Matching rows in id order, read in batches (an export may be large)."""
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from airflow_provider_mensatek.webhooks.tables import report_table as t

    after = 0
    while True:
        with create_session(scoped=False) as session:
            batch = session.execute(select(*(columns or t.c)).where(*conditions, t.c.id > after)
                                    .order_by(t.c.id).limit(_BATCH)).all()
        yield from batch
        if len(batch) < _BATCH:
            return
        after = batch[-1].id


# -- list / export -----------------------------------------------------------------------------------


def _summary(row: Any) -> dict[str, Any]:
    status = (row.normalised or {}).get("status") or {}
    return {"id": row.id, "received_at": _iso(row.received_at), "service": row.service, "channel": row.channel,
            "message_id": row.message_id, "code": row.code, "status": status.get("status"),
            "occurred_at": _iso(row.occurred_at), "event": row.event_state, "advanced": row.advanced,
            "parsed": row.parsed, "parse_error": row.parse_error}


def _list(args: argparse.Namespace, out: IO[str]) -> int:
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from airflow_provider_mensatek.webhooks.tables import report_table as t

    with create_session(scoped=False) as session:
        rows = session.execute(select(*(c for c in t.c if c.name != "body")).where(*_conditions(args))
                               .order_by(t.c.id.desc()).limit(max(args.limit, 1))).all()
    summaries = [_summary(row) for row in reversed(rows)]
    if args.output == "json":
        out.write(json.dumps(summaries, ensure_ascii=False, indent=1) + "\n")
        return 0
    header = ("id", "received_at", "channel", "message_id", "code", "status", "event", "advanced")
    lines = [header] + [tuple("" if s[k] is None else str(s[k]) for k in header) for s in summaries]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        out.write("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() + "\n")
    unparsed = sum(1 for s in summaries if not s["parsed"])
    if unparsed:
        out.write(f"({unparsed} of these did not parse: see `export` for why)\n")
    return 0


def _export(args: argparse.Namespace, out: IO[str]) -> int:
    count = 0
    target: IO[str]
    if args.file == "-":
        target = out
    else:
        # An export is a copy of the inbox: readable by its owner only, and never over an existing file.
        target = os.fdopen(os.open(args.file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="utf-8")
    try:
        for row in _rows(_conditions(args)):
            target.write(json.dumps(_exported(row, personal=args.personal), ensure_ascii=False) + "\n")
            count += 1
    finally:
        if target is not out:
            target.close()
    if args.file != "-":
        out.write(f"{count} report(s) written to {args.file}\n")
    return 0


def _exported(row: Any, *, personal: bool) -> dict[str, Any]:
    report = dict(row.normalised) if row.normalised else None
    if report is not None and not personal:
        for name in _PERSONAL_FIELDS:
            report.pop(name, None)
    data = {"id": row.id, "received_at": _iso(row.received_at), "dedupe_key": row.dedupe_key,
            "service": row.service, "channel": row.channel, "message_id": row.message_id, "code": row.code,
            "rank": row.rank, "occurred_at": _iso(row.occurred_at), "reference": row.reference,
            "parsed": row.parsed, "parse_error": row.parse_error, "content_type": row.content_type,
            "event_state": row.event_state, "advanced": row.advanced, "report": report}
    if personal:
        data["body_base64"] = base64.b64encode(bytes(row.body)).decode("ascii")
    return data


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


# -- replay / purge ---------------------------------------------------------------------------------------


def _replay(args: argparse.Namespace, out: IO[str]) -> int:
    from airflow_provider_mensatek.hooks.mensatek_reports import MensatekReportsHook
    from airflow_provider_mensatek.webhooks.replay import replay_report
    from airflow_provider_mensatek.webhooks.tables import report_table as t

    conditions = _conditions(args)
    if not conditions and not args.all:
        out.write("choose reports to replay: --id, --channel, --message-id, --since, or --all\n")
        return 2
    settings = MensatekReportsHook().get_conn()
    counts: dict[str, int] = {}
    for row in _rows(conditions, columns=[t.c.id]):
        for outcome in replay_report(int(row.id), settings):
            counts[outcome] = counts.get(outcome, 0) + 1
    replayed = counts.pop("replayed", 0)
    details = ", ".join(f"{name} {count}" for name, count in sorted(counts.items()))
    out.write(f"{replayed} report(s) replayed" + (f" ({details})" if details else "") + "\n")
    return 0


def _purge(args: argparse.Namespace, out: IO[str]) -> int:
    from airflow.utils.session import create_session
    from sqlalchemy import delete, func, select

    from airflow_provider_mensatek.webhooks.tables import message_state_table as ms
    from airflow_provider_mensatek.webhooks.tables import report_table as t

    before = datetime.now(timezone.utc) - timedelta(days=args.older_than)
    old = select(t.c.id).where(t.c.received_at < before)
    with create_session(scoped=False) as session:
        count = session.scalar(select(func.count()).select_from(t).where(t.c.received_at < before)) or 0
        if args.yes and count:
            # A message whose latest report goes forgets its state: a report arriving after the purge starts it again.
            session.execute(delete(ms).where(ms.c.report_id.in_(old)))
            session.execute(delete(t).where(t.c.received_at < before))
    verb = "deleted" if args.yes else "would be deleted (add --yes)"
    out.write(f"{count} report(s) received before {before.isoformat(timespec='seconds')} {verb}\n")
    return 0


__all__ = ["build_parser", "main"]
