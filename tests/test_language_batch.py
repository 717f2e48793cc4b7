"""BatchLanguageIdentifier.classify_many gives exactly the labels py3langid's classify gives
(and, underneath, bit-identical scores), on real tweets and on awkward hand-written texts."""

from __future__ import annotations

import random
import unicodedata

import numpy as np
import pytest
from py3langid.langid import MODEL_FILE, LanguageIdentifier

from monitoring import enrich
from monitoring.langid_batch import CHUNK_BYTES, LOCKSTEP_MIN_TEXTS, BatchLanguageIdentifier
from tests.factories import crisislex_tweet_texts

BATCH = 500

GERMAN = "Die Feuerwehr hat die Brücke am Morgen gesperrt, weil der Fluss über die Ufer getreten ist. "
LONG = (GERMAN * (10_000 // len(GERMAN) + 1))[:10_000]

SAMPLES = [
    "De brandweer heeft de brug vanochtend afgesloten omdat de rivier buiten haar oevers is getreden.",  # Dutch
    "Brandvæsenet lukkede broen i morges, fordi floden gik over sine bredder.",  # Danish
    "Ugunsdzēsēji šorīt slēdza tiltu, jo upe izgāja no krastiem.",  # Latvian
    "Vatrogasci su jutros zatvorili most jer se rijeka izlila iz korita.",  # Croatian
    GERMAN,
    "Les pompiers ont fermé le pont ce matin parce que la rivière est sortie de son lit.",  # French
    "Los bomberos cerraron el puente esta mañana porque el río se desbordó.",  # Spanish
    "川が氾濫したため、消防は今朝橋を閉鎖しました。",  # Japanese
    "أغلق رجال الإطفاء الجسر هذا الصباح لأن النهر فاض على ضفتيه.",  # Arabic
    "Пожарные утром закрыли мост, потому что река вышла из берегов.",  # Russian
    "🔥🌊🚒😱🙏",  # emoji only, all outside the BMP
    "",
    "   ",
    "flood",
    "Hochwasser",
    LONG,
    "🌊" * 10_000,  # 40,000 UTF-8 bytes
    "stay safe \ud83d everyone, the water is rising",  # a lone surrogate
    "\udfff",
    "ALLES GESPERRT WEGEN HOCHWASSER",  # all caps: py3langid lower-cases these
    unicodedata.normalize("NFD", "Le café près de la rivière est fermé."),  # NFC applies
    "rt the bridge is closed !!! stay away 🙏🙏 #flood",
]


@pytest.fixture(scope="module")
def identifier() -> LanguageIdentifier:
    return enrich._identifier  # the configured production identifier (56 languages)


@pytest.fixture(scope="module")
def batch(identifier) -> BatchLanguageIdentifier:
    return BatchLanguageIdentifier(identifier)


def crisislex_texts() -> list[str]:
    """Every CrisisLexT6 tweet, cleaned as ``enrich.detect_languages`` cleans it."""
    return [enrich._noise.sub(" ", text) for text in crisislex_tweet_texts()]


def disagreements(identifier: LanguageIdentifier, texts: list[str], got: list[str]) -> list[str]:
    """Each text whose label differs, with py3langid's margin between its two best scores."""
    found = []
    for text, label in zip(texts, got):
        expected = identifier.classify(text)[0]
        if label != expected:
            best = sorted(identifier._decide(text).tolist(), reverse=True)[:2]
            found.append(f"{text[:60]!r}: classify {expected}, classify_many {label}, margin {best[0] - best[1]:.3g}")
    return found


def test_every_crisislex_tweet_gets_the_label_classify_gives(identifier, batch):
    texts = crisislex_texts()
    assert len(texts) > 50_000
    found = []
    for start in range(0, len(texts), BATCH):
        part = texts[start : start + BATCH]
        found += disagreements(identifier, part, batch.classify_many(part))
    assert not found, f"{len(found)} of {len(texts)} differ:\n" + "\n".join(found[:20])


def test_hand_written_samples_get_the_label_classify_gives(identifier, batch):
    assert not disagreements(identifier, SAMPLES, batch.classify_many(SAMPLES))
    for text in SAMPLES:  # alone, a text is walked in Python rather than in lockstep
        assert batch.classify_many([text]) == [identifier.classify(text)[0]], repr(text[:60])


def test_samples_among_many_texts_and_chunks_keep_their_order_and_labels(identifier, batch):
    texts = SAMPLES * (LOCKSTEP_MIN_TEXTS + 4) + crisislex_texts()[:300]
    random.Random(6).shuffle(texts)
    assert sum(len(t.encode("utf-8", "surrogatepass")) for t in texts) > 10 * CHUNK_BYTES
    assert batch.classify_many(texts) == [identifier.classify(text)[0] for text in texts]


def test_scores_are_bit_identical_not_merely_close(identifier, batch):
    # the labels could agree by luck on these samples; identical float32 scores mean a near
    # tie resolves the same way too
    texts = SAMPLES + crisislex_texts()[:2_000]
    got = batch._scores([identifier._encode(text) for text in texts])
    expected = np.stack([identifier._decide(text) for text in texts])
    assert np.array_equal(got.view(np.uint32), expected.view(np.uint32))


def test_featureless_texts_get_classifys_fallback_label(identifier, batch):
    assert identifier.classify("")[0] == batch.classify_many([""])[0] == identifier.nb_classes[0]
    assert batch.classify_many([]) == []


def test_bytes_are_classified_like_classify_classifies_them(identifier, batch):
    texts = [text.encode("utf-8", "surrogatepass") for text in SAMPLES] + [b"\xff\xfe broken", b"caf\xc3"]
    assert batch.classify_many(texts) == [identifier.classify(text)[0] for text in texts]


def test_the_full_model_and_normalised_scores():
    full = LanguageIdentifier.from_model_file(MODEL_FILE)  # every language, no set_languages
    texts = SAMPLES + crisislex_texts()[:500]
    assert BatchLanguageIdentifier(full).classify_many(texts) == [full.classify(text)[0] for text in texts]
    with pytest.raises(ValueError):
        BatchLanguageIdentifier(LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True))
