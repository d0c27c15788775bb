"""Names inside a certificate set: twins and file/folder clashes refused, clashing names made unique."""

from __future__ import annotations

import hashlib

import pytest

from airflow_provider_mensatek.certificates.names import (
    check_distinct_names,
    distinct_files,
    distinct_labels,
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
