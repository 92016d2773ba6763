"""Hygiene for names people choose: usernames (one script, no look-alikes) and display names (no bidi controls).

Django already NFKC-normalises usernames in its forms (a full-width "alice" becomes "alice"); what NFKC leaves
alone are letters of another script that look the same ("alice" with a Cyrillic U+0430 for its "a"), and
invisible characters that reorder the text around them ("Garage\u202egnp.exe" shows as "Garageexe.png").
"""

from __future__ import annotations

import unicodedata

# Explicit directional embeddings, overrides and isolates, and the implicit marks (LRM, RLM, ALM).
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
_NO_BIDI = dict.fromkeys(map(ord, BIDI_CONTROLS))

# Scripts that are written together in one name: Japanese mixes kanji with both kanas, Korean may add hanja.
_SCRIPTS_WRITTEN_TOGETHER = (
    frozenset({"CJK", "HIRAGANA", "KATAKANA"}),
    frozenset({"CJK", "HANGUL"}),
)
# Name prefixes of letters that belong to no script of their own (e.g. the Hawaiian okina, U+02BB).
_NEUTRAL = frozenset({"MODIFIER"})


def strip_bidi_controls(text: str) -> str:
    """``text`` without bidirectional control characters (see ``BIDI_CONTROLS``)."""
    return text.translate(_NO_BIDI)


def letter_scripts(text: str) -> set[str]:
    """The scripts of the letters in ``text``, from the first word of each letter's Unicode name.

    ``unicodedata`` has no script property; the name's first word ("LATIN", "CYRILLIC", "GREEK", "CJK", ...)
    is the script for every letter a username may contain. Digits, marks and punctuation have no script here.
    """
    scripts = set()
    for char in text:
        if not char.isalpha():
            continue
        word = unicodedata.name(char, "UNKNOWN").split(" ", 1)[0]
        if word not in _NEUTRAL:
            scripts.add(word)
    return scripts


def mixes_scripts(text: str) -> bool:
    """Whether ``text`` has letters of more than one script (other than scripts that are written together)."""
    scripts = letter_scripts(text)
    if len(scripts) <= 1:
        return False
    return not any(scripts <= together for together in _SCRIPTS_WRITTEN_TOGETHER)
