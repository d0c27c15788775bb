"""Names inside a certificate set: which are refused, and how clashing ones are made unique (Airflow-free).

A set is written to a folder of a data lake (local disk, S3, GCS), copied to
other file systems, browsed by people and re-read years later by ``verify``.
A name is therefore refused when:

* it could escape the set's folder: absolute, a drive letter, ``..``
  (backslashes count as separators, for Windows-made archives);
* it holds a control, format or line-separator character: ``a\\nb.pdf``
  splits log and CSV lines, and a bidi override makes ``x\\u202efdp.exe``
  display as ``xexe.pdf``;
* any of its parts is reserved: ``manifest.json`` and ``manifest.<any>.json``
  at any level (a planted ``sub/manifest.json`` would read as a set of its
  own), and the hidden ``.<name>.partial-<token>`` temporaries of the writer;
* a part is only dots and spaces (``...``): Windows and SMB drop trailing
  dots and spaces, which leaves nothing of it;
* the whole path is over :data:`MAX_PATH_BYTES` in UTF-8 (S3 and GCS keys hold
  1,024 bytes, the lake's prefix and the set's folder included).

A part over :data:`MAX_NAME_BYTES` in UTF-8 is shortened, not refused: most file
systems hold 255 bytes per name, and the writer's temporary
``.<name>.partial-<token>`` needs 22 more. The shortened part is its beginning
(cut on a character boundary), ``~``, 16 hex digits of the sha256 of the whole
part, and its extension: the same name always gives the same part, two long
names that differ anywhere stay two names, and the vendor's name is kept in
the manifest (``original_name``).

Within one set, two files may not be one file on some store
(:func:`check_distinct_names`): ``é`` composed (NFC) and decomposed (NFD) are
one name on macOS and look identical everywhere, and so do compatibility
twins (NFKC: the ligature ``\\ufb01`` and ``fi``, fullwidth ``\\uff41`` and ``a``); names
that differ only in case are one file on case-insensitive stores (macOS,
Windows, SMB mounts) that lakes get copied to, and ``a.pdf.`` / ``a.pdf `` are
``a.pdf`` on Windows and SMB, which drop trailing dots and spaces of every
part; a file's path may not be the folder of another
(``a.pdf`` and ``a.pdf/b.pdf``), since storage keeps only one of them.
Folders that differ only in case are allowed: a case-insensitive store merges
them but keeps every file.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from pathlib import PurePosixPath

from airflow_provider_mensatek.clients.errors import CertificateError

_DRIVE_RE = re.compile(r"^[A-Za-z]:")
_RESERVED_PART_RE = re.compile(r"^manifest(\.[^/]*)?\.json$", re.IGNORECASE)
#: Control (Cc), format (Cf: bidi controls, zero-width characters), surrogate, private-use,
#: line and paragraph separators: none belongs in a file name a person must read correctly.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})
#: Marks a name made unique; the sanitised names this provider makes never contain it.
UNIQUE_MARK = "~"
#: The most UTF-8 bytes of one part of a stored path: 255 (ext4, XFS, APFS, NTFS in UTF-16 units, S3's
#: console) less the 22 the writer's ``.<name>.partial-<12 hex>`` temporary adds.
MAX_NAME_BYTES = 255 - len(".") - len(".partial-") - 12
#: The most UTF-8 bytes of a path inside a set: S3 and GCS keys hold 1,024, the lake prefix included.
MAX_PATH_BYTES = 512
#: Extensions longer than this are not kept when a part is shortened (no such extension is meaningful).
_MAX_KEPT_SUFFIX_BYTES = 16


def _error(message: str, code: str, vendor: str, function: str | None) -> CertificateError:
    return CertificateError(message, vendor=vendor, function=function, code=code)


def is_temporary_name(part: str) -> bool:
    """A writer's hidden temporary (``.<name>.partial-<token>``): never evidence."""
    return part.startswith(".") and ".partial-" in part


def is_reserved_part(part: str) -> bool:
    return bool(_RESERVED_PART_RE.match(part)) or is_temporary_name(part)


def safe_relative_path(name: str, *, vendor: str = "mensatek", function: str | None = None) -> str:
    """``name`` as a normalised relative POSIX path, or CertificateError if it is unsafe (see module doc)."""
    if not name or "\x00" in name:
        raise _error(f"Archive entry has an empty or NUL-containing name: {name!r}", "unsafe-name", vendor, function)
    refused = sorted({f"U+{ord(c):04X}" for c in name if unicodedata.category(c) in _REFUSED_CATEGORIES})
    if refused:
        raise _error(f"Archive entry name {name!r} holds control or bidi characters ({', '.join(refused)})",
                     "unsafe-name", vendor, function)
    unified = name.replace("\\", "/")
    if unified.startswith("/") or _DRIVE_RE.match(unified):
        raise _error(f"Archive entry has an absolute name: {name!r}", "unsafe-name", vendor, function)
    parts = [p for p in unified.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise _error(f"Archive entry escapes its folder with '..': {name!r}", "unsafe-name", vendor, function)
    if not parts:
        raise _error(f"Archive entry has no usable name: {name!r}", "unsafe-name", vendor, function)
    if any(is_reserved_part(p) for p in parts):
        raise _error(f"Archive entry uses a name reserved for the manifest: {name!r}", "unsafe-name",
                     vendor, function)
    if any(not p.rstrip(". ") for p in parts):
        raise _error(f"Archive entry has a part made only of dots and spaces, which Windows and SMB reduce to "
                     f"nothing: {name!r}", "unsafe-name", vendor, function)
    path = "/".join(fit_part(p) for p in parts)
    check_path_length(path, vendor=vendor, function=function)
    return path


def _fit(stem: str, tail: str) -> str:
    """``stem`` cut on a character boundary so that ``stem + tail`` holds at most MAX_NAME_BYTES bytes."""
    room = MAX_NAME_BYTES - len(tail.encode("utf-8"))
    return stem.encode("utf-8")[:room].decode("utf-8", errors="ignore") + tail


def fit_part(part: str) -> str:
    """``part`` if it fits :data:`MAX_NAME_BYTES`, else shortened deterministically (see module doc)."""
    if len(part.encode("utf-8")) <= MAX_NAME_BYTES:
        return part
    stem, suffix = _split_suffix(part)
    return _fit(stem, f"{UNIQUE_MARK}{_short_hash(part, 16)}{suffix}")


def _split_suffix(part: str) -> tuple[str, str]:
    """``(stem, extension)``; an extension too long to be one stays in the stem."""
    suffix = PurePosixPath(part).suffix
    if len(suffix.encode("utf-8")) > _MAX_KEPT_SUFFIX_BYTES:
        return part, ""
    return part[:len(part) - len(suffix)], suffix


def check_path_length(path: str, *, vendor: str, function: str | None = None) -> None:
    """Refuse a path over :data:`MAX_PATH_BYTES`, or with a part over :data:`MAX_NAME_BYTES` (unshortened)."""
    size = len(path.encode("utf-8"))
    if size > MAX_PATH_BYTES:
        raise _error(f"The path {path[:80]!r}… is {size} bytes in UTF-8; at most {MAX_PATH_BYTES} fit every store "
                     "(S3 and GCS keys hold 1,024 with the lake's prefix)", "name-too-long", vendor, function)
    longest = max(path.split("/"), key=lambda part: len(part.encode("utf-8")))
    if len(longest.encode("utf-8")) > MAX_NAME_BYTES:
        raise _error(f"The name {longest[:80]!r}… in {path[:80]!r} is over {MAX_NAME_BYTES} bytes in UTF-8, more "
                     "than file systems hold beside the writer's temporary name", "name-too-long", vendor, function)


def name_key(path: str) -> str:
    """What a path is on the least forgiving store: compatibility-normalised (NFKC) and case-folded, each
    part without the trailing dots and spaces Windows and SMB drop."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", path).casefold())
    return "/".join(part.rstrip(". ") for part in folded.split("/"))


def check_distinct_names(paths: Iterable[str], *, vendor: str, function: str | None = None) -> None:
    """Refuse two file paths of one set that are one file somewhere, or a file that is another's folder."""
    files: dict[str, str] = {}
    for path in paths:
        check_path_length(path, vendor=vendor, function=function)
        key = name_key(path)
        if key in files:
            other = files[key]
            how = "" if other == path else (f" ({other!r} and {path!r} differ only in case or Unicode normalisation, "
                                            "or in trailing dots and spaces)")
            raise _error(f"The set names the file {other!r} twice{how}", "duplicate-name", vendor, function)
        files[key] = path
    for key, path in files.items():
        parts = key.split("/")
        for depth in range(1, len(parts)):
            folder = files.get("/".join(parts[:depth]))
            if folder is not None:
                raise _error(f"{folder!r} is a file and also the folder of {path!r}; storage can keep only one",
                             "name-collision", vendor, function)


def _short_hash(text: str, digits: int) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:digits]


def distinct_labels(values: Iterable[str], make: Callable[[str], str]) -> dict[str, str]:
    """``make(value)`` per value; where different values get the same label (by :func:`name_key`),
    each of those labels gets ``~`` and 8 hex digits of the sha256 of its value.

    Deterministic (the same values always give the same labels) and independent of order.
    """
    labels = {value: make(value) for value in dict.fromkeys(values)}
    owners: dict[str, set[str]] = {}
    for value, label in labels.items():
        owners.setdefault(name_key(label), set()).add(value)
    return {value: _fit(label, f"{UNIQUE_MARK}{_short_hash(value, 8)}") if len(owners[name_key(label)]) > 1
            else label for value, label in labels.items()}


def distinct_files(files: Sequence[tuple[str, str]]) -> list[str]:
    """Final paths for ``(path, sha256)`` pairs: where different content would share a path
    (by :func:`name_key`), each of those files gets ``~`` and the first 10 hex digits of its own
    sha256 before its extension (``delivered.pdf`` -> ``delivered~0a1b2c3d4e.pdf``).

    The suffix comes from the content, not from the position, so a vendor listing the same
    certificates in another order gives the same names. Identical content under one name gets
    one path (the first seen), so the caller stores it once.
    """
    contents: dict[str, dict[str, str]] = {}
    for path, sha in files:
        contents.setdefault(name_key(path), {}).setdefault(sha, path)
    out = []
    for path, sha in files:
        same_name = contents[name_key(path)]
        path = same_name[sha]
        if len(same_name) > 1:
            pure = PurePosixPath(path)
            stem, suffix = _split_suffix(pure.name)
            path = str(pure.with_name(_fit(stem, f"{UNIQUE_MARK}{sha[:10]}{suffix}")))
        out.append(path)
    return out
