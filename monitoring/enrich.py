"""What the pipeline adds to every mention: language, sentiment and a reach score.

Language: the network's own tag when it gives one (X, Mastodon, Bluesky do), otherwise
py3langid (offline) on the text without links, handles and hashtags, a whole batch at once
(``langid_batch``: the same labels, ~6x faster than one text at a time), restricted to the
56 languages in ``LANGUAGES`` — left to its full model it calls short English slang Nigerian
Pidgin or Lingala. Texts with fewer than two words stay unknown rather than guessed.

Sentiment: VADER for English (``vader_fast``: the library's scores, bit for bit, without its
repeated work, which on long texts is quadratic). For every other language there is no
offline model worth its weight that we can ship, so we score only what is
language-independent: emoji and emoticons (through VADER's own emoji lexicon). Words in other
languages are not read at all — a Dutch "die" is not the English verb — so most non-English
mentions come out neutral, and the mention records ``sentiment_method = "symbols"`` so the
inbox can say so.
"""

from __future__ import annotations

import re
from functools import lru_cache

from py3langid.langid import MODEL_FILE, LanguageIdentifier

from monitoring.langid_batch import BatchLanguageIdentifier
from monitoring.models import Sentiment, SentimentMethod
from monitoring.vader_fast import FastSentimentIntensityAnalyzer

POSITIVE_THRESHOLD = 0.05  # VADER's documented cut-offs for the compound score
NEGATIVE_THRESHOLD = -0.05

# ISO 639-1 codes of the languages widely used online (and all those of our users' markets).
LANGUAGES = (
    "af", "ar", "bg", "bn", "bs", "ca", "cs", "cy", "da", "de", "el", "en", "es", "et", "eu", "fa", "fi", "fr", "ga", "gl",
    "he", "hi", "hr", "hu", "id", "is", "it", "ja", "ko", "lt", "lv", "mk", "ms", "mt", "nl", "no", "pl", "pt", "ro", "ru",
    "sk", "sl", "sq", "sr", "sv", "sw", "ta", "th", "tl", "tr", "uk", "ur", "vi", "zh", "kk", "az",
)

_analyzer = FastSentimentIntensityAnalyzer()
_identifier = LanguageIdentifier.from_model_file(MODEL_FILE)
_identifier.set_languages(LANGUAGES)
_batch_identifier = BatchLanguageIdentifier(_identifier)
_noise = re.compile(r"https?://\S+|www\.\S+|[@#][\w.]+|&\w+;", re.UNICODE)
_word = re.compile(r"[^\W\d_]{2,}", re.UNICODE)


def _worth_classifying(text: str) -> str | None:
    """The text without links, handles and hashtags, or None when fewer than two words remain."""
    cleaned = _noise.sub(" ", text)
    words = _word.finditer(cleaned)
    return cleaned if next(words, None) is not None and next(words, None) is not None else None


def detect_languages(texts: list[str]) -> list[str]:
    """The language of every text ("" when unknown), classified as one batch."""
    cleaned = [_worth_classifying(text) for text in texts]
    wanted = [text for text in cleaned if text is not None]
    detected = iter(_batch_identifier.classify_many(wanted))
    return ["" if text is None else next(detected) for text in cleaned]


def _symbols_only(text: str) -> str:
    emojis = _analyzer.emojis
    lexicon = _analyzer.lexicon
    kept = []
    for token in text.split():
        if any(character in emojis for character in token):
            kept.extend(character for character in token if character in emojis)
        elif token in lexicon and not any(character.isalpha() for character in token):
            kept.append(token)  # an emoticon such as :( or <3
    return " ".join(kept)


@lru_cache(maxsize=65_536)  # crises repeat themselves: retweets and copy-pasted complaints
def score_sentiment(text: str, language: str) -> tuple[float, str, str]:
    """(compound score in -1…1, label, method) for one text."""
    if language in ("en", ""):
        method = SentimentMethod.VADER
        scored = text
    else:
        method = SentimentMethod.SYMBOLS
        scored = _symbols_only(text)
    compound = _analyzer.polarity_scores(scored)["compound"] if scored else 0.0
    if compound >= POSITIVE_THRESHOLD:
        label = Sentiment.POSITIVE
    elif compound <= NEGATIVE_THRESHOLD:
        label = Sentiment.NEGATIVE
    else:
        label = Sentiment.NEUTRAL
    return compound, str(label), str(method)


def reach_score(*, followers: int, reposts: int, replies: int, likes: int) -> int:
    """How many people a post may have reached: its author's audience plus what engagement
    carried it to (a repost is counted as reaching a typical audience of 25 more people)."""
    return followers + 25 * reposts + 5 * replies + likes
