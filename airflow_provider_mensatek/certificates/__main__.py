"""``python -m airflow_provider_mensatek.certificates verify <path-or-url> [...] [--expect ID ...]``.

Exit status: 0 when every manifest found checks out; 1 when any listed file
is missing or altered, a folder holds files no manifest covers (a deleted
manifest, an interrupted write), or an expected id has no set; 2 when no
manifest was found and nothing else failed.
A storage connection can be embedded in the URL (``s3://my_conn@bucket/...``)
or given with ``--conn-id``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from airflow_provider_mensatek.certificates.bounded_read import read_bounded
from airflow_provider_mensatek.certificates.verify import (
    VerifyReport,
    expected_ids,
    missing_ids,
    scan,
    verify_manifest,
)
from airflow_provider_mensatek.clients.errors import CertificateError
from airflow_provider_mensatek.object_storage import to_storage_path

_EXPECT_FILE_HELP = (
    "a JSON file naming the ids that should be archived: the XCom of an archive task "
    '({"archives": [{"id": ...}, ...]}), of a send task ({"message_ids": [...]}, {"tracking_id": ...}, '
    '{"uuid": ...}), a list of those, or a list of ids; repeatable'
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m airflow_provider_mensatek.certificates",
                                     description="Check archived certificate sets against their manifests.")
    commands = parser.add_subparsers(dest="command", required=True)
    verify = commands.add_parser(
        "verify", help="re-hash every file a manifest lists; non-zero exit on any missing or altered file, "
                       "any folder of files without a manifest, and any expected set not found",
        description="Re-hash every file each manifest lists, report folders holding files that no manifest "
                    "covers (a deleted manifest, an interrupted write) and, with --expect / --expect-file, "
                    "the ids whose set is missing altogether. Exit 0: all verified; 1: any failure; "
                    "2: no manifest found.")
    verify.add_argument("locations", nargs="+", metavar="path-or-url",
                        help="a manifest.json, the folder holding one, or a folder to search below")
    verify.add_argument("--conn-id", default=None, help="Airflow connection for the storage")
    verify.add_argument("--expect", nargs="+", action="extend", default=[], metavar="ID",
                        help="ids (message id, tracking id, uuid) that must each have a set (a manifest.json) below "
                             "the locations; give it after the locations, or repeat it")
    verify.add_argument("--expect-file", action="append", default=[], metavar="FILE", help=_EXPECT_FILE_HELP)
    return parser


def _read_expected(parser: argparse.ArgumentParser, ids: list[str], files: list[str]) -> list[str]:
    expected = [str(ident) for ident in ids]
    for name in files:
        try:
            expected += expected_ids(json.loads(read_bounded(Path(name), what="ids file").decode("utf-8")))
        except CertificateError as exc:
            parser.error(f"--expect-file {name}: {exc.message}")
        except (OSError, ValueError) as exc:
            parser.error(f"--expect-file {name}: {exc}")
    return expected


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    expected = _read_expected(parser, args.expect, args.expect_file)

    reports: list[VerifyReport] = []
    failed = unreadable = incomplete = 0
    for location in args.locations:
        # Every location is checked, even after one that cannot be read.
        try:
            found = scan(to_storage_path(location, args.conn_id))
        except CertificateError as exc:
            print(f"ERROR    {location}: {exc.message}", file=sys.stderr)
            unreadable += 1
            continue
        for folder in found.incomplete:
            print(folder)
        incomplete += len(found.incomplete)
        if not found.manifests and not found.incomplete:
            print(f"ERROR    {location}: no manifest.json found", file=sys.stderr)
            unreadable += 1
        for manifest_path in found.manifests:
            report = verify_manifest(manifest_path)
            reports.append(report)
            for problem in report.problems:
                print(f"{problem}  [{report.manifest_path}]")
            for extra in report.unlisted:
                print(f"NOTE     {extra}: present but not listed in {report.manifest_path}")
            for note in report.notes:
                print(f"NOTE     {note}  [{report.manifest_path}]")
            if report.ok:
                print(f"OK       {report.manifest_path}: {report.checked} file(s) verified")
            else:
                failed += 1
    missing = missing_ids(expected, reports)
    for ident in missing:
        print(f"MISSING  set {ident}: no manifest.json below {', '.join(args.locations)} records this id")
    summary = [f"{len(reports) - failed}/{len(reports)} manifest(s) verified"]
    if incomplete:
        summary.append(f"{incomplete} folder(s) with files but no manifest.json")
    if expected:
        summary.append(f"{len(set(expected)) - len(missing)}/{len(set(expected))} expected set(s) found")
    print("; ".join(summary))
    if failed or incomplete or missing:
        return 1
    return 2 if unreadable else 0


if __name__ == "__main__":
    sys.exit(main())
