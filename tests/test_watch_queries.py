"""The watch-query language: syntax, matching, errors, and the translations per network.

No database: queries are pure functions of their text. Real tweets are read at test time
from the shared CrisisLexT6 data set (by tweet id), never copied into the repository.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from monitoring.queries import (
    MAX_QUERY_LENGTH,
    And,
    Handle,
    Hashtag,
    Keyword,
    Not,
    Or,
    Phrase,
    QueryError,
    WatchMatcher,
    parse,
)

BOSTON_TWEETS = Path("/work/shared/data/crisislex-t6/2013_Boston_Bombings/2013_Boston_Bombings-ontopic_offtopic.csv")


def matches(query: str, text: str, *, author_handle: str = "") -> bool:
    return parse(query).matches(text, author_handle=author_handle)


def error_for(query: str) -> QueryError:
    with pytest.raises(QueryError) as raised:
        parse(query)
    return raised.value


# --- Terms ----------------------------------------------------------------------------


def test_keyword_matches_whole_words_only():
    assert matches("fire", "Battery fire at the plant")
    assert matches("fire", "fire!")
    assert not matches("fire", "Our firewall is down")
    assert not matches("fire", "campfire songs")


def test_prefix_wildcard_matches_words_starting_with_the_stem():
    assert matches("fire*", "Our firewall is down")
    assert matches("fire*", "fire")
    assert matches("recall*", "Acme recalled 2,000 units")
    assert not matches("fire*", "campfire songs")


def test_quoted_phrase_matches_consecutive_words_only():
    assert matches('"battery fire"', "a battery fire broke out")
    assert matches('"battery fire"', "Battery, fire!")  # punctuation between words does not break a phrase
    assert not matches('"battery fire"', "the fire started in the battery")
    assert not matches('"battery fire"', "battery caught fire")


def test_phrase_finds_a_later_occurrence_when_the_first_does_not_continue():
    assert matches('"battery fire"', "battery pack, then a battery fire")


def test_typographic_quotes_work_like_straight_quotes():
    assert parse("“battery fire” recall").to_x() == '"battery fire" recall'
    assert not matches("“battery fire”", "fire in the battery")
    assert parse("„battery fire“").to_x() == '"battery fire"'
    assert error_for("recall “battery fire").position == 7


def test_keyword_with_punctuation_matches_like_a_phrase():
    assert matches("e-coli", "an e-coli outbreak")
    assert matches("e-coli", "an E. coli outbreak")
    assert not matches("e-coli", "e and coli")
    assert not matches("e-coli", "coli e")


def test_hashtag_matches_the_hashtag_but_not_the_plain_word():
    assert matches("#acmefail", "Never again #AcmeFail")
    assert not matches("#acmefail", "acmefail is trending")
    assert not matches("#acme", "#acmefail")


def test_keyword_also_finds_hashtags_and_mentions():
    assert matches("acmefail", "Never again #AcmeFail")
    assert matches("acme", "thanks @acme")


def test_handle_matches_a_mention_or_the_author():
    assert matches("@acme", "Hey @Acme, my order is late")
    assert matches("@acme", "my order is late", author_handle="acme")
    assert matches("@acme", "my order is late", author_handle="@ACME")
    assert not matches("@acme", "my order is late", author_handle="acme_support")
    assert not matches("@acme", "Hey @acme_support")
    assert not matches("@acme", "acme is late")


def test_handle_ignores_email_addresses_and_trailing_punctuation():
    assert not matches("@acme", "write to support@acme")
    assert matches("@acme", "thanks @acme.")


def test_handles_with_domains_match_bluesky_and_mastodon_accounts():
    assert matches("@acme.bsky.social", "cc @acme.bsky.social please")
    assert matches("@acme.bsky.social", "anything", author_handle="acme.bsky.social")
    assert matches("@acme@mastodon.social", "cc @acme@mastodon.social")
    # A Mastodon account is also mentioned by its local name.
    assert matches("@acme", "cc @acme@mastodon.social")
    assert matches("@acme", "anything", author_handle="acme@mastodon.social")
    assert not matches("@acme@mastodon.social", "cc @acme@example.com")


# --- Operators and precedence -----------------------------------------------------------


def test_adjacent_terms_are_anded():
    assert matches("battery fire", "fire in the battery")
    assert not matches("battery fire", "battery only")


def test_and_or_not_operators():
    assert matches("battery AND fire", "fire in the battery")
    assert not matches("battery AND fire", "battery only")
    assert matches("battery OR fire", "battery only")
    assert not matches("battery OR fire", "smoke only")
    assert matches("fire NOT drill", "fire on floor 3")
    assert not matches("fire NOT drill", "fire drill at noon")


def test_minus_excludes_like_not():
    assert parse("fire -drill").root == parse("fire NOT drill").root
    assert not matches('fire -"fire drill"', "fire drill at noon")
    assert not matches("fire -#drill", "fire at noon #drill")
    assert not matches("fire -@acme", "fire", author_handle="acme")
    assert matches("fire -(drill OR test)", "fire on floor 3")
    assert not matches("fire -(drill OR test)", "fire test")


def test_parentheses_group():
    assert matches("(recall OR refund) acme", "acme refund")
    assert not matches("(recall OR refund) acme", "refund")
    assert not matches("acme (recall OR refund)", "acme")


def test_not_binds_tighter_than_and():
    assert parse("NOT drill fire").root == And((Not(Keyword("drill", ("drill",))), Keyword("fire", ("fire",))))
    assert matches("NOT drill fire", "fire on floor 3")
    assert not matches("NOT drill fire", "fire drill")


def test_and_binds_tighter_than_or():
    expected = Or((Keyword("recall", ("recall",)), And((Keyword("battery", ("battery",)), Keyword("fire", ("fire",))))))
    assert parse("recall OR battery fire").root == expected
    assert parse("recall OR battery AND fire").root == expected
    assert matches("recall OR battery fire", "recall")
    assert not matches("recall OR battery fire", "battery")


def test_not_binds_tighter_than_or():
    assert parse("fire OR NOT drill smoke").root == Or(
        (Keyword("fire", ("fire",)), And((Not(Keyword("drill", ("drill",))), Keyword("smoke", ("smoke",)))))
    )


def test_double_negation_cancels():
    assert matches("NOT NOT acme", "acme")
    assert not matches("NOT NOT acme", "other")


def test_lower_case_operators_are_ordinary_words():
    assert matches("cats or dogs", "cats or dogs")
    assert not matches("cats or dogs", "cats")


def test_parse_builds_each_kind_of_term():
    root = parse('Recall* "Battery  Fire" #AcmeFail @Acme').root
    assert root == And(
        (
            Keyword("Recall*", ("recall",), is_prefix=True),
            Phrase('"Battery  Fire"', ("battery", "fire")),
            Hashtag("#AcmeFail", "acmefail"),
            Handle("@Acme", "acme"),
        )
    )


def test_operator_words_can_be_searched_in_quotes():
    assert matches('"OR"', "this OR that")


# --- Case, accents, scripts ----------------------------------------------------------------


def test_matching_ignores_case_and_accents():
    assert matches("cafe", "Le CAFÉ est fermé")
    assert matches("café", "the cafe is closed")
    assert matches("#Señal", "#senal caída")
    assert matches('"caida total"', "Caída total del servicio")
    assert matches("strasse", "Straße gesperrt")
    assert matches("full", "ｆｕｌｌ width")  # compatibility forms fold too


def test_accented_prefix_wildcard():
    assert matches("évacu*", "Evacuation ordered")


def test_keywords_in_unspaced_scripts_match_inside_the_text():
    assert matches("地震", "東京で地震が発生")  # Japanese: "earthquake" inside a sentence without spaces
    assert not matches("地震", "東京で地下が発生")


def test_keywords_with_vowel_signs_match_whole_words():
    assert matches("हिन्दी", "मैं हिन्दी बोलता हूँ")
    assert not matches("हिन्दी", "मैं हिन्दीभाषी हूँ")


# --- Errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "message", "position"),
    [
        ('recall "battery fire', "Unclosed quote at character 8", 7),
        ("(recall OR fire", "Unclosed parenthesis at character 1", 0),
        ("recall (", "Unclosed parenthesis at character 8", 7),
        ("recall)", "The closing parenthesis at character 7 has no opening one", 6),
        ("recall ()", "The parentheses at character 8 are empty", 7),
        ("recall OR", "OR needs a term on both sides (at character 8)", 7),
        ("OR recall", "OR needs a term on both sides (at character 1)", 0),
        ("recall AND OR fire", "AND needs a term on both sides (at character 8)", 7),
        ("(recall OR) fire", "OR needs a term on both sides (at character 9)", 8),
        ("recall NOT", "NOT needs a term after it (at character 8)", 7),
        ("recall - fire", "A minus sign must be followed directly by the term to leave out", 7),
        ("recall --fire", "A minus sign must be followed directly by the term to leave out", 7),
        ("rec*all", "A * wildcard can only end a word", 3),
        ("e-col*", "A * wildcard must follow a single plain word", 5),
        ("#acme-fail", "A hashtag is # followed by letters, digits or _", 0),
        ("recall #", "A hashtag is # followed by letters, digits or _", 7),
        ("recall @", "A handle is @ followed by the account name", 7),
        ("recall !!!", "has no letters or digits to search for", 7),
        ('recall ""', "The quotes at character 8 contain no words to search for", 7),
    ],
)
def test_syntax_errors_say_what_and_where(query: str, message: str, position: int):
    error = error_for(query)
    assert message in error.message
    assert error.position == position
    assert str(error) == error.message
    assert isinstance(error, ValueError)


@pytest.mark.parametrize("query", ["", "   ", "\n"])
def test_empty_query_is_an_error(query: str):
    error = error_for(query)
    assert error.message.startswith("The query is empty")
    assert error.position is None


@pytest.mark.parametrize("query", ["NOT recall", "-recall", "-recall -refund", "NOT (recall OR refund)", "NOT (NOT (NOT x))"])
def test_query_with_only_excluded_terms_is_an_error(query: str):
    assert "needs at least one term to look for" in error_for(query).message


def test_each_side_of_or_needs_a_term_to_look_for():
    error = error_for("recall OR -refund")
    assert error.message == "Each side of OR needs a term to look for, not only terms to leave out (at character 11)"
    assert error.position == 10


def test_an_exclusion_inside_a_group_is_fine_when_the_query_looks_for_something():
    assert matches("acme (recall OR -refund)", "acme news")
    assert not matches("acme (recall OR -refund)", "acme refund")


def test_query_over_512_characters_is_an_error():
    parse("a" * MAX_QUERY_LENGTH)
    error = error_for("a" * (MAX_QUERY_LENGTH + 1))
    assert error.message == "The query is 513 characters long; the limit is 512"
    assert error.position == 512


def test_more_than_50_terms_is_an_error():
    parse(" ".join(["acme"] * 50))
    error = error_for(" ".join(["acme"] * 51))
    assert error.message == "A query can have at most 50 terms; term 51 is at character 251"
    assert error.position == 250


def test_parentheses_nested_deeper_than_10_is_an_error():
    parse("(" * 10 + "acme" + ")" * 10)
    error = error_for("(" * 11 + "acme" + ")" * 11)
    assert "nested at most 10 deep" in error.message
    assert error.position == 10


# --- Terms for display -----------------------------------------------------------------------


def test_terms_lists_the_terms_looked_for_as_written():
    query = parse('(Recall* OR "battery  fire") #AcmeFail @Acme -refund NOT #drill recall*')
    assert query.terms() == ["Recall*", '"battery  fire"', "#AcmeFail", "@Acme", "recall*"]


def test_hashtags_lists_positive_hashtags_normalised():
    query = parse("#AcmeFail OR (#Señal -#drill) NOT NOT #Recall #acmefail")
    assert query.hashtags() == ["acmefail", "senal", "recall"]


# --- X ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("recall", "recall"),
        ("battery fire", "battery fire"),
        ("recall OR battery fire", "recall OR (battery fire)"),
        ('(recall OR "battery  fire") -refund', '(recall OR "battery fire") -refund'),
        ("#AcmeFail Café", "#AcmeFail Café"),
        # "@acme" means mentioned or posted by acme: two X operators.
        ("@acme outage", "(@acme OR from:acme) outage"),
        ("outage OR @acme", "outage OR @acme OR from:acme"),
        ("outage -@acme_help", "outage -@acme_help -from:acme_help"),
        # Not X accounts: searched as text.
        ("@acme.bsky.social outage", '"acme.bsky.social" outage'),
        # X has no wildcard: the stem is sent, the local matcher does the rest.
        ("recall*", "recall"),
        # X cannot negate a group: NOT is pushed onto the terms.
        ('acme NOT (refund OR "gift card")', 'acme -refund -"gift card"'),
        # An OR of exclusions is invalid on X; dropping it only widens the search.
        ('acme NOT (refund "gift card")', "acme"),
        ("acme (recall OR -refund)", "acme"),
        ("NOT NOT acme", "acme"),
        # Words that look like X operators are quoted, so they stay words.
        ("has:media acme", '"has:media" acme'),
    ],
)
def test_to_x(query: str, expected: str):
    assert parse(query).to_x() == expected


def test_to_x_appends_the_language_and_groups_a_top_level_or():
    assert parse("recall OR refund").to_x(language="EN-gb") == "(recall OR refund) lang:en"
    assert parse("recall refund").to_x(language="fr") == "recall refund lang:fr"
    assert parse("@acme").to_x(language="de") == "(@acme OR from:acme) lang:de"


def test_to_x_rejects_a_language_that_is_not_a_code():
    with pytest.raises(QueryError, match="not a language code"):
        parse("recall").to_x(language="english")


def test_to_x_rejects_queries_over_xs_512_characters():
    # 512 characters in our syntax, but every handle doubles on X.
    handles = " OR ".join(f"@acme{number:04d}" for number in range(39))
    assert len(handles) <= MAX_QUERY_LENGTH
    with pytest.raises(QueryError, match="over X's limit of 512"):
        parse(handles).to_x()


def test_to_x_accepts_exactly_512_characters():
    words = " ".join(["evacuationorder"] * 31) + " evacuationorders"  # 31 * 16 + 16 = 512 characters
    assert len(words) == 512
    assert len(parse(words).to_x()) == 512
    with pytest.raises(QueryError):
        parse(words).to_x(language="en")


# --- Reddit -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("recall", "recall"),
        ("battery fire", "battery AND fire"),
        ('(recall OR "battery  fire") @acme -refund', '(recall OR "battery fire") AND acme AND NOT refund'),
        ("#acmefail OR (recall (fire OR smoke))", "acmefail OR (recall AND (fire OR smoke))"),
        ("recall* -#drill", "recall* AND NOT drill"),
        ('acme NOT (refund OR "gift card")', 'acme AND NOT refund AND NOT "gift card"'),
        ("has:media @acme.bsky.social", '"has:media" AND "acme.bsky.social"'),
    ],
)
def test_to_reddit(query: str, expected: str):
    assert parse(query).to_reddit() == expected


# --- Bluesky ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("recall", ["recall"]),
        ('(recall OR "battery  fire") @acme -refund', ["recall @acme", '"battery fire" @acme']),
        ("#AcmeFail OR (recall (fire OR smoke))", ["#AcmeFail", "recall fire", "recall smoke"]),
        ("recall* -(refund OR drill)", ["recall"]),
        ("recall OR recall", ["recall"]),
        ("recall (recall OR fire)", ["recall", "recall fire"]),
    ],
)
def test_to_bluesky_sends_one_search_per_alternative(query: str, expected: list[str]):
    assert parse(query).to_bluesky() == expected


def test_to_bluesky_allows_ten_searches_and_rejects_more():
    assert len(parse("(a OR b) (c OR d OR e OR f OR g)").to_bluesky()) == 10
    with pytest.raises(QueryError, match="more than 10 separate searches"):
        parse("(a OR b) (c OR d) (e OR f) (g OR h)").to_bluesky()


# --- Mastodon -----------------------------------------------------------------------------


def test_to_mastodon_reads_tag_timelines_for_alternatives_with_a_hashtag():
    query = parse("#AcmeFail OR (#Recall @acme) OR (recall (fire OR smoke)) -drill")
    assert query.to_mastodon() == (["acmefail", "recall"], ["recall fire", "recall smoke"])


def test_to_mastodon_without_hashtags_only_searches():
    assert parse('"battery fire" OR @acme').to_mastodon() == ([], ['"battery fire"', "@acme"])


# --- WatchMatcher -------------------------------------------------------------------------


def test_watch_matcher_returns_the_matching_watch_ids_in_order():
    matcher = WatchMatcher(
        [
            (30, parse("recall*"), ""),
            (10, parse('"battery fire" OR #acmefail'), ""),
            (20, parse("@acme -refund"), ""),
            (40, parse("smoke"), ""),
        ]
    )
    assert matcher.match("Battery fire, recall now! #AcmeFail", author_handle="acme") == [30, 10, 20]
    assert matcher.match("refund please @acme") == []
    assert matcher.match("nothing to see") == []


def test_watch_matcher_applies_language_filters():
    matcher = WatchMatcher([(1, parse("incendie OR fire"), "fr"), (2, parse("fire"), ""), (3, parse("fire"), "en")])
    assert matcher.match("fire!", language="fr") == [1, 2]
    assert matcher.match("fire!", language="en-GB") == [2, 3]
    assert matcher.match("fire!", language="EN") == [2, 3]
    # A mention of unknown language only matches watches without a language filter.
    assert matcher.match("fire!") == [2]


def test_watch_matcher_handles_nested_wildcard_prefixes():
    matcher = WatchMatcher([(1, parse("flood*"), ""), (2, parse("floods*"), ""), (3, parse("flo*"), "")])
    assert matcher.match("Flooding downtown") == [1, 3]
    assert matcher.match("floodsafe app") == [1, 2, 3]
    assert matcher.match("flat") == []


def test_watch_matcher_matches_author_handles():
    matcher = WatchMatcher([(1, parse("@acme"), ""), (2, parse("@acme outage"), "")])
    assert matcher.match("we are looking into it", author_handle="Acme") == [1]
    assert matcher.match("outage update", author_handle="acme") == [1, 2]


def test_watch_matcher_with_no_watches_matches_nothing():
    assert WatchMatcher([]).match("anything") == []


# --- Real tweets ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def boston_tweets() -> dict[str, str]:
    """Tweet text by id, read from the shared data set (ids are quoted in the file)."""
    with BOSTON_TWEETS.open(newline="", encoding="utf-8") as handle:
        return {row["tweet id"].strip("'"): row[" tweet"] for row in csv.DictReader(handle)}


@pytest.mark.parametrize(
    ("query", "tweet_id", "expected"),
    [
        # "... close to the explosion! #PrayForBoston"
        ("#prayforboston explosion*", "323942305004408832", True),
        # "@ABC: Boston Marathon Explosions: 3 Dead, ... #PrayForBoston"
        ("#prayforboston explosion*", "323997173748469761", True),
        ("#prayforboston explosion", "323997173748469761", False),
        ('"marathon explosions" -"boston marathon"', "323997173748469761", False),
        # "RT @HopeForBoston: ... died in Boston's explosions ..."
        ("@hopeforboston", "324083228212350976", True),
        ("@hopeforboston", "323942305004408832", False),
        # "I JUST WANT THEM TO TAKE #WATERTOWN #BostonMarathon SUSPECT INTO CUSTODY ..."
        ("suspect* (custody OR arrested)", "325391113894653952", True),
        ("#watertown (suspect OR shooter) -#drill", "325391113894653952", True),
        # "Boston Police meeting in the street ..."
        ('"boston police"', "325209126730870784", True),
        ('"police boston"', "325209126730870784", False),
        # "Reports that multiple bombs are being detonated by police around Boston ..."
        ("bomb", "323902550376079360", False),
        ("bomb*", "323902550376079360", True),
        # "... Boston Marathon blast scene ... vía @NBCNewsUS Fotos de la mochila"
        ("via @nbcnewsus", "324497485051621377", True),
        # "RT @pierrehaski: Pas la piste intérieure mais tchétchène RT @AP: ..."
        ("interieure OR (tchetchene @ap)", "325201112938463232", True),
        # "Álbum de fotos: ..."
        ("album", "325227575318282240", True),
    ],
)
def test_realistic_queries_against_real_tweets(boston_tweets: dict[str, str], query: str, tweet_id: str, expected: bool):
    assert parse(query).matches(boston_tweets[tweet_id]) is expected


def test_watch_matcher_agrees_with_each_query_on_every_boston_tweet(boston_tweets: dict[str, str]):
    queries = [
        parse(text)
        for text in [
            'boston (bomb* OR explosion*) -"prayers"',
            "#prayforboston OR #bostonmarathon",
            '@bostonpolice OR "boston police"',
            "suspect* (custody OR arrested OR caught)",
            "(mit OR watertown) (shooting OR officer*) NOT #drill",
            '"red cross" OR donat*',
            "fbi photo*",
            "rt NOT (boston OR marathon)",
        ]
    ]
    matcher = WatchMatcher((watch_id, query, "") for watch_id, query in enumerate(queries))
    matched_any = 0
    for text in boston_tweets.values():
        expected = [watch_id for watch_id, query in enumerate(queries) if query.matches(text)]
        assert matcher.match(text) == expected, text
        matched_any += bool(expected)
    assert 1000 < matched_any < len(boston_tweets)  # the watches are neither vacuous nor everything
