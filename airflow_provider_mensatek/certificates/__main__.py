"""``python -m airflow_provider_mensatek.certificates verify <path-or-url> [...]``.

Exit status: 0 when every manifest found checks out, 1 when any listed file
is missing or altered (each printed), 2 when no manifest was found.
A storage connection can be embedded in the URL (``s3://my_conn@bucket/...``)
or given with ``--conn-id``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from airflow_provider_mensatek.certificates.store import to_storage_path
from airflow_provider_mensatek.certificates.verify import manifest_paths, verify_manifest
from airflow_provider_mensatek.clients.errors import CertificateError


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m airflow_provider_mensatek.certificates",
                                     description="Check archived certificate sets against their manifests.")
    commands = parser.add_subparsers(dest="command", required=True)
    verify = commands.add_parser("verify", help="re-hash every file a manifest lists; non-zero exit on any "
                                                "missing or altered file")
    verify.add_argument("locations", nargs="+", metavar="path-or-url",
                        help="a manifest.json, the folder holding one, or a folder to search below")
    verify.add_argument("--conn-id", default=None, help="Airflow connection for the storage")
    args = parser.parse_args(argv)

    failed = found = unreadable = 0
    for location in args.locations:
        # Every location is checked, even after one that cannot be read.
        try:
            paths = manifest_paths(to_storage_path(location, args.conn_id))
        except CertificateError as exc:
            print(f"ERROR    {location}: {exc.message}", file=sys.stderr)
            unreadable += 1
            continue
        if not paths:
            print(f"ERROR    {location}: no manifest.json found", file=sys.stderr)
            unreadable += 1
            continue
        for manifest_path in paths:
            found += 1
            report = verify_manifest(manifest_path)
            for problem in report.problems:
                print(f"{problem}  [{report.manifest_path}]")
            for extra in report.unlisted:
                print(f"NOTE     {extra}: present but not listed in {report.manifest_path}")
            if report.ok:
                print(f"OK       {report.manifest_path}: {report.checked} file(s) verified")
            else:
                failed += 1
    print(f"{found - failed}/{found} manifest(s) verified")
    if failed:
        return 1
    return 2 if unreadable else 0


if __name__ == "__main__":
    sys.exit(main())
