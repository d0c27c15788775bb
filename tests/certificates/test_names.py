"""Names inside a certificate set: twins and file/folder clashes refused, clashing names made unique."""

from __future__ import annotations

import hashlib

import pytest

from airflow_provider_mensatek.certificates.names import (
    MAX_NAME_BYTES,
    MAX_PATH_BYTES,
    check_distinct_names,
    distinct_files,
    distinct_labels,
    fit_part,
    safe_relative_path,
)
from airflow_provider_mensatek.clients.errors import CertificateError


@pytest.mark.parametrize(
    ("paths", "code"),
    [
        (["a.pdf", "a.pdf/b.pdf"], "name-collision"),
        (["x/A.pdf", "x/a.pdf/b.pdf"], "name-collision"),  # a file and a folder on a case-insensitive store
        (["Recibo.pdf", "recibo.pdf"], "duplicate-name"),
        (["caf\u00e9.pdf", "cafe\u0301.pdf"], "duplicate-name"),
        (["STRASSE.pdf", "stra\u00dfe.pdf"], "duplicate-name"),
    ],
)
def test_names_that_are_one_file_somewhere_are_refused(paths, code):
    with pytest.raises(CertificateError) as caught:
        check_distinct_names(paths, vendor="mensatek")
    assert caught.value.code == code


def test_folders_differing_only_in_case_keep_every_file():
    check_distinct_names(["A/uno.pdf", "a/dos.pdf", "a.pdf.d/x.pdf", "a.pdf"], vendor="mensatek")


def test_labels_that_clash_get_a_hash_of_their_value_and_others_stay():
    make = lambda email: email.replace("/", "_").replace("=", "_")  # noqa: E731
    labels = distinct_labels(["a/b@example.com", "luis@example.com", "a=b@example.com"], make)
    assert labels == {
        "a/b@example.com": "a_b@example.com~" + hashlib.sha256(b"a/b@example.com").hexdigest()[:8],
        "luis@example.com": "luis@example.com",
        "a=b@example.com": "a_b@example.com~" + hashlib.sha256(b"a=b@example.com").hexdigest()[:8],
    }
    assert distinct_labels(["a=b@example.com", "a/b@example.com", "luis@example.com"], make) == labels


def test_files_that_clash_get_their_own_content_hash_whatever_the_order():
    one, two = "1" * 64, "2" * 64
    files = [("r/delivered.pdf", one), ("r/read.pdf", one), ("r/delivered.pdf", two), ("r/delivered.pdf", one)]
    expected = [
        "r/delivered~1111111111.pdf",
        "r/read.pdf",
        "r/delivered~2222222222.pdf",
        "r/delivered~1111111111.pdf",  # the same bytes under the same name: one file
    ]
    assert distinct_files(files) == expected
    assert distinct_files(files[::-1]) == expected[::-1]
    assert distinct_files([("certificate.pdf", one)]) == ["certificate.pdf"]


@pytest.mark.parametrize(
    ("paths", "code"),
    [
        (["\ufb01cha.pdf", "ficha.pdf"], "duplicate-name"),            # ligature: NFKC twins
        (["\uff21cta.pdf", "acta.pdf"], "duplicate-name"),            # fullwidth A
        (["acta.pdf", "acta.pdf."], "duplicate-name"),                # Windows / SMB drop trailing dots ...
        (["acta.pdf", "acta.pdf "], "duplicate-name"),                # ... and spaces
        (["acta.pdf", "ACTA.pdf. ."], "duplicate-name"),
        (["r/ana./acta.pdf", "r/ana/acta.pdf"], "duplicate-name"),    # in a folder's name too
        (["acta.pdf.", "acta.pdf/anexo.pdf"], "name-collision"),
    ],
)
def test_twins_on_windows_smb_and_normalising_stores_are_refused(paths, code):
    with pytest.raises(CertificateError) as caught:
        check_distinct_names(paths, vendor="mensatek")
    assert caught.value.code == code


@pytest.mark.parametrize("name", ["...", "a/ ./b.pdf", "a/. ./b.pdf"])
def test_a_part_of_only_dots_and_spaces_is_refused(name):
    with pytest.raises(CertificateError, match="only of dots and spaces") as caught:
        safe_relative_path(name)
    assert caught.value.code == "unsafe-name"


def test_an_over_long_name_is_shortened_the_same_way_every_time_and_stays_unique():
    one, two = "x" * 250 + "-uno.pdf", "x" * 250 + "-dos.pdf"
    short_one, short_two = safe_relative_path(f"sub/{one}"), safe_relative_path(f"sub/{two}")
    part = short_one.split("/")[1]
    assert part == "x" * (MAX_NAME_BYTES - 21) + "~" + hashlib.sha256(one.encode()).hexdigest()[:16] + ".pdf"
    assert len(part.encode()) == MAX_NAME_BYTES == 233  # + 22 for the writer's temporary: 255
    assert short_one != short_two and short_one == safe_relative_path(f"sub/{one}")
    assert safe_relative_path(short_one) == short_one  # what a manifest records reads back as canonical
    accented = safe_relative_path("é" * 200 + ".pdf")  # 404 bytes: cut between characters, never inside one
    assert len(accented.encode()) <= MAX_NAME_BYTES and accented.endswith(".pdf") and accented.startswith("é")
    assert fit_part("a" * 300 + "." + "b" * 40).endswith("~" + hashlib.sha256(("a" * 300 + "." + "b" * 40).encode())
                                                         .hexdigest()[:16])  # no such extension is kept


def test_a_path_over_the_total_bound_is_refused():
    deep = "/".join(["d" * 200] * 2 + ["c" * 120 + ".pdf"])
    assert len(deep.encode()) > MAX_PATH_BYTES
    with pytest.raises(CertificateError, match=f"at most {MAX_PATH_BYTES} fit every store") as caught:
        safe_relative_path(deep)
    assert caught.value.code == "name-too-long"
    with pytest.raises(CertificateError) as caught:
        check_distinct_names(["a" * 240 + ".pdf"], vendor="legallymail")
    assert caught.value.code == "name-too-long"


def test_names_made_unique_still_fit():
    long_type = "t" * 240
    files = distinct_files([(f"r/{long_type}.pdf", "1" * 64), (f"r/{long_type}.pdf", "2" * 64)])
    assert [len(p.split("/")[1].encode()) for p in files] == [MAX_NAME_BYTES, MAX_NAME_BYTES]
    assert files[0].endswith("~1111111111.pdf") and files[1].endswith("~2222222222.pdf")
    emails = ["a" * 240 + "/b@example.com", "a" * 240 + "=b@example.com"]
    labels = distinct_labels(emails, lambda e: e.replace("/", "_").replace("=", "_"))
    assert len(set(labels.values())) == 2 and all(len(v.encode()) <= MAX_NAME_BYTES for v in labels.values())
    check_distinct_names([f"recipients/{label}/{p.split('/')[1]}" for label in labels.values() for p in files],
                         vendor="legallymail")
