"""A faster drop-in for vaderSentiment 3.3.2's ``SentimentIntensityAnalyzer``.

``polarity_scores`` of the library spends most of its time on work it repeats: it rebuilds a
lowercased copy of the whole word list in every negation, idiom and "but" check (several
times per lexicon word, so quadratic in the length of the text), calls ``str.lower`` on the
same words over and over, and copies the text character by character to replace emoji even
when it holds none. This subclass lowercases the words once per text and skips the emoji pass
when there is nothing to replace; everything else — the rules, their quirks, and the floating
point operations and the order they happen in — is the library's, so the scores are
identical, bit for bit (``tests/test_vader_fast.py`` compares the two on the ~60,000
CrisisLexT6 tweets, VADER's own examples, edge cases and random rule-heavy texts). Lexicon
loading and the final scoring (``score_valence``) are inherited unchanged. On long texts the
difference is more than a constant: 10,000 characters of emoji take the library minutes.

Pinned to vaderSentiment 3.3.2 (MIT licence, C.J. Hutto): the rule code below mirrors that
version line by line, so re-run the tests before upgrading it.
"""

from __future__ import annotations

import string

from vaderSentiment.vaderSentiment import (
    BOOSTER_DICT,
    C_INCR,
    N_SCALAR,
    NEGATE,
    SPECIAL_CASES,
    SentimentIntensityAnalyzer,
)

_NEGATE = frozenset(NEGATE)
_PUNCTUATION = string.punctuation


def _negated(word_lower: str) -> bool:
    # The library's ``negated([word])``: a negation word, or any word with "n't" in it.
    return word_lower in _NEGATE or "n't" in word_lower


class FastSentimentIntensityAnalyzer(SentimentIntensityAnalyzer):
    """``SentimentIntensityAnalyzer`` with the same scores, computed about 2-3x faster."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The library's emoji pass looks at one character at a time, so only the
        # single-character keys of the emoji lexicon can ever match; the longer ones (skin
        # tones, joined sequences) never match as such. ``self.emojis`` is read once, here.
        self._emoji_chars = frozenset(key for key in self.emojis if len(key) == 1)

    def _replace_emoji(self, text: str) -> str:
        # The library's loop, building a list instead of concatenating strings.
        emojis = self.emojis
        parts = []
        prev_space = True
        for character in text:
            if character in emojis:
                if not prev_space:
                    parts.append(" ")
                parts.append(emojis[character])
                prev_space = False
            else:
                parts.append(character)
                prev_space = character == " "
        return "".join(parts)

    def polarity_scores(self, text):
        if not isinstance(text, str):
            # The library's loop does odd things with bytes, lists and the like (errors or
            # concatenation); leave those to it rather than imitate them.
            return super().polarity_scores(text)
        # Most texts hold no emoji: a set test in C finds that without the per-character loop.
        if not self._emoji_chars.isdisjoint(text):
            text = self._replace_emoji(text)
        text = text.strip()

        # ``SentiText`` inlined: split on whitespace, strip punctuation around each token
        # unless that leaves two characters or fewer (an emoticon such as ":)" or ":D").
        words = []
        for token in text.split():
            stripped = token.strip(_PUNCTUATION)
            words.append(token if len(stripped) <= 2 else stripped)
        # Lowercased once here; the library lowercases on every look (``str(w).lower()`` of a
        # str is ``w.lower()``, and lowercasing is idempotent, so lowering twice changes nothing).
        lower = [word.lower() for word in words]
        # ``allcap_differential``: some, but not all, words are in ALL CAPS
        cap_differential = len(words) - sum(map(str.isupper, words))
        is_cap_diff = 0 < cap_differential < len(words)
        lexicon = self.lexicon
        last = len(words) - 1

        sentiments = []
        for i, item_lowercase in enumerate(lower):
            # Modifiers, "kind of", and words outside the lexicon score the integer 0, as in the
            # library (it matters: ``score_valence`` sums ints and floats in list order).
            if item_lowercase in BOOSTER_DICT:
                sentiments.append(0)
            elif i < last and item_lowercase == "kind" and lower[i + 1] == "of":
                sentiments.append(0)
            elif item_lowercase not in lexicon:
                sentiments.append(0)
            else:
                sentiments.append(self._word_valence(words, lower, i, is_cap_diff))

        self._apply_but(lower, sentiments)
        return self.score_valence(sentiments, text)

    def _word_valence(self, words, lower, i, is_cap_diff):
        # ``sentiment_valence`` of the library for a word that is in the lexicon.
        lexicon = self.lexicon
        item_lowercase = lower[i]
        valence = lexicon[item_lowercase]

        # "no" as a negation of the next lexicon word, rather than a word of its own
        if item_lowercase == "no" and i != len(words) - 1 and lower[i + 1] in lexicon:
            valence = 0.0
        if (i > 0 and lower[i - 1] == "no") \
                or (i > 1 and lower[i - 2] == "no") \
                or (i > 2 and lower[i - 3] == "no" and lower[i - 1] in ["or", "nor"]):
            valence = lexicon[item_lowercase] * N_SCALAR

        # a sentiment word in ALL CAPS while others aren't
        if words[i].isupper() and is_cap_diff:
            if valence > 0:
                valence += C_INCR
            else:
                valence -= C_INCR

        for start_i in range(0, 3):
            # boosters/dampeners up to three words back, weaker with distance
            if i > start_i and lower[i - (start_i + 1)] not in lexicon:
                s = self._scalar_inc_dec(words[i - (start_i + 1)], lower[i - (start_i + 1)], valence, is_cap_diff)
                if start_i == 1 and s != 0:
                    s = s * 0.95
                if start_i == 2 and s != 0:
                    s = s * 0.9
                valence = valence + s  # even when s is 0.0: that turns -0.0 into 0.0, as there
                valence = self._negation(valence, lower, start_i, i)
                if start_i == 2:
                    valence = self._special_idioms(valence, lower, i)

        return self._least(valence, lower, i)

    @staticmethod
    def _scalar_inc_dec(word, word_lower, valence, is_cap_diff):
        # The library's ``scalar_inc_dec`` with the lowercased word handed in.
        scalar = 0.0
        if word_lower in BOOSTER_DICT:
            scalar = BOOSTER_DICT[word_lower]
            if valence < 0:
                scalar *= -1
            if word.isupper() and is_cap_diff:
                if valence > 0:
                    scalar += C_INCR
                else:
                    scalar -= C_INCR
        return scalar

    @staticmethod
    def _negation(valence, lower, start_i, i):
        # The library's ``_negation_check`` on the already lowercased words.
        if start_i == 0:
            if _negated(lower[i - 1]):
                valence = valence * N_SCALAR
        if start_i == 1:
            if lower[i - 2] == "never" and (lower[i - 1] == "so" or lower[i - 1] == "this"):
                valence = valence * 1.25
            elif lower[i - 2] == "without" and lower[i - 1] == "doubt":
                pass
            elif _negated(lower[i - 2]):
                valence = valence * N_SCALAR
        if start_i == 2:
            # Kept as the library writes it: ``a and b or c`` groups as ``(a and b) or c``, so
            # "so"/"this" just before the word amplifies it even without a "never".
            if lower[i - 3] == "never" and (lower[i - 2] == "so" or lower[i - 2] == "this") or \
                    (lower[i - 1] == "so" or lower[i - 1] == "this"):
                valence = valence * 1.25
            elif lower[i - 3] == "without" and (lower[i - 2] == "doubt" or lower[i - 1] == "doubt"):
                pass
            elif _negated(lower[i - 3]):
                valence = valence * N_SCALAR
        return valence

    @staticmethod
    def _special_idioms(valence, lower, i):
        # The library's ``_special_idioms_check`` on the already lowercased words (only ever
        # called with i >= 3). Words hold no whitespace, so joining them with one space and
        # looking the phrase up is exactly the library's test.
        onezero = f"{lower[i - 1]} {lower[i]}"
        twoonezero = f"{lower[i - 2]} {lower[i - 1]} {lower[i]}"
        twoone = f"{lower[i - 2]} {lower[i - 1]}"
        threetwoone = f"{lower[i - 3]} {lower[i - 2]} {lower[i - 1]}"
        threetwo = f"{lower[i - 3]} {lower[i - 2]}"

        for seq in (onezero, twoonezero, twoone, threetwoone, threetwo):
            if seq in SPECIAL_CASES:
                valence = SPECIAL_CASES[seq]
                break

        if len(lower) - 1 > i:
            zeroone = f"{lower[i]} {lower[i + 1]}"
            if zeroone in SPECIAL_CASES:
                valence = SPECIAL_CASES[zeroone]
        if len(lower) - 1 > i + 1:
            zeroonetwo = f"{lower[i]} {lower[i + 1]} {lower[i + 2]}"
            if zeroonetwo in SPECIAL_CASES:
                valence = SPECIAL_CASES[zeroonetwo]

        # booster/dampener bigrams such as "sort of" or "kind of"
        for n_gram in (threetwoone, threetwo, twoone):
            if n_gram in BOOSTER_DICT:
                valence = valence + BOOSTER_DICT[n_gram]
        return valence

    def _least(self, valence, lower, i):
        # The library's ``_least_check`` on the already lowercased words.
        if i > 1 and lower[i - 1] not in self.lexicon and lower[i - 1] == "least":
            if lower[i - 2] != "at" and lower[i - 2] != "very":
                valence = valence * N_SCALAR
        elif i > 0 and lower[i - 1] not in self.lexicon and lower[i - 1] == "least":
            valence = valence * N_SCALAR
        return valence

    @staticmethod
    def _apply_but(lower, sentiments):
        # The library's ``_but_check``, in place: halve what comes before the first "but" and
        # raise by half what comes after. Its quirk is kept on purpose: it locates each score
        # with ``sentiments.index(score)``, the FIRST position holding an equal value (0, 0.0
        # and -0.0 included), so with repeated values it rescales an earlier position (again)
        # and leaves the later one as it was. Its pop-then-insert at one index is an assignment.
        if "but" in lower:
            bi = lower.index("but")
            for sentiment in sentiments:
                si = sentiments.index(sentiment)
                if si < bi:
                    sentiments[si] = sentiment * 0.5
                elif si > bi:
                    sentiments[si] = sentiment * 1.5
