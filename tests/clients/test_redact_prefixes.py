"""A token cut short is redacted only from a prefix that cannot be ordinary words.

The redaction is process-wide: a prefix such as ``another`` (of a token ``another-token``) would
blank that word out of every message and log line of the process.
"""

from __future__ import annotations

from airflow_provider_mensatek.clients._http.redact import (
    MASK,
    holds_credential,
    prefix_length,
    redact,
    register_secret,
    secret_forms,
)

RANDOM = "Zq8vN2xKp4Lr7Tw9Yb3Hm6JdQ1sF"
LETTERS = "kqzjvwxhplmnbrtdfgsycwqxzplmkrt"  # a random token of lower-case letters only


def test_a_word_like_token_prefix_does_not_hide_words() -> None:
    register_secret("another-token", user="api-user")
    sentence = "batch 7 is being sent by another worker; another-tok is not a token"
    assert redact(sentence) == sentence
    assert not holds_credential(sentence)
    assert prefix_length("another-token") is None
    assert redact("token another-token rejected") == f"token {MASK} rejected"  # the whole token still is


def test_a_random_token_cut_short_is_still_redacted() -> None:
    register_secret(RANDOM)
    assert redact(f"invalid token '{RANDOM[:12]}...'") == f"invalid token '{MASK}...'"
    assert redact(f"invalid token '{RANDOM[:11]}...'") == f"invalid token '{RANDOM[:11]}...'"


def test_a_letters_only_token_is_redacted_once_no_word_is_that_long() -> None:
    register_secret(LETTERS)
    assert prefix_length(LETTERS) == 24
    assert redact(f"token {LETTERS[:24]}... rejected") == f"token {MASK}... rejected"


def test_airflow_masker_gets_no_short_or_word_like_fragment() -> None:
    forms = secret_forms("another-token", user="api-user")
    masked = forms.masker_forms()
    assert "another-token" in masked
    assert all(len(form) >= 5 for form in masked)
    assert not any(form.lower() in "being sent by another worker" for form in masked)
