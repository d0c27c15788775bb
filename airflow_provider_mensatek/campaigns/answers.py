"""What an accepted batch answer proves about each recipient: sent, refused (to resend), or unconfirmed.

The summary lists refused recipients in ``not_sent.csv``, a file people fix and
resend, so a recipient is called refused only on proof. Anything the answer
leaves open is unconfirmed (``unconfirmed.csv``: check the vendor panel first).
A wrong "refused" sends a legal notice twice; a wrong "unconfirmed" costs a
look at the panel.

The vendors name recipients in different ways (see the vendor documents):

* certified email: ``Destinatarios`` echoes the recipients *taken*, each with
  its ``IDMENSAJE``, beside the counts ``Enviados`` / ``NoEnviados``. The
  document's own example echoes one recipient for ``Enviados: 2``, so the
  echo is not trusted alone.
* email: ``Enviados`` lists the recipients taken (with ``idMensaje``),
  ``NoEnviados`` names the refused ones; ``Destinatarios`` counts those taken.
* SMS: counts only (``NoEnviados``).
* LegallyMail: ``recipients`` with a ``status`` each, beside ``success_count``
  / ``fail_count``.

The rule (:func:`settle`): recipients the answer does not list as taken are
refused only when the answer is consistent end to end: every entry names one
planned address exactly (case aside) and carries its id, no entry is
unreadable, nothing was counted as a duplicate, the counts equal the lists,
and every planned recipient is accounted for (named as refused where the
vendor names them, else exactly ``NoEnviados`` of them). Otherwise (an echo
shorter than ``Enviados``, an entry without ``Email``, ``Name <addr>``, an
address the vendor normalised, counts that disagree) they are unconfirmed,
never refused. An answer that names nobody proves a refusal only when its
counts cover the whole batch: none taken, all refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

#: Version of the rule above, stored with each accepted ledger record: the summary trusts the ``refused``
#: list only of records this rule wrote (an earlier release called every recipient missing from an echo
#: refused).
ANSWER_RULES = 2


@dataclass(frozen=True)
class Named:
    """The recipients one list of an answer names: address (lower case) -> message id, and what it could not read.

    ``entries``: objects in the list; ``unreadable``: entries without an address
    (or, where ids are expected, without a readable id), plus each address named
    a second time.
    """

    entries: int = 0
    ids: dict[str, Any] = field(default_factory=dict)
    unreadable: int = 0

    @classmethod
    def of(cls, pairs: Iterable[tuple[Any, Any]], *, need_id: bool) -> Named:
        """From ``(address, message id)`` of each entry of a list (None where the entry has none)."""
        entries = unreadable = 0
        ids: dict[str, Any] = {}
        for address, message_id in pairs:
            entries += 1
            key = address.lower() if isinstance(address, str) else ""  # exact, case aside: as planned
            if not key or (need_id and message_id is None) or key in ids:
                unreadable += 1
                continue
            ids[key] = message_id
        return cls(entries, ids, unreadable)


def settle(keys: Sequence[str], *, sent: int | None, not_sent: int | None, duplicates: int = 0,
           taken: Named | None = None, refused: Named | None = None) -> tuple[list[str], list[str]]:
    """``(refused, unconfirmed)`` planned recipients (``keys``, lower case) of an accepted batch.

    ``sent`` / ``not_sent``: the answer's counts of recipients (None where it
    gives none); ``taken`` / ``refused``: the lists naming them (None where the
    answer has no such list).
    """
    if taken is None and refused is None:
        if sent is None:  # a count of messages, not of recipients (SMS): only "none refused" is readable
            return ([], []) if not_sent == 0 else ([], list(keys))
        if duplicates == 0 and not_sent == 0 and sent == len(keys):
            return [], []
        if duplicates == 0 and sent == 0 and not_sent == len(keys):
            return list(keys), []
        return [], list(keys)
    listed = taken.ids if taken is not None else {}
    rest = [k for k in keys if k not in listed]
    if not rest:
        return [], []
    proven = duplicates == 0 and taken is not None and taken.unreadable == 0 and (
        sent is None or sent == taken.entries) and len(listed) == len(keys) - len(rest)
    if refused is not None:
        proven = proven and refused.unreadable == 0 and set(refused.ids) == set(rest) and (
            not_sent is None or not_sent == refused.entries)
    else:
        proven = proven and not_sent == len(rest)
    return (rest, []) if proven else ([], rest)
