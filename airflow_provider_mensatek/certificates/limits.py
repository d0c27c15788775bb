"""Size and compression bounds of a certificate archive (Airflow-free): what tells a ZIP bomb from evidence."""

from __future__ import annotations

from dataclasses import dataclass

from airflow_provider_mensatek.clients.errors import CertificateError

MIB = 1024 * 1024


@dataclass(frozen=True)
class ArchiveLimits:
    """Bounds that make a hostile or broken archive fail fast instead of filling a disk.

    The defaults are far above what a certificate archive needs (a few PDFs of
    tens of kilobytes and one CSV) yet low enough to refuse a bomb. A ratio is
    only judged once the bytes it produces reach ``ratio_floor_bytes``, because
    small CSV / text entries legitimately compress 20-50x. The per-entry ratio
    alone is not enough: many entries each just under the floor expand without
    bound (300 MB from a 329 KB ZIP), so the whole archive's expansion (total
    uncompressed bytes over the archive's own size) is bounded by
    ``max_total_ratio`` too, as well as its total by ``max_total_bytes``.
    """

    max_entries: int = 1000
    max_entry_bytes: int = 512 * MIB
    max_total_bytes: int = 2 * 1024 * MIB
    max_ratio: float = 100.0
    ratio_floor_bytes: int = MIB
    max_total_ratio: float = 100.0
    max_csv_bytes: int = 8 * MIB
    max_csv_rows: int = 10_000


DEFAULT_LIMITS = ArchiveLimits()


def check_entry_size(
    path: str, size: int, compressed: int, limits: ArchiveLimits, *, vendor: str, function: str | None,
) -> None:
    """Refuse one entry that is too big or expands too much (declared sizes, or bytes produced so far)."""
    if size > limits.max_entry_bytes:
        raise CertificateError(f"Archive entry {path!r} expands to {size} bytes; the limit is {limits.max_entry_bytes}",
                               vendor=vendor, function=function, code="too-large")
    if size >= limits.ratio_floor_bytes and size > limits.max_ratio * max(compressed, 1):
        raise CertificateError(
            f"Archive entry {path!r} expands {size / max(compressed, 1):.0f}x (limit {limits.max_ratio:g}x): "
            "refused as a possible ZIP bomb", vendor=vendor, function=function, code="zip-bomb",
        )


def check_total_size(
    total: int, archive_bytes: int, limits: ArchiveLimits, *, vendor: str, function: str | None,
) -> None:
    """Refuse an archive whose entries together are too big, or expand too much from ``archive_bytes``."""
    if total > limits.max_total_bytes:
        raise CertificateError(f"The archive expands to more than {limits.max_total_bytes} bytes",
                               vendor=vendor, function=function, code="too-large")
    if total >= limits.ratio_floor_bytes and total > limits.max_total_ratio * max(archive_bytes, 1):
        raise CertificateError(
            f"The archive's {archive_bytes} bytes expand to {total} or more ({total / max(archive_bytes, 1):.0f}x, "
            f"limit {limits.max_total_ratio:g}x for the whole archive): refused as a possible ZIP bomb",
            vendor=vendor, function=function, code="zip-bomb",
        )
