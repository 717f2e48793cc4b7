"""Watch queries: the one syntax comms teams write, for every source.

    recall  "battery fire"  #acmefail  @acme  recall*  -refund
    (recall OR "battery fire") AND NOT @acme_support

Keywords, quoted phrases, hashtags and handles, combined with upper-case ``AND``, ``OR``,
``NOT`` (or ``-term``) and parentheses; adjacent terms are ANDed; NOT binds tighter than
AND, which binds tighter than OR. A trailing ``*`` makes a keyword a prefix.

``parse`` turns the text into an immutable ``Query``. The same query then

* decides locally whether a mention matches (``Query.matches``; ``WatchMatcher`` for many
  watches at once on the ingestion path), and
* is translated for each network's search API (``to_x``, ``to_reddit``, ``to_bluesky``,
  ``to_mastodon``).

A translation may find *more* than the query means (the pipeline re-checks every result
with the local matcher) but never deliberately less. The one exception is the prefix
wildcard on X, Bluesky and Mastodon, whose search APIs have no wildcard: they are sent the
stem, so ``recall*`` finds "recall" there but not "recalled".

Matching ignores case and accents (case folding plus NFKD with combining marks removed)
and works on whole words: ``fire`` does not match "firewall", ``fire*`` does. Text in
scripts written without spaces (Chinese, Japanese, Thai, ...) is split into single
characters, so a keyword in those scripts matches as a character sequence.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

MAX_QUERY_LENGTH = 512
MAX_TERMS = 50
MAX_NESTING_DEPTH = 10
X_MAX_QUERY_LENGTH = 512
# Bluesky and Mastodon have no OR: each alternative becomes its own search request, and
# every request costs rate limit, so a query may not fan out beyond this.
MAX_SEARCHES_PER_POLL = 10

OPERATORS = frozenset({"AND", "OR", "NOT"})
# Word processors and phones turn " into typographic quotes; accept those as quotes too.
QUOTES = '"“”„'


class QueryError(ValueError):
    """A query that cannot be used, with a message for the person who wrote it.

    ``position`` is the 0-based offset of the offending character in the query text (None
    when the problem is the query as a whole); the message counts characters from 1, as
    people do.
    """

    def __init__(self, message: str, position: int | None = None):
        super().__init__(message)
        self.message = message
        self.position = position


def _at(position: int) -> str:
    return f"at character {position + 1}"


# --- Normalising and splitting text ---------------------------------------------------
# Query terms and mention text go through exactly the same functions, so whatever the
# normalisation does to a word, it does to both sides.

# Scripts written without spaces between words: each character is its own word, so a
# keyword in these scripts matches as a sequence of characters (like a phrase).
_UNSPACED_SCRIPTS = (
    "\u0e00-\u0eff"  # Thai, Lao
    "\u1000-\u109f"  # Myanmar
    "\u1780-\u17ff"  # Khmer
    "\u3040-\u30ff"  # Hiragana, Katakana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # Han
    "\U00020000-\U0002ffff"  # Han extensions
)
_HANDLE_BODY = r"\w+(?:[.\-]\w+)*(?:@\w+(?:[.\-]\w+)*)?"  # acme, acme.bsky.social, acme@mastodon.social
_WORD_PATTERN = re.compile(r"\w+")  # a word in ASCII text
# Hashtags and mentions (group 1 a hashtag, group 2 a handle). The look-behinds keep e-mail
# addresses (bob@acme.com) and "a#b" from counting; they sit after the literal # or @ so
# the regex engine can skip straight to those characters.
_TAG_OR_HANDLE = r"#(?<![\w#@]#)({hashtag_body})|@(?<![\w#@]@)(" + _HANDLE_BODY + ")"
_ASCII_TAG_OR_HANDLE_PATTERN = re.compile(_TAG_OR_HANDLE.format(hashtag_body=r"\w+"))
_HANDLE_BODY_PATTERN = re.compile(_HANDLE_BODY)
_X_HANDLE_PATTERN = re.compile(r"[A-Za-z0-9_]{1,15}")
_LANGUAGE_CODE_PATTERN = re.compile(r"[a-z]{2,3}")


@dataclass(frozen=True)
class _UnicodePatterns:
    combining_marks: dict[int, None]  # str.translate table that deletes them
    word: re.Pattern[str]
    hashtag_body: re.Pattern[str]
    tag_or_handle: re.Pattern[str]


def _character_class(characters: Iterable[str]) -> str:
    """A regex character class body for the characters, written as ranges."""
    codepoints = sorted(ord(character) for character in characters)
    ranges: list[str] = []
    start = previous = codepoints[0]
    for codepoint in codepoints[1:] + [-1]:
        if codepoint != previous + 1:
            ranges.append(f"\\U{start:08x}" if start == previous else f"\\U{start:08x}-\\U{previous:08x}")
            start = codepoint
        previous = codepoint
    return "".join(ranges)


@functools.cache
def _unicode_patterns() -> _UnicodePatterns:
    """Built on the first non-ASCII text (a ~40 ms scan of the Unicode tables), not at
    import: most processes that import this module never match anything."""
    combining: list[str] = []
    other_marks: list[str] = []
    # Beyond planes 0 and 1 the only marks are variation selectors, which (like those
    # in plane 0) pick an emoji's style and are no part of a word.
    for character in map(chr, range(0x20000)):
        if unicodedata.combining(character):
            combining.append(character)
        elif unicodedata.category(character).startswith("M") and not "\ufe00" <= character <= "\ufe0f":
            other_marks.append(character)
    # Python's \w stops at vowel signs and other spacing marks (Hindi "हिन्दी" would be
    # three words), so marks that survive accent stripping count as part of a word.
    marks = _character_class(other_marks)
    word = rf"[{_UNSPACED_SCRIPTS}]|(?:[^\W{_UNSPACED_SCRIPTS}]|[{marks}])+"
    hashtag_body = rf"(?:\w|[{marks}])+"
    return _UnicodePatterns(
        combining_marks=dict.fromkeys(map(ord, combining)),
        word=re.compile(word),
        hashtag_body=re.compile(hashtag_body),
        tag_or_handle=re.compile(_TAG_OR_HANDLE.format(hashtag_body=hashtag_body)),
    )


def normalize_text(text: str) -> str:
    """Case-folded, compatibility-decomposed (NFKD) text without combining marks: "Café",
    "CAFE" and "ｃａｆé" all become "cafe"."""
    if text.isascii():
        return text.lower()  # the same as casefold() for ASCII, and the common case
    # NFKD on both sides of casefold: folding can produce characters that decompose further.
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).casefold())
    if folded.isascii():
        return folded
    return folded.translate(_unicode_patterns().combining_marks)


def split_words(normalized: str) -> tuple[str, ...]:
    """The words of already normalised text, as the matcher sees them."""
    if normalized.isascii():
        return tuple(_WORD_PATTERN.findall(normalized))
    return tuple(_unicode_patterns().word.findall(normalized))


def _is_hashtag_body(text: str) -> bool:
    pattern = _WORD_PATTERN if text.isascii() else _unicode_patterns().hashtag_body
    return pattern.fullmatch(text) is not None


def _add_handle(handle: str, handles: set[str]) -> None:
    handles.add(handle)
    if "@" in handle:
        # A Mastodon account "acme@mastodon.social" is also mentioned as plain "@acme".
        handles.add(handle.partition("@")[0])


class MentionTokens:
    """One mention, normalised and split once, ready for any number of queries."""

    __slots__ = ("words", "word_set", "hashtags", "handles")

    def __init__(self, words: tuple[str, ...], hashtags: set[str], handles: set[str]):
        self.words = words  # in order, for phrases
        self.word_set = frozenset(words)
        self.hashtags = hashtags  # without "#"
        self.handles = handles  # mentioned handles and the author's, without "@"

    def has_word_starting_with(self, prefix: str) -> bool:
        for word in self.word_set:
            if word.startswith(prefix):
                return True
        return False

    def contains_sequence(self, sequence: tuple[str, ...]) -> bool:
        if len(sequence) == 1:
            return sequence[0] in self.word_set
        if not self.word_set.issuperset(sequence):
            return False
        first, length, words = sequence[0], len(sequence), self.words
        start = 0
        while True:
            try:
                index = words.index(first, start)
            except ValueError:
                return False
            if words[index : index + length] == sequence:
                return True
            start = index + 1


def tokenize_mention(text: str, *, author_handle: str = "") -> MentionTokens:
    # Two findall passes measured twice as fast as one regex with a group per kind: the
    # words need no Python loop, and most mentions have only a few tags and mentions.
    # Hashtag and handle bodies are words too, so "acmefail" finds "#acmefail" and "acme"
    # finds "@acme".
    normalized = normalize_text(text)
    if normalized.isascii():
        words = tuple(_WORD_PATTERN.findall(normalized))
        tag_or_handle = _ASCII_TAG_OR_HANDLE_PATTERN
    else:
        patterns = _unicode_patterns()
        words = tuple(patterns.word.findall(normalized))
        tag_or_handle = patterns.tag_or_handle
    hashtags: set[str] = set()
    handles: set[str] = set()
    if "#" in normalized or "@" in normalized:
        for hashtag, handle in tag_or_handle.findall(normalized):
            if hashtag:
                hashtags.add(hashtag)
            else:
                _add_handle(handle, handles)
    if author_handle:
        author = normalize_text(author_handle.strip()).lstrip("@")
        if author:
            _add_handle(author, handles)
    return MentionTokens(words, hashtags, handles)


# --- The syntax tree -------------------------------------------------------------------
# Every node records where it starts in the query text (for error messages); positions do
# not take part in equality, so "a  b" and "a b" parse to equal trees.


@dataclass(frozen=True)
class Keyword:
    written: str  # as typed, with any "*": "Recall*", "e-coli"
    words: tuple[str, ...]  # normalised; "e-coli" is two words and matches like a phrase
    is_prefix: bool = False
    position: int = field(default=0, compare=False)

    @property
    def stem(self) -> str:
        """The keyword as typed, without its wildcard."""
        return self.written[:-1] if self.is_prefix else self.written

    def evaluate(self, tokens: MentionTokens) -> bool:
        if self.is_prefix:
            return tokens.has_word_starting_with(self.words[0])
        return tokens.contains_sequence(self.words)


@dataclass(frozen=True)
class Phrase:
    written: str  # as typed, with its quotes
    words: tuple[str, ...]
    position: int = field(default=0, compare=False)

    @property
    def quoted(self) -> str:
        """The phrase in quotes with its spacing tidied, for search APIs."""
        return '"' + " ".join(self.written[1:-1].split()) + '"'

    def evaluate(self, tokens: MentionTokens) -> bool:
        return tokens.contains_sequence(self.words)


@dataclass(frozen=True)
class Hashtag:
    written: str  # as typed: "#AcmeFail"
    name: str  # normalised, without "#": "acmefail"
    position: int = field(default=0, compare=False)

    def evaluate(self, tokens: MentionTokens) -> bool:
        return self.name in tokens.hashtags


@dataclass(frozen=True)
class Handle:
    written: str  # as typed: "@Acme"
    name: str  # normalised, without "@": "acme"
    position: int = field(default=0, compare=False)

    def evaluate(self, tokens: MentionTokens) -> bool:
        # Mentioned in the text, or the author: both are in tokens.handles.
        return self.name in tokens.handles


@dataclass(frozen=True)
class Not:
    operand: Node
    position: int = field(default=0, compare=False)

    def evaluate(self, tokens: MentionTokens) -> bool:
        return not self.operand.evaluate(tokens)


@dataclass(frozen=True)
class And:
    operands: tuple[Node, ...]
    position: int = field(default=0, compare=False)

    def evaluate(self, tokens: MentionTokens) -> bool:
        for operand in self.operands:
            if not operand.evaluate(tokens):
                return False
        return True


@dataclass(frozen=True)
class Or:
    operands: tuple[Node, ...]
    position: int = field(default=0, compare=False)

    def evaluate(self, tokens: MentionTokens) -> bool:
        for operand in self.operands:
            if operand.evaluate(tokens):
                return True
        return False


Term = Keyword | Phrase | Hashtag | Handle
Node = Keyword | Phrase | Hashtag | Handle | Not | And | Or


def _all_of(operands: list[Node]) -> Node:
    """AND of the operands, with nested ANDs flattened ("a (b c)" is "a b c")."""
    flat: list[Node] = []
    for operand in operands:
        flat.extend(operand.operands if isinstance(operand, And) else [operand])
    return flat[0] if len(flat) == 1 else And(tuple(flat), position=flat[0].position)


def _any_of(operands: list[Node]) -> Node:
    flat: list[Node] = []
    for operand in operands:
        flat.extend(operand.operands if isinstance(operand, Or) else [operand])
    return flat[0] if len(flat) == 1 else Or(tuple(flat), position=flat[0].position)


def _requires_positive(node: Node, negated: bool = False) -> bool:
    """True if every text the node matches must contain one of its terms: the node looks
    for something, rather than only excluding things."""
    match node:
        case Not(operand=operand):
            return _requires_positive(operand, not negated)
        case And(operands=operands):
            # NOT (a AND b) is NOT a OR NOT b (De Morgan).
            if negated:
                return all(_requires_positive(operand, True) for operand in operands)
            return any(_requires_positive(operand) for operand in operands)
        case Or(operands=operands):
            if negated:
                return any(_requires_positive(operand, True) for operand in operands)
            return all(_requires_positive(operand) for operand in operands)
        case _:
            return not negated


def _positive_terms(node: Node, negated: bool = False) -> Iterator[Term]:
    """Terms the query looks for (under an even number of NOTs), in written order."""
    match node:
        case Not(operand=operand):
            yield from _positive_terms(operand, not negated)
        case And(operands=operands) | Or(operands=operands):
            for operand in operands:
                yield from _positive_terms(operand, negated)
        case _:
            if not negated:
                yield node


# --- Parsing ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # "term", "and", "or", "not", "open", "close", "end"
    position: int
    spelling: str  # as typed: "AND", "NOT", "-", "(", ...
    term: Term | None = None


def _minus_without_term(position: int) -> QueryError:
    return QueryError(
        f"A minus sign must be followed directly by the term to leave out, as in -refund ({_at(position)})", position
    )


def _keyword(written: str, position: int) -> Keyword:
    star = written.find("*")
    is_prefix = star != -1
    if is_prefix and star != len(written) - 1:
        raise QueryError(f"A * wildcard can only end a word, as in recall* ({_at(position + star)})", position + star)
    stem = written[:-1] if is_prefix else written
    words = split_words(normalize_text(stem))
    if not words:
        raise QueryError(f"“{written}” {_at(position)} has no letters or digits to search for", position)
    if is_prefix and (len(words) != 1 or not _WORD_PATTERN.fullmatch(stem)):
        raise QueryError(
            f"A * wildcard must follow a single plain word, as in recall* ({_at(position + star)})", position + star
        )
    return Keyword(written, words, is_prefix, position=position)


def _hashtag(written: str, position: int) -> Hashtag:
    body = written[1:]
    name = normalize_text(body)
    if not body or not _is_hashtag_body(body) or not _is_hashtag_body(name):
        raise QueryError(
            f"A hashtag is # followed by letters, digits or _, as in #acmefail ({_at(position)})", position
        )
    return Hashtag(written, name, position=position)


def _handle(written: str, position: int) -> Handle:
    body = written[1:]
    name = normalize_text(body)
    if not _HANDLE_BODY_PATTERN.fullmatch(body) or not _HANDLE_BODY_PATTERN.fullmatch(name):
        raise QueryError(f"A handle is @ followed by the account name, as in @acme ({_at(position)})", position)
    return Handle(written, name, position=position)


def _phrase(written: str, position: int) -> Phrase:
    words = split_words(normalize_text(written[1:-1]))
    if not words:
        raise QueryError(f"The quotes {_at(position)} contain no words to search for", position)
    return Phrase(written, words, position=position)


def _lex(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    term_count = 0
    position, length = 0, len(source)
    while position < length:
        character = source[position]
        if character.isspace():
            position += 1
            continue
        if character in "()":
            tokens.append(_Token("open" if character == "(" else "close", position, character))
            position += 1
            continue
        if character == "-":
            following = source[position + 1 : position + 2]
            if not following or following.isspace() or following in ")-":
                raise _minus_without_term(position)
            tokens.append(_Token("not", position, "-"))
            position += 1
            continue
        if character in QUOTES:
            end = next((index for index in range(position + 1, length) if source[index] in QUOTES), -1)
            if end == -1:
                raise QueryError(f"Unclosed quote {_at(position)}", position)
            term: Term = _phrase(source[position : end + 1], position)
            next_position = end + 1
        else:
            end = position
            while end < length and not source[end].isspace() and source[end] not in "()" + QUOTES:
                end += 1
            written = source[position:end]
            next_position = end
            if written in OPERATORS:
                tokens.append(_Token(written.lower(), position, written))
                position = next_position
                continue
            if written.startswith("#"):
                term = _hashtag(written, position)
            elif written.startswith("@"):
                term = _handle(written, position)
            else:
                term = _keyword(written, position)
        term_count += 1
        if term_count > MAX_TERMS:
            raise QueryError(
                f"A query can have at most {MAX_TERMS} terms; term {term_count} is {_at(position)}", position
            )
        tokens.append(_Token("term", position, source[position:next_position], term))
        position = next_position
    tokens.append(_Token("end", length, ""))
    return tokens


class _Parser:
    """Recursive descent over the grammar

        query   := any_of END
        any_of  := all_of ("OR" all_of)*
        all_of  := negated (["AND"] negated)*      adjacent terms are ANDed
        negated := ("NOT" | "-") negated | primary
        primary := TERM | "(" any_of ")"

    Each rule takes ``after``: the operator token that needs the term being parsed, so a
    missing term is blamed on the operator the person typed.
    """

    def __init__(self, tokens: list[_Token]):
        self.tokens = tokens
        self.index = 0
        self.open_parentheses: list[int] = []  # positions of the "(" we are inside

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def parse(self) -> Node:
        if self.peek().kind == "end":
            raise QueryError("The query is empty: add at least one word, #hashtag or @handle to look for", None)
        node = self.any_of(after=None)
        token = self.peek()
        if token.kind == "close":
            raise QueryError(f"The closing parenthesis {_at(token.position)} has no opening one", token.position)
        return node

    def any_of(self, after: _Token | None) -> Node:
        operands = [self.all_of(after)]
        while self.peek().kind == "or":
            operator = self.advance()
            operands.append(self.all_of(after=operator))
        return _any_of(operands)

    def all_of(self, after: _Token | None) -> Node:
        operands = [self.negated(after)]
        while True:
            token = self.peek()
            if token.kind == "and":
                self.advance()
                operands.append(self.negated(after=token))
            elif token.kind in ("term", "not", "open"):
                operands.append(self.negated(after=None))
            else:
                return _all_of(operands)

    def negated(self, after: _Token | None) -> Node:
        token = self.peek()
        if token.kind == "not":
            self.advance()
            return Not(self.negated(after=token), position=token.position)
        return self.primary(after)

    def primary(self, after: _Token | None) -> Node:
        token = self.peek()
        if token.kind == "term":
            self.advance()
            assert token.term is not None
            return token.term
        if token.kind == "open":
            if len(self.open_parentheses) == MAX_NESTING_DEPTH:
                raise QueryError(
                    f"Parentheses can be nested at most {MAX_NESTING_DEPTH} deep; this one is {_at(token.position)}",
                    token.position,
                )
            self.advance()
            if self.peek().kind == "close":
                raise QueryError(f"The parentheses {_at(token.position)} are empty", token.position)
            self.open_parentheses.append(token.position)
            node = self.any_of(after=None)
            if self.peek().kind != "close":
                raise QueryError(f"Unclosed parenthesis {_at(token.position)}", token.position)
            self.advance()
            self.open_parentheses.pop()
            return node
        raise self.missing_term(token, after)

    def missing_term(self, token: _Token, after: _Token | None) -> QueryError:
        culprit = after if after is not None else token
        if culprit.kind in ("and", "or"):
            return QueryError(f"{culprit.spelling} needs a term on both sides ({_at(culprit.position)})", culprit.position)
        if culprit.spelling == "-":
            return _minus_without_term(culprit.position)
        if culprit.kind == "not":
            return QueryError(f"NOT needs a term after it ({_at(culprit.position)})", culprit.position)
        if culprit.kind == "close":
            return QueryError(f"The closing parenthesis {_at(culprit.position)} has no opening one", culprit.position)
        # The text ended right after "(": only a "(" can leave a term wanting here.
        opening = self.open_parentheses[-1]
        return QueryError(f"Unclosed parenthesis {_at(opening)}", opening)


def parse(text: str) -> Query:
    """Parse a watch query; raises ``QueryError`` saying what is wrong and where."""
    if len(text) > MAX_QUERY_LENGTH:
        raise QueryError(
            f"The query is {len(text)} characters long; the limit is {MAX_QUERY_LENGTH}", MAX_QUERY_LENGTH
        )
    root = _Parser(_lex(text)).parse()
    if not _requires_positive(root):
        # Pure exclusions would match nearly every post on the network.
        if isinstance(root, Or):
            branch = next(operand for operand in root.operands if not _requires_positive(operand))
            raise QueryError(
                f"Each side of OR needs a term to look for, not only terms to leave out ({_at(branch.position)})",
                branch.position,
            )
        raise QueryError(
            "The query needs at least one term to look for; NOT and - only leave terms out", root.position
        )
    return Query(text, root)


# --- Translations for the networks' search APIs ------------------------------------------


def _negation_normal_form(node: Node, negated: bool = False) -> Node:
    """The same query with NOT pushed down onto single terms (De Morgan): X cannot negate a
    group, and Lucene gives a negated group surprising meanings."""
    match node:
        case Not(operand=operand):
            return _negation_normal_form(operand, not negated)
        case And(operands=operands):
            parts = [_negation_normal_form(operand, negated) for operand in operands]
            return _any_of(parts) if negated else _all_of(parts)
        case Or(operands=operands):
            parts = [_negation_normal_form(operand, negated) for operand in operands]
            return _all_of(parts) if negated else _any_of(parts)
        case _:
            return Not(node, position=node.position) if negated else node


def _without_exclusion_only_groups(node: Node) -> Node:
    """Drop AND-ed groups that only exclude, such as ``(a OR NOT b)`` in ``x (a OR NOT b)``.

    Search APIs reject or misread an OR branch made only of exclusions. Dropping an AND-ed
    condition only widens what the network returns, and the local matcher re-checks.
    """
    match node:
        case And(operands=operands):
            kept = [
                _without_exclusion_only_groups(operand)
                for operand in operands
                if isinstance(operand, Not) or _requires_positive(operand)
            ]
            return _all_of(kept)
        case Or(operands=operands):
            return _any_of([_without_exclusion_only_groups(operand) for operand in operands])
        case _:
            return node


def _search_form(root: Node) -> Node:
    return _without_exclusion_only_groups(_negation_normal_form(root))


def _quoted_unless_plain(text: str) -> str:
    return text if _WORD_PATTERN.fullmatch(text) else f'"{text}"'


def _to_x(node: Node, context: str) -> str:
    """``context`` is "top", "and" or "or": what the caller joins this node into."""
    match node:
        case Or(operands=operands):
            text = " OR ".join(_to_x(operand, "or") for operand in operands)
            return f"({text})" if context == "and" else text
        case And(operands=operands):
            text = " ".join(_to_x(operand, "and") for operand in operands)
            # X evaluates AND first anyway; the parentheses are for the people reading it.
            return f"({text})" if context == "or" else text
        case Not(operand=Handle() as handle) if _X_HANDLE_PATTERN.fullmatch(handle.written[1:]):
            account = handle.written[1:]
            return f"-@{account} -from:{account}"
        case Not(operand=term):
            return "-" + _to_x(term, "and")
        case Handle(written=written) if _X_HANDLE_PATTERN.fullmatch(written[1:]):
            # "@acme" means mentioned or posted by acme; on X those are two operators.
            text = f"{written} OR from:{written[1:]}"
            return f"({text})" if context == "and" else text
        case Handle(written=written):
            # Not an X account name (acme.bsky.social): the best X can do is the text.
            return f'"{written[1:]}"'
        case Keyword() as keyword:
            return _quoted_unless_plain(keyword.stem)  # X has no wildcard: send the stem
        case Phrase() as phrase:
            return phrase.quoted
        case Hashtag(written=written):
            return written
    raise TypeError(f"Unexpected node {node!r}")


def _lucene_quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\") + '"'


def _to_reddit(node: Node, context: str) -> str:
    match node:
        case Or(operands=operands) | And(operands=operands):
            operator = " OR " if isinstance(node, Or) else " AND "
            text = operator.join(_to_reddit(operand, "group") for operand in operands)
            # Lucene's classic parser has no real precedence between AND and OR: always group.
            return f"({text})" if context != "top" else text
        case Not(operand=term):
            return "NOT " + _to_reddit(term, "group")
        case Keyword(is_prefix=True, stem=stem):
            return stem + "*"
        case Keyword(written=written):
            return written if _WORD_PATTERN.fullmatch(written) else _lucene_quoted(written)
        case Phrase() as phrase:
            return _lucene_quoted(phrase.quoted[1:-1])
        case Hashtag(written=written) | Handle(written=written):
            # Reddit has neither: search for the name as a word.
            name = written[1:]
            return name if _WORD_PATTERN.fullmatch(name) else _lucene_quoted(name)
    raise TypeError(f"Unexpected node {node!r}")


def _term_without_or(term: Term) -> str:
    """A term for Bluesky's and Mastodon's search, which know quotes, #tags and @handles."""
    match term:
        case Keyword() as keyword:
            return _quoted_unless_plain(keyword.stem)
        case Phrase() as phrase:
            return phrase.quoted
        case Hashtag(written=written) | Handle(written=written):
            return written
    raise TypeError(f"Unexpected term {term!r}")


def _too_many_searches(network: str) -> QueryError:
    return QueryError(
        f"{network} search has no OR, so this query would need more than {MAX_SEARCHES_PER_POLL} separate "
        "searches; use fewer OR alternatives",
        None,
    )


def _alternatives(node: Node, network: str) -> list[tuple[Term, ...]]:
    """The positive part of a search-form query as an OR of ANDs of terms (disjunctive
    normal form); exclusions are left to the local re-check."""
    match node:
        case Or(operands=operands):
            alternatives: list[tuple[Term, ...]] = []
            for operand in operands:
                for alternative in _alternatives(operand, network):
                    if alternative not in alternatives:
                        alternatives.append(alternative)
            if len(alternatives) > MAX_SEARCHES_PER_POLL:
                raise _too_many_searches(network)
            return alternatives
        case And(operands=operands):
            combined: list[tuple[Term, ...]] = [()]
            for operand in operands:
                options = _alternatives(operand, network)
                products = []
                for prefix in combined:
                    for option in options:
                        product = prefix + tuple(term for term in option if term not in prefix)
                        if product not in products:
                            products.append(product)
                if len(products) > MAX_SEARCHES_PER_POLL:
                    raise _too_many_searches(network)
                combined = products
            return combined
        case Not():
            return [()]
        case _:
            return [(node,)]


# --- The query ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """A parsed watch query. Build it with ``parse``."""

    source: str
    root: Node

    def matches(self, text: str, *, author_handle: str = "") -> bool:
        """Does this mention match? For many watches per mention use ``WatchMatcher``."""
        return self.root.evaluate(tokenize_mention(text, author_handle=author_handle))

    def terms(self) -> list[str]:
        """The terms the query looks for, as written (excluded terms left out), once each."""
        return list(dict.fromkeys(term.written for term in _positive_terms(self.root)))

    def hashtags(self) -> list[str]:
        """The hashtags the query looks for, normalised, without "#"."""
        return list(dict.fromkeys(term.name for term in _positive_terms(self.root) if isinstance(term, Hashtag)))

    def to_x(self, *, language: str = "") -> str:
        """X API v2 search syntax; raises QueryError beyond X's 512 characters."""
        form = _search_form(self.root)
        if not language:
            text = _to_x(form, "top")
        else:
            code = _language_code(language)
            if not _LANGUAGE_CODE_PATTERN.fullmatch(code):
                raise QueryError(f"“{language}” is not a language code X understands; use two letters, as in en")
            text = f"{_to_x(form, 'and')} lang:{code}"
        if len(text) > X_MAX_QUERY_LENGTH:
            raise QueryError(
                f"On X this query is {len(text)} characters long, over X's limit of {X_MAX_QUERY_LENGTH}; "
                "shorten it or split it into two watches"
            )
        return text

    def to_reddit(self) -> str:
        """Reddit (Lucene) search syntax; hashtags and handles become plain words."""
        return _to_reddit(_search_form(self.root), "top")

    def to_bluesky(self) -> list[str]:
        """One ``searchPosts`` query per alternative (Bluesky has no OR); exclusions are not
        sent. Raises QueryError beyond 10 alternatives."""
        alternatives = _alternatives(_search_form(self.root), "Bluesky")
        searches = (" ".join(dict.fromkeys(map(_term_without_or, alternative))) for alternative in alternatives)
        return list(dict.fromkeys(searches))

    def to_mastodon(self) -> tuple[list[str], list[str]]:
        """(hashtags to read from tag timelines, searches for the other alternatives).

        Every post matching an alternative that contains a hashtag carries that hashtag, so
        its tag timeline covers the alternative; the rest need full-text search.
        """
        hashtags: list[str] = []
        searches: list[str] = []
        for alternative in _alternatives(_search_form(self.root), "Mastodon"):
            tag = next((term for term in alternative if isinstance(term, Hashtag)), None)
            if tag is not None:
                hashtags.append(tag.name)
            else:
                searches.append(" ".join(dict.fromkeys(map(_term_without_or, alternative))))
        return list(dict.fromkeys(hashtags)), list(dict.fromkeys(searches))


# --- Many watches, every mention -----------------------------------------------------------


def _language_code(language: str) -> str:
    """The primary language subtag: "en-GB" and "EN" are both "en"."""
    return language.strip().lower().replace("_", "-").split("-")[0]


class WatchMatcher:
    """Matches each mention against all of an organisation's watches at once.

    The ingestion path calls ``match`` for every mention (more than 10,000 a second), so
    the mention is normalised and split once, and a watch is only evaluated when one of
    the terms it looks for is present: every match needs one (``parse`` rejects queries
    that only exclude), so for most mentions most watches are ruled out by one set
    intersection. The result is exactly ``[id for each watch if query.matches(...)]``.
    """

    def __init__(self, watches: Iterable[tuple[int, Query, str]]):
        # (watch id, root node, language code or "") in the order given
        self._watches: list[tuple[int, Node, str]] = []
        # For each kind of term, what it needs present in a mention -> indexes of the
        # watches looking for it. For a phrase that is its longest word (all its words
        # must be present; longer words are rarer).
        self._watches_by_word: dict[str, set[int]] = {}
        self._watches_by_hashtag: dict[str, set[int]] = {}
        self._watches_by_handle: dict[str, set[int]] = {}
        self._watches_by_prefix: dict[str, set[int]] = {}
        for index, (watch_id, query, language) in enumerate(watches):
            self._watches.append((watch_id, query.root, _language_code(language) if language else ""))
            for term in _positive_terms(query.root):
                match term:
                    case Keyword(is_prefix=True, words=words):
                        self._watches_by_prefix.setdefault(words[0], set()).add(index)
                    case Keyword(words=words) | Phrase(words=words):
                        self._watches_by_word.setdefault(max(words, key=len), set()).add(index)
                    case Hashtag(name=name):
                        self._watches_by_hashtag.setdefault(name, set()).add(index)
                    case Handle(name=name):
                        self._watches_by_handle.setdefault(name, set()).add(index)
        self._words = frozenset(self._watches_by_word)
        # All wildcard prefixes in one regex, run over the mention's words joined by line
        # breaks: one C-level pass instead of a Python loop over every word. Longest first,
        # so a word starting with both "flood" and "floods" reports "floods", which then
        # maps to the watches of every prefix it starts with.
        prefixes = sorted(self._watches_by_prefix, key=len, reverse=True)
        self._prefix_pattern = (
            re.compile("^(?:" + "|".join(map(re.escape, prefixes)) + ")", re.MULTILINE) if prefixes else None
        )
        self._watches_by_matched_prefix = {
            matched: set().union(
                *(indexes for prefix, indexes in self._watches_by_prefix.items() if matched.startswith(prefix))
            )
            for matched in prefixes
        }

    def _candidates(self, tokens: MentionTokens) -> set[int]:
        candidates: set[int] = set()
        for word in self._words.intersection(tokens.word_set):
            candidates.update(self._watches_by_word[word])
        for hashtag in tokens.hashtags:
            candidates.update(self._watches_by_hashtag.get(hashtag, ()))
        for handle in tokens.handles:
            candidates.update(self._watches_by_handle.get(handle, ()))
        if self._prefix_pattern is not None:
            for matched in self._prefix_pattern.findall("\n".join(tokens.word_set)):
                candidates.update(self._watches_by_matched_prefix[matched])
        return candidates

    def match(self, text: str, *, author_handle: str = "", language: str = "") -> list[int]:
        """The ids of the watches this mention matches, in the order they were given. A
        watch with a language only matches mentions known to be in that language."""
        tokens = tokenize_mention(text, author_handle=author_handle)
        candidates = self._candidates(tokens)
        if not candidates:
            return []
        mention_language = _language_code(language) if language else ""
        matched: list[int] = []
        for index in sorted(candidates):
            watch_id, root, watch_language = self._watches[index]
            if watch_language and watch_language != mention_language:
                continue
            if root.evaluate(tokens):
                matched.append(watch_id)
        return matched
