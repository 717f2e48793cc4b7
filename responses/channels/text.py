"""Counting text the way each platform counts it, and splitting it into a numbered thread.

Every counter here errs on the long side: a post we think fits must never be refused as
too long, while a post a few characters shorter than it could have been costs nothing.

- ``x_weighted_length``: X's documented weighting (the twitter-text v3 configuration):
  the text is NFC-normalised; code points in U+0000–U+10FF, U+2000–U+200D, U+2010–U+201F
  and U+2032–U+2037 weigh 1, every other code point 2; a URL weighs 23 whatever its
  length. Deviations, all towards counting more: an emoji made of several code points (a
  flag, a skin tone, a ZWJ family) is counted code point by code point where X counts 2
  for the whole sequence; © and ® weigh 2 (X may treat them as emoji); a link we cannot be
  sure X shortens (non-ASCII, odd host) weighs 23 plus its own length; a bare domain
  (``acme.com``) weighs at least 23, because X shortens it when it knows the TLD and we do
  not carry X's TLD list.
- ``mastodon_length``: Mastodon's rule (grapheme clusters, every http(s) URL counts 23),
  except that ``@user@domain`` is counted in full where Mastodon counts only ``@user``.
- ``grapheme_count``: an approximation of Unicode grapheme clusters (UAX #29) without a
  new dependency: combining marks, variation selectors, skin-tone modifiers, emoji tag
  sequences, keycaps, ZWJ emoji sequences, flag pairs, CRLF and Hangul jamo join the
  cluster before them. Other extended clusters (e.g. some Indic conjuncts) count as more
  than one, which is the safe direction.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from typing import Callable

URL_WEIGHT = 23
_X_LIGHT_RANGES = ((0x0000, 0x10FF), (0x2000, 0x200D), (0x2010, 0x201F), (0x2032, 0x2037))
_X_HEAVY_IN_LIGHT_RANGES = {0x00A9, 0x00AE}

_LABEL = r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)"
_URL_SAFE = r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%|]"
_SCHEME_URL = re.compile(r"https?://[^\s<>\"]+", re.IGNORECASE)
_BARE_DOMAIN = re.compile(rf"(?<![\w@＠$#＃.\-/]){_LABEL}(?:\.{_LABEL})*\.[a-z]{{2,63}}(?![\w\-])(?:/[^\s<>\"]*)?", re.IGNORECASE)
_PLAIN_SCHEME_URL = re.compile(rf"https?://{_LABEL}(?:\.{_LABEL})*\.[a-z]{{2,63}}(?::[0-9]{{1,5}})?(?:[/?#]{_URL_SAFE}*)?", re.IGNORECASE)
_PLAIN_BARE_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.[a-z]{{2,63}}(?:/{_URL_SAFE}*)?", re.IGNORECASE)
_LINK_END = re.compile(r"[A-Za-z0-9=_#/+\-]")


# --- links -------------------------------------------------------------------------------


def _trim_link(link: str) -> str:
    """A link ends on a letter, digit or one of ``= _ # / + -`` (twitter-text's URL-ending
    characters), or on a closing bracket it opened; anything after that is punctuation
    around the link and is counted as text."""
    while link:
        last = link[-1]
        if _LINK_END.fullmatch(last) or (last == ")" and link.count("(") >= link.count(")")):
            break
        link = link[:-1]
    return link


def _segments(text: str, *, bare_domains: bool) -> list[tuple[str, str]]:
    """The text as ``(kind, piece)`` pairs, kind being "text", "url" or "domain"."""
    found: list[tuple[int, int, str]] = []
    for match in _SCHEME_URL.finditer(text):
        link = _trim_link(match.group())
        if len(link) > len("https://"):
            found.append((match.start(), match.start() + len(link), "url"))
    if bare_domains:
        for match in _BARE_DOMAIN.finditer(text):
            link = _trim_link(match.group())
            start, end = match.start(), match.start() + len(link)
            if link and not any(start < other_end and other_start < end for other_start, other_end, _ in found):
                found.append((start, end, "domain"))
    found.sort()
    segments: list[tuple[str, str]] = []
    position = 0
    for start, end, kind in found:
        if start > position:
            segments.append(("text", text[position:start]))
        segments.append((kind, text[start:end]))
        position = end
    if position < len(text):
        segments.append(("text", text[position:]))
    return segments


def _link_weight(kind: str, link: str, literal: int) -> int:
    if link.count("(") != link.count(")"):
        return URL_WEIGHT + literal  # X may end the link at an unbalanced bracket
    if kind == "url":
        return URL_WEIGHT if _PLAIN_SCHEME_URL.fullmatch(link) else URL_WEIGHT + literal
    return max(URL_WEIGHT, literal) if _PLAIN_BARE_DOMAIN.fullmatch(link) else URL_WEIGHT + literal


# --- X -----------------------------------------------------------------------------------


def _x_code_point_weight(character: str) -> int:
    code_point = ord(character)
    if code_point in _X_HEAVY_IN_LIGHT_RANGES:
        return 2
    return 1 if any(low <= code_point <= high for low, high in _X_LIGHT_RANGES) else 2


def _x_plain_weight(text: str) -> int:
    return sum(_x_code_point_weight(character) for character in text)


def x_weighted_length(text: str) -> int:
    """The weight X gives the text, never less than X's own count (see the module notes)."""
    text = unicodedata.normalize("NFC", text)
    total = 0
    for kind, piece in _segments(text, bare_domains=True):
        literal = _x_plain_weight(piece)
        total += literal if kind == "text" else _link_weight(kind, piece, literal)
    return total


# --- Mastodon ----------------------------------------------------------------------------


def mastodon_length(text: str) -> int:
    """The length Mastodon checks against the instance's limit (never less than it)."""
    total = 0
    for kind, piece in _segments(text, bare_domains=False):
        literal = grapheme_count(piece)
        total += literal if kind == "text" else _link_weight(kind, piece, literal)
    return total


# --- grapheme clusters -------------------------------------------------------------------


def _is_pictographic(character: str) -> bool:
    code_point = ord(character)
    return (
        0x1F000 <= code_point <= 0x1FAFF
        or 0x2190 <= code_point <= 0x2BFF
        or code_point in (0x00A9, 0x00AE, 0x203C, 0x2049, 0x2122, 0x2139, 0x3030, 0x303D, 0x3297, 0x3299)
    )


def _is_regional_indicator(character: str) -> bool:
    return 0x1F1E6 <= ord(character) <= 0x1F1FF


def _is_hangul(character: str) -> bool:
    code_point = ord(character)
    return 0x1100 <= code_point <= 0x11FF or 0xAC00 <= code_point <= 0xD7A3 or 0xD7B0 <= code_point <= 0xD7FF


def _joins(cluster: str, character: str) -> bool:
    """Whether ``character`` continues ``cluster`` rather than starting a new one."""
    last = cluster[-1]
    code_point = ord(character)
    if last == "\r":
        return character == "\n"
    if unicodedata.category(last) in ("Cc", "Zl", "Zp"):
        return False
    if unicodedata.category(character) in ("Mn", "Mc", "Me"):
        return True  # combining marks, including the keycap U+20E3
    if (
        code_point == 0x200D
        or 0xFE00 <= code_point <= 0xFE0F
        or 0xE0100 <= code_point <= 0xE01EF
        or 0x1F3FB <= code_point <= 0x1F3FF
        or 0xE0020 <= code_point <= 0xE007F
    ):
        return True
    if last == "\u200d" and _is_pictographic(character) and _is_pictographic(cluster[0]):
        return True
    if _is_regional_indicator(character) and len(cluster) == 1 and _is_regional_indicator(last):
        return True
    # Vowel and final jamo (and, conservatively, nothing else) join the syllable before them.
    if (0x1160 <= code_point <= 0x11FF or 0xD7B0 <= code_point <= 0xD7FF) and _is_hangul(last):
        return True
    return False


def grapheme_clusters(text: str) -> list[str]:
    clusters: list[str] = []
    for character in text:
        if clusters and _joins(clusters[-1], character):
            clusters[-1] += character
        else:
            clusters.append(character)
    return clusters


def grapheme_count(text: str) -> int:
    return len(grapheme_clusters(text))


# --- threads -----------------------------------------------------------------------------

_GAP = re.compile(r"\s+|(?<=[。！？])(?=\S)")
_SENTENCE_END = re.compile(r"[.!?…。！？][\"'”’»)\]]?$")
PARAGRAPH, LINE, SENTENCE, WORD = 4, 3, 2, 1


def split_thread(text: str, *, fits: Callable[[str], bool]) -> list[str]:
    """The text as one post, or as a thread numbered " (1/3)", " (2/3)", …

    ``fits(post)`` says whether a post is within the platform's limits. Each part is filled
    as far as it fits, then ends at the strongest boundary in its second half: a paragraph
    break, else a line break, else the end of a sentence, else a space. A single word longer
    than a post is cut between grapheme clusters. Every part, number included, satisfies
    ``fits``; the words are never changed. ``ValueError`` when the limit cannot hold even
    the numbering.
    """
    text = text.strip()
    if not text:
        return []
    if fits(text):
        return [text]
    for digits in (1, 2, 3):
        widest = f" ({'9' * digits}/{'9' * digits})"
        if not fits("x" + widest):
            break
        chunks = _chunks(text, lambda piece, widest=widest: fits(piece + widest), stop_after=10**digits - 1)
        if len(chunks) < 10**digits:
            return [f"{chunk} ({index}/{len(chunks)})" for index, chunk in enumerate(chunks, start=1)]
    raise ValueError("the text is far too long to publish as a thread")


def _boundaries(text: str) -> list[tuple[int, int, int]]:
    """Every place a part may end: ``(end of the part, start of the next, strength)``."""
    found = []
    for match in _GAP.finditer(text):
        gap = match.group()
        if "\n" in gap:
            strength = PARAGRAPH if gap.count("\n") > 1 else LINE
        elif _SENTENCE_END.search(text[max(0, match.start() - 2) : match.start()]):
            strength = SENTENCE
        else:
            strength = WORD
        found.append((match.start(), match.end(), strength))
    return found


def _chunks(text: str, fits: Callable[[str], bool], *, stop_after: int) -> list[str]:
    """The text cut into parts that each satisfy ``fits`` (at most ``stop_after`` + 1 of them:
    past that the caller needs wider numbers anyway)."""
    boundaries = _boundaries(text)
    ends = [boundary[0] for boundary in boundaries]
    chunks: list[str] = []
    start = 0
    while start < len(text) and len(chunks) <= stop_after:
        longest = _longest_fitting_prefix(text[start:], fits)
        if start + len(longest) >= len(text):
            chunks.append(text[start:])
            break
        # Text up to a boundary is whole words followed by nothing, so it weighs no more
        # than the longest prefix that fits: every boundary inside that prefix fits too.
        first, after = bisect_right(ends, start), bisect_right(ends, start + len(longest))
        fitting = boundaries[first:after]
        if fitting and not fits(text[fitting[-1][1] : ends[after] if after < len(ends) else len(text)]):
            fitting = []  # the next word is longer than a post: start cutting it here, not in a part of its own
        if fitting:
            furthest = fitting[-1][0]
            window = [boundary for boundary in fitting if boundary[0] - start >= (furthest - start) / 2]
            end, next_start, _strength = max(window, key=lambda boundary: (boundary[2], boundary[0]))
        else:
            end = next_start = start + len(longest)
        chunks.append(text[start:end])
        start = next_start
        while start < len(text) and text[start].isspace():
            start += 1
    return chunks


def _count_fitting(available: int, fits_count: Callable[[int], bool]) -> int:
    """The largest ``count`` in 0..available for which ``fits_count(count)`` holds, given that
    it holds for every smaller count too."""
    good, step = 0, 1
    while good + step <= available and fits_count(good + step):
        good += step
        step *= 2
    bad = min(good + step, available + 1)
    while bad - good > 1:
        middle = (good + bad) // 2
        if fits_count(middle):
            good = middle
        else:
            bad = middle
    return good


def _longest_fitting_prefix(text: str, fits: Callable[[str], bool]) -> str:
    """As many whole grapheme clusters of ``text`` as fit (at least one)."""
    window = 1024
    while True:
        clusters = grapheme_clusters(text[:window])
        if window < len(text) and len(clusters) > 1:
            clusters.pop()  # it may continue past the window
        if window < len(text) and fits("".join(clusters)):
            window *= 4
            continue
        count = _count_fitting(len(clusters), lambda count: fits("".join(clusters[:count])))
        return "".join(clusters[: max(count, 1)])
