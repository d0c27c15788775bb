"""Records inside Mensatek answers: JSON, the SMS document's single-quoted form, and nothing else."""

from __future__ import annotations

import pytest

from airflow_provider_mensatek.clients._wire import decode_records
from airflow_provider_mensatek.clients.errors import MensatekError

#: GetReportSMS ``Informe`` exactly as mensatek-sms.txt prints its example.
DOCUMENT_EXAMPLE = (
    "[{'Fecha':'2021-09-04 19:37:21','Tiempo':3,'Telefono':'34601234567','Resultado':11,"
    "'Estado':'Entregado al Teléfono'},{'Fecha':'2021-09-04 19:37:27','Tiempo':3,'Telefono':'34656789012',"
    "'Resultado':11,'Estado':'Entregado al Teléfono'}]"
)


def decode(value: object) -> list[dict]:
    return decode_records(value, function="GetReportSMS", field="Informe")


def test_the_documents_own_example_is_read() -> None:
    assert decode(DOCUMENT_EXAMPLE) == [
        {"fecha": "2021-09-04 19:37:21", "tiempo": 3, "telefono": "34601234567", "resultado": 11,
         "estado": "Entregado al Teléfono"},
        {"fecha": "2021-09-04 19:37:27", "tiempo": 3, "telefono": "34656789012", "resultado": 11,
         "estado": "Entregado al Teléfono"},
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('[{"Resultado": "11", "Telefono": "34600000001"}]', [{"resultado": "11", "telefono": "34600000001"}]),
        ([{"Resultado": 11}], [{"resultado": 11}]),
        ({"Resultado": 11}, [{"resultado": 11}]),
        ("{'Resultado': -1, 'Tiempo': 2.5, 'Estado': 'O\\'Neill'}",
         [{"resultado": -1, "tiempo": 2.5, "estado": "O'Neill"}]),
        ("[]", []),
        ("", []),
        (None, []),
    ],
)
def test_json_and_plain_values(value: object, expected: list) -> None:
    assert decode(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "[{'Fecha': __import__('os').getcwd()}]",   # never evaluated
        "[{'Fecha': print('x')}]",
        "[{'Resultado': True}]",
        "[{'Resultado': [11]}]",
        "[{11: 'x'}]",
        "['11']",
        "[{'Fecha': '2021-09-04'",                   # truncated
        "Informe no disponible",
        "[" * 100_000 + "]" * 100_000,              # a parser bomb
        "[1, 2]",
        42,
    ],
)
def test_anything_else_fails_clearly_instead_of_reading_as_no_report(value: object) -> None:
    with pytest.raises(MensatekError, match=r"Unreadable Informe .* wait forever") as info:
        decode(value)
    assert info.value.code == "parse" and info.value.function == "GetReportSMS"
    assert "__import__" not in str(info.value)  # the vendor's text is not echoed
