"""The advisory tone checker (responses/tone.py): each rule in English, the other covered
languages, realistic good holding statements that must come back clean, word boundaries,
promises with a deadline against plain times, voice rules, and hostile input. No database:
the checker is pure computation."""

from __future__ import annotations

import json
import random
import re

import pytest

from responses import tone
from responses.tone import LANGUAGES, MAX_FINDINGS_PER_RULE, RULES, Finding, check_tone, checkable_voice_rules, is_covered


def flagged(text: str, language: str = "en", **options) -> list[tuple[str, str]]:
    return [(finding.rule, finding.excerpt) for finding in check_tone(text, language=language, **options)]


def dont(rule: str) -> dict:
    return {"kind": "dont", "rule": rule}


# --- every rule in English ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, rule, excerpt",
    [
        ("We did nothing wrong and will say so.", "defensive", "We did nothing wrong"),
        ("That is simply not true.", "defensive", "That is simply not true"),
        ("It’s not true that we ignored the warnings.", "defensive", "It’s not true"),
        ("Our staff followed all procedures.", "defensive", "followed all procedures"),
        ("With all due respect, the reports are exaggerated.", "defensive", "With all due respect"),
        ("The outage was due to a third-party provider.", "blaming", "due to a third-party provider"),
        ("This was the supplier's fault.", "blaming", "supplier's fault"),
        ("It affected customers who misused the feature.", "blaming", "customers who misused"),
        ("It was human error by an employee.", "blaming", "human error"),
        ("A rogue employee posted the message.", "blaming", "rogue employee"),
        ("This happened because our partner changed a setting.", "justifying", "This happened because"),
        ("In our defence, the weather was extreme.", "justifying", "In our defence"),
        ("To be fair, most orders arrived.", "justifying", "To be fair"),
        ("It is important to understand that this is rare.", "justifying", "It is important to understand that"),
        ("This was an isolated incident.", "dismissive", "isolated incident"),
        ("Only a small number of customers were affected.", "dismissive", "a small number of"),
        ("The reaction online is an overreaction.", "dismissive", "overreaction"),
        ("There is no cause for concern.", "dismissive", "no cause for concern"),
        ("We regret any inconvenience.", "dismissive", "any inconvenience"),
        ("We apologise if anyone was offended.", "dismissive", "if anyone was offended"),
        ("We are sorry if you feel let down.", "dismissive", "sorry if you feel"),
        ("The product is 100% safe.", "absolute", "100% safe"),
        ("The water is completely safe to drink.", "absolute", "completely safe"),
        ("A leak like this never happens.", "absolute", "never happens"),
        ("We guarantee your data is secure.", "absolute", "guarantee"),
        ("We always put customers first.", "absolute", "always"),
        ("There is no risk to customers.", "absolute", "no risk"),
        ("The issue is fully resolved.", "absolute", "fully resolved"),
    ],
)
def test_it_flags_each_rule_in_english(text, rule, excerpt):
    assert (rule, excerpt) in flagged(text)


@pytest.mark.parametrize(
    "text, excerpt",
    [
        ("We'll call you within 10 minutes.", "We'll call you within 10 minutes"),
        ("It will be fixed in an hour.", "will be fixed in an hour"),
        ("Everything fixed in an hour, promised.", "fixed in an hour"),
        ("We will have it working again by 5 pm.", "will have it working again by 5 pm"),
        ("You will get your refund within 24 hours.", "will get your refund within 24 hours"),
        ("The app will be back online shortly.", "will be back online shortly"),
        ("Today we will refund every order.", "Today we will refund"),
    ],
)
def test_it_flags_a_commitment_with_a_deadline_as_a_promise(text, excerpt):
    assert flagged(text) == [("over_promise", excerpt)]


def test_the_promise_message_asks_for_a_tracked_promise_with_a_deadline():
    [finding] = check_tone("We will call you within 10 minutes.")
    assert "tracked promise with a deadline" in finding.message
    assert "'will call you within 10 minutes'" in finding.message


@pytest.mark.parametrize(
    "text",
    [
        "The next update is at 14:00.",
        "This statement was published at 10:00.",
        "We will post our next update at 14:00.",
        "We will keep you updated today.",
        "Service was restored at 10:00 this morning.",
        "Since 09:40 today some customers cannot log in.",
        "We will keep investigating and share more as soon as we know.",
        "We will refund every affected order.",
        "Earlier today the app stopped working.",
    ],
)
def test_it_does_not_flag_a_plain_time_or_a_promise_without_a_deadline(text):
    assert [rule for rule, _ in flagged(text)] == []


def test_a_promise_to_fix_counts_even_in_a_sentence_that_schedules_the_update():
    text = "Our next update will be at 14:00 and the app will be back online by 15:00."
    [(rule, excerpt)] = flagged(text)
    assert rule == "over_promise"
    assert excerpt.endswith("will be back online by 15:00")


def test_a_deadline_in_one_sentence_does_not_pair_with_a_commitment_in_another():
    assert flagged("We will look into it. The next update is at 14:00.") == []
    assert flagged("We will look into it.\nAt 14:00 the shop closes") == []


def test_a_time_like_5_pm_does_not_end_the_sentence():
    assert flagged("We will have it fixed by 5 p.m. today.") == [("over_promise", "will have it fixed by 5 p.m. today")]


# --- the other covered languages ---------------------------------------------------------------
@pytest.mark.parametrize(
    "language, text, rule, excerpt",
    [
        ("nl", "Wij hebben niets verkeerd gedaan.", "defensive", "Wij hebben niets verkeerd gedaan"),
        ("nl", "De storing ontstond door een externe partij.", "blaming", "door een externe partij"),
        ("nl", "Het gaat om een op zichzelf staand incident.", "dismissive", "op zichzelf staand incident"),
        ("nl", "Onze excuses voor het ongemak.", "dismissive", "het ongemak"),
        ("nl", "Dit zal nooit meer gebeuren.", "absolute", "nooit meer gebeuren"),
        ("nl", "We bellen u binnen 10 minuten terug.", "over_promise", "bellen u binnen 10 minuten"),
        ("da", "Det er simpelthen ikke sandt.", "defensive", "Det er simpelthen ikke sandt"),
        ("da", "Fejlen skyldes en underleverandør.", "blaming", "skyldes en underleverandør"),
        ("da", "Der er tale om et enkeltstående tilfælde.", "dismissive", "enkeltstående tilfælde"),
        ("da", "Produktet er 100 % sikkert.", "absolute", "100 % sikkert"),
        ("da", "Vi ringer til dig inden for 10 minutter.", "over_promise", "ringer til dig inden for 10 minutter"),
        ("da", "Vi ringer til dig inden kl. 15.", "over_promise", "ringer til dig inden kl. 15"),
        ("de", "Wir haben nichts falsch gemacht.", "defensive", "Wir haben nichts falsch gemacht"),
        ("de", "Die Störung wurde durch einen Dienstleister verursacht.", "blaming", "durch einen Dienstleister"),
        ("de", "Es handelt sich um einen Einzelfall.", "dismissive", "Einzelfall"),
        ("de", "Wir entschuldigen uns für die Unannehmlichkeiten.", "dismissive", "die Unannehmlichkeiten"),
        ("de", "Das Produkt ist absolut sicher.", "absolute", "absolut sicher"),
        ("de", "Wir rufen Sie innerhalb von 10 Minuten zurück.", "over_promise", "rufen Sie innerhalb von 10 Minuten"),
        ("fr", "Nous n'avons rien fait de mal.", "defensive", "Nous n'avons rien fait de mal"),
        ("fr", "La panne est due à un prestataire.", "blaming", "due à un prestataire"),
        ("fr", "Pour être honnête, la demande était énorme.", "justifying", "Pour être honnête"),
        ("fr", "Il s'agit d'un incident isolé.", "dismissive", "incident isolé"),
        ("fr", "Nous vous rappellerons dans 10 minutes.", "over_promise", "vous rappellerons dans 10 minutes"),
        ("fr", "Le service sera rétabli d'ici 18 h.", "over_promise", "sera rétabli d'ici 18 h"),
        ("es", "No hemos hecho nada malo.", "defensive", "No hemos hecho nada malo"),
        ("es", "El fallo fue causado por un proveedor externo.", "blaming", "causado por un proveedor"),
        ("es", "Se trata de un incidente aislado.", "dismissive", "incidente aislado"),
        ("es", "Lamentamos las molestias.", "dismissive", "las molestias"),
        ("es", "El producto es totalmente seguro.", "absolute", "totalmente seguro"),
        ("es", "Le llamaremos en 10 minutos.", "over_promise", "Le llamaremos en 10 minutos"),
    ],
)
def test_it_flags_phrases_in_the_other_covered_languages(language, text, rule, excerpt):
    assert (rule, excerpt) in flagged(text, language)


# Realistic holding statements: apologise, own it, say what is being done, give the next
# update time without promising the fix. None of them may get a finding.
GOOD_HOLDING_STATEMENTS = {
    "en": (
        "We are sorry. Since 09:40 this morning many of you have not been able to log in to the app, and we know how "
        "frustrating that is when you need to pay or check your balance. This is our mistake and we own it. Our engineers "
        "are working on a fix right now. Your money is where it should be, and no payments have been lost. We will post our "
        "next update here at 12:00, even if we do not have a fix by then. If you need help now, our support team is on "
        "0800 123 456."
    ),
    "nl": (
        "Het spijt ons enorm. Sinds vanochtend 9.40 uur kunnen veel klanten niet inloggen in de app, en we begrijpen hoe "
        "vervelend dat is als u wilt betalen of uw saldo wilt bekijken. Dit is onze fout en daar nemen we de "
        "verantwoordelijkheid voor. Onze technici werken op dit moment aan een oplossing. Uw geld staat waar het hoort en er "
        "zijn geen betalingen verloren gegaan. Onze volgende update plaatsen we hier om 12.00 uur, ook als er dan nog geen "
        "oplossing is. Hulp nodig? Onze klantenservice is bereikbaar op 0800 123 4567."
    ),
    "da": (
        "Vi er meget kede af det. Siden kl. 9.40 i morges har mange af jer ikke kunnet logge ind i appen, og vi forstår "
        "godt, hvor frustrerende det er, når I skal betale eller tjekke jeres saldo. Fejlen ligger hos os, og vi tager "
        "ansvaret. Vores teknikere arbejder lige nu på at løse problemet. Jeres penge står, hvor de skal, og ingen betalinger "
        "er gået tabt. Vi lægger den næste opdatering her kl. 12.00, også selvom vi ikke har en løsning til den tid. Har du "
        "brug for hjælp nu, kan du ringe til vores kundeservice på 70 12 34 56."
    ),
    "de": (
        "Es tut uns sehr leid. Seit heute Morgen 9:40 Uhr können sich viele von Ihnen nicht in der App anmelden, und wir "
        "wissen, wie ärgerlich das ist, wenn Sie eine Zahlung erledigen oder Ihren Kontostand prüfen möchten. Der Fehler "
        "liegt bei uns, und wir übernehmen dafür die Verantwortung. Unser Technikteam arbeitet gerade an einer Lösung. Ihr "
        "Geld ist da, wo es hingehört, und es sind keine Zahlungen verloren gegangen. Unser nächstes Update veröffentlichen "
        "wir hier um 12:00 Uhr, auch wenn wir bis dahin noch keine Lösung haben. Wenn Sie jetzt Hilfe brauchen, erreichen "
        "Sie unseren Kundenservice unter 0800 123 4567."
    ),
    "fr": (
        "Nous sommes sincèrement désolés. Depuis 9 h 40 ce matin, beaucoup d'entre vous ne peuvent plus se connecter à "
        "l'application, et nous savons à quel point c'est frustrant quand vous devez payer ou consulter votre solde. "
        "L'erreur vient de nous et nous en assumons la responsabilité. Nos équipes techniques travaillent en ce moment sur "
        "une solution. Votre argent est bien là et aucun paiement n'a été perdu. Nous publierons notre prochain point ici à "
        "12 h, même si nous n'avons pas encore de solution d'ici là. Si vous avez besoin d'aide maintenant, notre service "
        "client est joignable au 0800 123 456."
    ),
    "es": (
        "Lo sentimos mucho. Desde las 9:40 de esta mañana, muchos de vosotros no podéis entrar en la aplicación, y "
        "entendemos lo frustrante que es cuando necesitáis pagar o consultar vuestro saldo. El error es nuestro y asumimos "
        "la responsabilidad. Nuestro equipo técnico está trabajando ahora mismo en una solución. Vuestro dinero sigue donde "
        "debe estar y no se ha perdido ningún pago. Publicaremos la próxima actualización aquí a las 12:00, aunque todavía "
        "no tengamos una solución. Si necesitáis ayuda ahora, nuestro servicio de atención al cliente está en el 900 123 456."
    ),
}


def test_every_covered_language_has_a_good_holding_statement():
    assert set(GOOD_HOLDING_STATEMENTS) == set(LANGUAGES)


@pytest.mark.parametrize("language", sorted(GOOD_HOLDING_STATEMENTS))
def test_a_good_empathetic_owning_holding_statement_gets_no_findings(language):
    assert check_tone(GOOD_HOLDING_STATEMENTS[language], language=language, require_apology=True) == []


# --- matching: case, word boundaries, merging, order -------------------------------------------
def test_it_matches_regardless_of_case():
    assert flagged("WE DID NOTHING WRONG.") == [("defensive", "WE DID NOTHING WRONG")]


@pytest.mark.parametrize(
    "text, language",
    [
        ("Nevertheless, the hallways stay open.", "en"),  # "never", "always" inside longer words
        ("The guaranteeing bank is unguaranteed.", "en"),
        ("La siempreviva florece.", "es"),
        ("Vi har altidsbedste resultater.", "da"),
    ],
)
def test_it_does_not_match_inside_a_longer_word(text, language):
    assert flagged(text, language) == []


def test_a_quoted_voice_phrase_does_not_match_inside_a_longer_word():
    rules = [dont('Don\'t say "fortunate"')]
    assert flagged("Unfortunately the app is down.", voice_rules=rules) == []
    assert flagged("We are fortunate nobody was hurt.", voice_rules=rules) == [("voice_rule", "fortunate")]


def test_accented_letters_count_as_letters_at_a_word_boundary():
    # An ASCII-only \b would see "é" as a boundary and find "bug" inside "débug".
    rules = [dont('N\'écrivez pas "bug", écrivez "dysfonctionnement"')]
    assert flagged("Le débug est en cours.", "fr", voice_rules=rules) == []
    assert flagged("Un bug affecte l'application.", "fr", voice_rules=rules) == [("voice_rule", "bug")]


def test_overlapping_matches_of_one_rule_are_merged():
    rules = [dont('Never write "any inconvenience" or "inconvenience caused"')]
    findings = check_tone("Sorry for any inconvenience caused.", language="lv", voice_rules=rules)
    assert [(finding.start, finding.excerpt) for finding in findings] == [(10, "any inconvenience caused")]


def test_findings_come_sorted_by_start():
    text = "We guarantee it. We did nothing wrong. It was an isolated incident. We will call you today."
    starts = [finding.start for finding in check_tone(text, require_apology=True)]
    assert starts == sorted(starts)
    assert starts[0] == -1  # the whole-text finding about the missing apology
    assert len(starts) == 5


def test_offsets_point_into_the_original_text_even_when_lower_casing_changes_length():
    text = "İİİ We did nothing wrong."
    [finding] = check_tone(text)
    assert text[finding.start : finding.end] == "We did nothing wrong"


# --- missing apology ---------------------------------------------------------------------------
def test_it_reports_a_missing_apology_only_when_asked():
    text = "The app is down. Engineers are working on it."
    assert check_tone(text) == []
    [finding] = check_tone(text, require_apology=True)
    assert (finding.rule, finding.start, finding.end, finding.excerpt) == ("missing_apology", -1, -1, "")


@pytest.mark.parametrize(
    "language, text",
    [
        ("en", "We apologise. The app is down."),
        ("en", "We know how frustrating this is."),
        ("en", "We understand how worrying this is."),
        ("nl", "Het spijt ons. De app werkt niet."),
        ("da", "Vi beklager. Appen virker ikke."),
        ("de", "Wir entschuldigen uns. Die App ist gestört."),
        ("fr", "Nous nous excusons. L'application est en panne."),
        ("es", "Pedimos disculpas. La aplicación no funciona."),
    ],
)
def test_an_apology_or_empathy_satisfies_require_apology(language, text):
    assert check_tone(text, language=language, require_apology=True) == []


def test_the_missing_apology_message_gives_an_example_in_the_statements_language():
    [finding] = check_tone("Die App ist gestört.", language="de", require_apology=True)
    assert "Es tut uns leid" in finding.message


# --- voice rules -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "rule",
    ['Don\'t say "unfortunately"', "Don't say 'unfortunately'", "Never write “unfortunately”", "Pas de « unfortunately »", "Don’t say ‘unfortunately’"],
)
def test_a_quoted_phrase_in_a_dont_rule_is_matched_literally(rule):
    [finding] = check_tone("Unfortunately, the app is down.", voice_rules=[dont(rule)])
    assert (finding.rule, finding.excerpt) == ("voice_rule", "Unfortunately")
    assert rule in finding.message


def test_a_quoted_phrase_matches_either_apostrophe():
    rules = [dont('Never write "we\'re sorry for"')]
    assert flagged("We’re sorry for the wait.", voice_rules=rules) == [("voice_rule", "We’re sorry for")]


def test_an_emoji_rule_flags_emoji():
    rules = [dont("No emoji in statements")]
    assert flagged("We are sorry 🙏 and working on it 👍🏻.", voice_rules=rules) == [("voice_rule", "🙏"), ("voice_rule", "👍🏻")]


def test_an_exclamation_rule_flags_exclamation_marks():
    rules = [dont("Avoid exclamation marks")]
    assert flagged("We are back!! Thanks.", voice_rules=rules) == [("voice_rule", "!!")]


def test_a_humour_rule_flags_laughter():
    rules = [dont("No jokes or humour")]
    assert flagged("haha we broke it lol 😂", voice_rules=rules) == [("voice_rule", "haha"), ("voice_rule", "lol"), ("voice_rule", "😂")]


def test_a_hashtag_rule_flags_hashtags_but_not_numbers_or_links():
    rules = [dont("Don't use hashtags")]
    assert flagged("We are #1 at listening. #fail See example.com/help#contact", voice_rules=rules) == [("voice_rule", "#fail")]


def test_a_shouting_rule_flags_words_of_four_or_more_capitals():
    rules = [dont("Never write in ALL CAPS")]
    assert flagged("WE ARE SORRY. Ça va ÉTÉ OK", voice_rules=rules) == [("voice_rule", "SORRY")]
    assert flagged("DAS TUT UNS LEID", "de", voice_rules=rules) == [("voice_rule", "LEID")]


def test_do_rules_and_unrecognised_dont_rules_are_not_checked():
    rules = [{"kind": "do", "rule": 'Say "we are sorry"'}, dont("Don't be defensive"), dont("Never blame the customer")]
    assert check_tone("we are sorry, you should have read the manual", language="lv", voice_rules=rules) == []
    assert checkable_voice_rules(rules) == []


def test_checkable_voice_rules_gives_the_indices_the_checker_can_check():
    rules = [
        {"kind": "do", "rule": "Use first names"},
        dont('Don\'t say "unfortunately"'),
        dont("Be humble"),
        dont("No emojis"),
        {"kind": "dont"},  # malformed: skipped, but the indices still match the list
        "not even a dict",
        dont("Don't shout"),
    ]
    assert checkable_voice_rules(rules) == [1, 3, 6]
    assert checkable_voice_rules(None) == []


def test_voice_rules_run_in_any_language():
    rules = [dont("No emoji")]
    assert flagged("Mēs atvainojamies 🙏", "lv", voice_rules=rules) == [("voice_rule", "🙏")]


# --- languages ---------------------------------------------------------------------------------
@pytest.mark.parametrize("language, covered", [("en", True), ("en-GB", True), ("nl_BE", True), ("DE", True), ("lv", False), ("hr", False), ("", False)])
def test_is_covered_uses_the_base_language(language, covered):
    assert is_covered(language) is covered


def test_latvian_and_croatian_are_left_out():
    assert set(LANGUAGES) == {"en", "nl", "da", "de", "fr", "es"}


def test_an_uncovered_language_gets_no_english_phrase_matches():
    text = "We did nothing wrong, it is 100% safe and an isolated incident. We will call you within 10 minutes."
    assert check_tone(text, language="lv", require_apology=True) == []
    assert check_tone(text, language="hr-HR") == []


def test_a_covered_language_does_not_get_english_phrases():
    assert flagged("We did nothing wrong. It is 100% safe.", "de") == []


# --- contract ----------------------------------------------------------------------------------
def test_as_dict_is_json_safe():
    findings = check_tone("We guarantee it 😂", voice_rules=[dont("No emoji")], require_apology=True)
    payload = json.loads(json.dumps([finding.as_dict() for finding in findings]))
    assert payload[0] == {
        "rule": "missing_apology",
        "label": RULES["missing_apology"],
        "message": findings[0].message,
        "start": -1,
        "end": -1,
        "excerpt": "",
    }
    assert {item["rule"] for item in payload} == {"missing_apology", "absolute", "voice_rule"}


def test_findings_are_frozen():
    finding = Finding("absolute", "message", 0, 1, "x")
    with pytest.raises(AttributeError):
        finding.rule = "defensive"


def test_every_rule_has_a_label():
    assert set(RULES) == {"defensive", "blaming", "justifying", "dismissive", "absolute", "over_promise", "missing_apology", "voice_rule"}


def test_phrase_tables_are_lower_case_and_capture_nothing():
    # The text is lower-cased before matching, and the combined pattern tells rules apart by
    # named groups, so a capital letter or a capturing group in a table would break silently.
    for language, table in tone._PHRASES.items():
        for key, phrases in table.items():
            for phrase in phrases:
                assert phrase == phrase.lower(), (language, key, phrase)
                assert re.compile(tone._alternatives((phrase,))).groups == 0, (language, key, phrase)


# --- hostile input -----------------------------------------------------------------------------
def hostile_inputs() -> dict[str, str]:
    generator = random.Random(7)
    words = ["we", "will", "call", "you", "within", "10", "minutes", "isolated", "incident", "today", "haha", "#fail", "WRONG", "!!!"]
    return {
        "one long word": "a" * 100_000,
        "whitespace": " \n\t" * 33_000,
        "emoji": "😂👍🏻🇳🇱\u200d" * 20_000,
        "punctuation": ".!?…'’\"“”«»" * 9_000,
        "random characters": "".join(generator.choice("ab .!?\n'’\"#😂AÉİ0:") for _ in range(100_000)),
        "trigger words": " ".join(generator.choice(words) for _ in range(20_000)),
        "one endless promise": "we will today " * 8_000,
        "digits": "1:00 " * 20_000,
    }


@pytest.mark.parametrize("name", sorted(hostile_inputs()))
@pytest.mark.parametrize("language", ["en", "fr", "lv"])
def test_it_returns_on_large_hostile_input(name, language):
    rules = [dont("No emoji, exclamation marks, jokes, hashtags or ALL CAPS"), dont('Never say "we will" or \'today\'')]
    findings = check_tone(hostile_inputs()[name], language=language, voice_rules=rules, require_apology=True)
    assert isinstance(findings, list)
    assert all(len(finding.excerpt) <= tone.EXCERPT_LIMIT for finding in findings)
    assert len(findings) <= MAX_FINDINGS_PER_RULE * (len(RULES) + len(rules))


def test_hostile_voice_rules_do_not_hang():
    rules = [dont('"' * 499), dont("'a" * 250), dont("«" + "x" * 490), dont("“" * 400)]
    assert checkable_voice_rules(rules) == []


def test_it_accepts_empty_text():
    assert check_tone("") == []
    [finding] = check_tone("", require_apology=True)
    assert finding.rule == "missing_apology"
