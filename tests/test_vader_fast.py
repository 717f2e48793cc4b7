"""``FastSentimentIntensityAnalyzer`` scores exactly as vaderSentiment's own analyzer does.

"Exactly" means the whole ``polarity_scores`` dict — same keys in the same order, same
types, same float bits (``repr`` tells 0.0 from -0.0, which ``==`` does not) — on every
CrisisLexT6 tweet, on VADER's own demo sentences, on edge cases, and on seeded random texts
built from the words the rules look for. No database needed.
"""

from __future__ import annotations

import random

import pytest
from vaderSentiment.vaderSentiment import BOOSTER_DICT, NEGATE, SPECIAL_CASES, SentimentIntensityAnalyzer

from monitoring.vader_fast import FastSentimentIntensityAnalyzer
from tests.factories import crisislex_tweet_texts


ORIGINAL = SentimentIntensityAnalyzer()
FAST = FastSentimentIntensityAnalyzer()


def exact(scores: dict) -> list[tuple[str, type, str]]:
    return [(key, type(value), repr(value)) for key, value in scores.items()]


def mismatches(texts) -> list[tuple[str, dict, dict]]:
    found = []
    for text in texts:
        expected, actual = ORIGINAL.polarity_scores(text), FAST.polarity_scores(text)
        if exact(expected) != exact(actual):
            found.append((text, expected, actual))
    return found


# --- (a) every CrisisLexT6 tweet ------------------------------------------------------------


def test_every_crisislex_tweet_scores_the_same():
    texts = crisislex_tweet_texts()
    assert len(texts) > 50_000
    assert mismatches(texts)[:5] == []


# --- (b) VADER's own examples (the ``__main__`` demo of vaderSentiment 3.3.2) ------------------
DEMO_SENTENCES = [
    "VADER is smart, handsome, and funny.",
    "VADER is smart, handsome, and funny!",
    "VADER is very smart, handsome, and funny.",
    "VADER is VERY SMART, handsome, and FUNNY.",
    "VADER is VERY SMART, handsome, and FUNNY!!!",
    "VADER is VERY SMART, uber handsome, and FRIGGIN FUNNY!!!",
    "VADER is not smart, handsome, nor funny.",
    "The book was good.",
    "At least it isn't a horrible book.",
    "The book was only kind of good.",
    "The plot was good, but the characters are uncompelling and the dialog is not great.",
    "Today SUX!",
    "Today only kinda sux! But I'll get by, lol",
    "Make sure you :) or :D today!",
    "Catch utf-8 emoji such as 💘 and 💋 and 😁",
    "Not bad at all",
    # tricky sentences
    "Sentiment analysis has never been good.",
    "Sentiment analysis has never been this good!",
    "Most automated sentiment analysis tools are shit.",
    "With VADER, sentiment analysis is the shit!",
    "Other sentiment analysis tools can be quite bad.",
    "On the other hand, VADER is quite bad ass",
    "VADER is such a badass!",
    "Without a doubt, excellent idea.",
    "Roger Dodger is one of the most compelling variations on this theme.",
    "Roger Dodger is at least compelling as a variation on the theme.",
    "Roger Dodger is one of the least compelling variations on this theme.",
    "Not such a badass after all.",
    "Without a doubt, an excellent idea.",
    # the movie-review paragraph, whole and sentence by sentence
    "It was one of the worst movies I've seen, despite good reviews. Unbelievably bad acting!! Poor direction. "
    "VERY poor production. The movie was bad. Very bad movie. VERY BAD movie!",
    "It was one of the worst movies I've seen, despite good reviews.",
    "Unbelievably bad acting!!",
    "Poor direction.",
    "VERY poor production.",
    "The movie was bad.",
    "Very bad movie.",
    "VERY BAD movie!",
    # image tags
    "balloons", "cake", "candles", "happy birthday", "friends", "laughing", "smiling", "party",
    "riot", "fire", "fight", "blood", "mob", "war", "police", "tear gas",
    # the non-English examples (scored untranslated here)
    "I'm surprised to see just how amazingly helpful VADER is!",
    "Je suis surpris de voir comment VADER est incroyablement utile !",
    "Ich bin überrascht zu sehen, nur wie erstaunlich nützlich VADER!",
    "Me sorprende ver sólo cómo increíblemente útil VADER!",
    "Sono sorpreso di vedere solo come incredibilmente utile VADER è!",
    "Я удивлен увидеть, как раз как удивительно полезно ВЕЙДЕРА!",
    "私はちょうどどのように驚くほど役に立つベイダーを見て驚いています!",
    "أنا مندهش لرؤية فقط كيف مثير للدهشة فيدر فائدة!",
    "我很惊讶地看到VADER是如此有用!",
]

# Each rule once more, in the spots where the index arithmetic is easiest to get wrong.
RULE_SENTENCES = [
    "no good", "No problem", "no no good", "NO GOOD at all", "good no", "no",
    "no way this is good", "no, or good", "no fun or nor great", "no fun nor great",
    "never so good", "never this bad", "it was never so very good", "never ever so good",
    "so good", "this good", "so this good", "it is so sad", "really so happy",
    "without doubt good", "without any doubt good", "without a doubt, good",
    "isn't good", "wasn't bad", "couldn't be happier", "aint great", "not not good", "nothing good",
    "least good", "the least good", "at least good", "very least good", "not in the least bad",
    "kind of good", "KIND OF good", "kind of", "sort of bad", "sorta good", "just enough good",
    "it was kind of bad", "a sort of good", "this is kind of of good",
    "this is the bomb", "THE BOMB", "that was the shit", "it is to die for", "yeah right, great",
    "the kiss of death", "a beating heart", "the bus stop", "what a bad ass car", "the shit is bad",
    "VERY GOOD", "very GOOD stuff", "GOOD stuff", "EXTREMELY bad day", "extremely BAD day",
    "SO GOOD", "uber cool", "friggin awesome", "barely good", "hardly bad",
    "good!", "good!!!!!!!!", "bad??", "bad???", "bad????", "good?!?!", "!!!", "???",
    ":) :( :D <3 </3 :-) ;)", "(: ):", "I <3 you", "lol", "LOL", "rofl ROFL",
    "good but bad", "bad but good", "good BUT bad", "good but but bad", "but good", "good but",
    "great. But: terrible!", "it's not bad, but it's not good either",
]


@pytest.mark.parametrize("text", DEMO_SENTENCES + RULE_SENTENCES)
def test_vader_examples_score_the_same(text):
    assert exact(FAST.polarity_scores(text)) == exact(ORIGINAL.polarity_scores(text))


# --- (c) edge cases ---------------------------------------------------------------------------
LONG_TEXT = ("The food was GREAT but the service was not good at all!!! 😁 kind of sad :( " * 200)[:10_000]
EDGE_CASES = [
    "",
    " ",
    "   \t\n  ",
    "\u00a0\u2003",  # non-breaking and em spaces: whitespace to split(), not to the emoji loop
    ".",
    "!?!?,.;:'\"()[]{}-",
    "... !!! ???",
    "😁",
    "😁😁😁",
    "💘 💋 😁",
    " 😁",
    "😁 ",
    "\t😁\n💘",
    "good😁bad",
    "good 😁bad",
    "😁good",
    "👍🏽",  # an emoji with a skin tone: two characters, only the first one is a key
    "❤️",  # heart and variation selector
    "© 2013 ®",
    "©®",
    "0",
    "12345",
    "3.14 2 0 -1 +1 1e9",
    "1st 2nd 3rd 10/10 5*",
    "911 999 112",
    "a",
    "I",
    "ΑΣ ΣΑΣ ας",  # Greek final sigma: context-dependent lowercasing
    "İSTANBUL İyi",  # lowercases to two code points
    "ǅ ǈ ǋ",  # titlecase letters
    "GOOD",
    "GOOD BAD",
    "good BAD",
    "https://t.co/abc #good @bad RT: great!!",
    LONG_TEXT,
    ("no " * 5_000)[:10_000],
    "x" * 10_000,
]


@pytest.mark.parametrize("text", EDGE_CASES)
def test_edge_cases_score_the_same(text):
    assert exact(FAST.polarity_scores(text)) == exact(ORIGINAL.polarity_scores(text))


def test_the_long_text_is_ten_thousand_characters():
    assert len(LONG_TEXT) == 10_000


# Around a "but", the library finds each score with ``sentiments.index(score)``: the first
# position holding an EQUAL value, not the score's own. "awful" is -2.0 and "sob" -1.0: halving
# "awful" makes it -1.0, so "sob"'s -1.0 is then found at "awful"'s place, which is halved again
# while "sob" keeps its -1.0. Mostly that only moves values around (same total, same score):
BUT_SHUFFLED = [
    "awful sob but fine",
    "fine but awful betrayed",  # after the "but": awful -2.0 x 1.5 = -3.0 = betrayed
    "I love ty but whatever",  # love 3.2, ty 1.6
    "bad bad bad but bad bad",
    "good good but good good good",
    "sad but sad",
]
# ...but when a value after the "but" equals one before it that was left unscaled, the one before
# it is halved (again) and the one after is not raised, which changes the score.
BUT_CHANGED = [
    "awful sob but sob",
    "awful sob but awful sob",
    "nice jk but nice jk lolz",
]


class NaiveButAnalyzer(SentimentIntensityAnalyzer):
    """The original with a ``_but_check`` that rescales by position, to prove that the
    cases above really exercise the quirk rather than pass by luck."""

    @staticmethod
    def _but_check(words_and_emoticons, sentiments):
        lower = [word.lower() for word in words_and_emoticons]
        if "but" not in lower:
            return sentiments
        bi = lower.index("but")
        return [s * 0.5 if i < bi else s * 1.5 if i > bi else s for i, s in enumerate(sentiments)]


@pytest.mark.parametrize("text", BUT_SHUFFLED + BUT_CHANGED)
def test_repeated_values_around_but_keep_the_original_quirk(text):
    assert exact(FAST.polarity_scores(text)) == exact(ORIGINAL.polarity_scores(text))


@pytest.mark.parametrize("text", BUT_CHANGED)
def test_those_cases_do_depend_on_the_quirk(text):
    assert NaiveButAnalyzer().polarity_scores(text) != ORIGINAL.polarity_scores(text)


def test_non_string_input_is_left_to_the_library():
    assert FAST.polarity_scores(b"") == ORIGINAL.polarity_scores(b"")
    assert FAST.polarity_scores(["so", " good"]) == ORIGINAL.polarity_scores(["so", " good"])
    with pytest.raises(TypeError):
        ORIGINAL.polarity_scores(b"good")
    with pytest.raises(TypeError):
        FAST.polarity_scores(b"good")


# --- seeded random texts made of what the rules look at ----------------------------------------
def random_texts(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    lexicon = sorted(ORIGINAL.lexicon)
    emojis = sorted(ORIGINAL.emojis)
    rule_words = sorted(
        {*NEGATE, *BOOSTER_DICT, *(word for phrase in SPECIAL_CASES for word in phrase.split()),
         "but", "no", "never", "so", "this", "without", "doubt", "least", "at", "very", "kind", "of",
         "or", "nor", "n't", "!", "?", "!!!", "???", ":)", ":D", ":(", "<3", "...", "-", "©", "ΑΣ", "İ"}
    )

    def word() -> str:
        pick = rng.random()
        if pick < 0.35:
            token = rng.choice(lexicon)
        elif pick < 0.75:
            token = rng.choice(rule_words)
        elif pick < 0.82:
            token = rng.choice(emojis)
        else:
            token = "".join(rng.choice("abxyz.,!?:;()-'\"") for _ in range(rng.randint(1, 6)))
        case = rng.random()
        if case < 0.15:
            token = token.upper()
        elif case < 0.2:
            token = token.capitalize()
        if rng.random() < 0.15:
            token = rng.choice(".,!?\"('") + token
        if rng.random() < 0.15:
            token = token + rng.choice(".,!?\")'")
        return token

    texts = []
    for _ in range(count):
        separators = [rng.choice([" ", " ", " ", "", "  ", "\n"]) for _ in range(rng.randint(0, 25))]
        texts.append(rng.choice(["", " "]) + "".join(word() + separator for separator in separators))
    return texts


def test_random_rule_heavy_texts_score_the_same():
    assert mismatches(random_texts(seed=20130415, count=20_000))[:5] == []
