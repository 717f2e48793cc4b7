"""py3langid's ``classify``, for a whole batch of texts at once.

``LanguageIdentifier.classify`` spends most of its 40–80 µs per text walking a byte DFA in
pure Python and in small numpy calls. ``BatchLanguageIdentifier.classify_many`` walks the DFA
for all texts of a batch in lockstep (one numpy gather per byte position over the texts still
running), counts the (text, feature) pairs with one radix sort, and scores them with the very
same float32 vector-matrix products py3langid makes, so every score is bit-identical to the
one ``classify`` computes and every label is the same, near-ties included.

Written against py3langid 0.4.0 (``langid.py``: ``_encode``, ``visit_counts``,
``_sparse_score``, ``_raw_score``, ``_decide``, ``classify``); ``tests/test_language_batch.py``
pins the agreement.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from py3langid.langid import RAW_FLOOR, LanguageIdentifier

# Texts are classified in chunks of at most this many UTF-8 bytes (a longer text is a chunk
# of its own), which bounds the temporaries (~50 bytes per byte of text) and lets a chunk's
# distinct features be numbered in 16 bits, the width numpy radix-sorts.
CHUNK_BYTES = 1 << 16
# With fewer texts still running than this, one numpy step costs more than walking the rest
# of those texts byte by byte in Python, as py3langid does.
LOCKSTEP_MIN_TEXTS = 16
# Feature rows gathered for one matmul call at most (× 57 languages × 4 bytes = 3.7 MB).
SCORE_ROWS = 1 << 14


class BatchLanguageIdentifier:
    """Classifies many texts with the model and language set of one py3langid identifier.

    The model is read at construction: a later ``set_languages`` on *identifier* is not seen.
    Only raw scores are supported (``norm_probs=False``, no ``min_confidence``), the mode in
    which the label is a plain argmax.
    """

    def __init__(self, identifier: LanguageIdentifier) -> None:
        if getattr(identifier, "_norm_probs", False) or identifier.min_confidence is not None:
            raise ValueError("BatchLanguageIdentifier supports raw scores only (norm_probs=False)")
        self._encode = identifier._encode  # the library's own str → bytes rules, reused verbatim
        self._classes = list(identifier.nb_classes)
        # float16 → float32 is exact and is the cast matmul makes for every text anyway; doing
        # it once here is cheaper than per batch (numpy's float16 cast is slow). C order: after
        # set_languages the table is column-major, which scatters every feature row in memory.
        self._table = np.ascontiguousarray(identifier.nb_ptc, dtype=np.float32)
        self._prior = np.asarray(identifier.nb_pc, dtype=np.float32)
        self._nextmove = identifier.tk_nextmove  # array.array, for the Python walk
        self._nextmove_np = np.frombuffer(identifier.tk_nextmove, dtype=f"u{identifier.tk_nextmove.itemsize}")
        self._rowbase = [row << 8 for row in identifier.tk_row]
        self._rowbase_np = np.asarray(self._rowbase, dtype=np.intp)
        self._output = np.asarray(identifier.tk_output, dtype=np.int32)
        first: dict[str, int] = {}
        self._alias_pairs: list[tuple[int, int]] = []  # as LanguageIdentifier._set_alias_pairs
        for column, label in enumerate(self._classes):
            if label in first:
                self._alias_pairs.append((first[label], column))
            else:
                first[label] = column

    def classify_many(self, texts: Sequence[str | bytes]) -> list[str]:
        """The label ``identifier.classify(text)[0]`` gives, for every text, in order."""
        encoded = [self._encode(text) for text in texts]
        labels: list[str] = []
        start = 0
        while start < len(encoded):
            end, size = start + 1, len(encoded[start])
            while end < len(encoded) and size + len(encoded[end]) <= CHUNK_BYTES:
                size += len(encoded[end])
                end += 1
            scores = self._scores(encoded[start:end])
            labels.extend(self._classes[column] for column in scores.argmax(axis=1).tolist())
            start = end
        return labels

    def _scores(self, chunk: list[bytes]) -> np.ndarray:
        """One float32 row of scores per text, bit for bit those of ``LanguageIdentifier._decide``."""
        lengths = np.fromiter(map(len, chunk), dtype=np.intp, count=len(chunk))
        longest_first = np.argsort(-lengths, kind="stable")  # so the running texts are a prefix
        ordered = [chunk[i] for i in longest_first.tolist()]
        lengths = lengths[longest_first]
        text_of = np.repeat(np.arange(len(chunk)), lengths)  # of every byte, in text-major order
        states = self._walk(ordered, lengths, text_of)
        scores = np.empty((len(chunk), len(self._classes)), dtype=np.float32)
        scores[longest_first] = self._score(len(chunk), *self._feature_counts(states, text_of))
        for first, dupe in self._alias_pairs:  # an aliased label (srl→sr) keeps its best column
            np.maximum(scores[:, first], scores[:, dupe], out=scores[:, first])
            scores[:, dupe] = RAW_FLOOR
        return scores

    def _walk(self, ordered: list[bytes], lengths: np.ndarray, text_of: np.ndarray) -> np.ndarray:
        """The DFA state after every byte of every text (longest first), in text-major order."""
        total = len(text_of)
        longest = int(lengths[0]) if total else 0
        # Step p updates the running[p] texts still running, whose bytes and states sit at
        # offsets[p]:offsets[p+1] of the step-major arrays.
        running = np.searchsorted(-lengths, -np.arange(longest), side="left")
        offsets = np.zeros(longest + 1, dtype=np.intp)
        np.cumsum(running, out=offsets[1:])
        position = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        step_major = offsets[position] + text_of
        data = np.empty(total, dtype=np.uint8)
        data[step_major] = np.frombuffer(b"".join(ordered), dtype=np.uint8)
        states = np.empty(total, dtype=self._nextmove_np.dtype)

        step, previous = 0, states[:0]
        while step < longest and running[step] >= LOCKSTEP_MIN_TEXTS:
            here = slice(offsets[step], offsets[step + 1])
            cell = self._rowbase_np.take(previous[: running[step]]) if step else np.full(running[0], self._rowbase[0])
            cell += data[here]
            previous = states[here]
            self._nextmove_np.take(cell, out=previous)
            step += 1
        for text in range(running[step] if step < longest else 0):  # the few long ones left
            state = int(previous[text]) if step else 0
            walked = []
            for byte in ordered[text][step:]:
                state = self._nextmove[self._rowbase[state] + byte]
                walked.append(state)
            states[offsets[step : lengths[text]] + text] = walked
        return states[step_major]

    def _feature_counts(self, states: np.ndarray, text_of: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(text, feature, count) for every distinct feature of every text, grouped by text and,
        within a text, in order of first occurrence — the key order of ``visit_counts``'
        Counter, which fixes the float32 summation order of the score. Features are numbered
        in the chunk; the fourth array maps those numbers to the model's."""
        features = self._output[states]
        at = np.flatnonzero(features >= 0)  # byte index of every occurrence
        feature = features[at]
        used = np.zeros(len(self._table), dtype=bool)
        used[feature] = True
        distinct = np.flatnonzero(used)
        local = np.empty(len(self._table), dtype=np.uint16 if len(distinct) <= 1 << 16 else np.uint32)
        local[distinct] = np.arange(len(distinct))
        feature = local[feature]
        # stable (radix for uint16): equal features stay in byte order, so each (feature, text)
        # pair becomes one run whose first element is its first occurrence
        by_feature = np.argsort(feature, kind="stable")
        feature, at = feature[by_feature], at[by_feature]
        text = text_of[at]
        new_run = np.ones(len(at), dtype=bool)
        new_run[1:] = (feature[1:] != feature[:-1]) | (text[1:] != text[:-1])
        run_start = np.flatnonzero(new_run)
        counts = np.diff(np.append(run_start, len(at)))
        # byte indices are text-major, so ordering runs by first occurrence groups them by text
        slot = np.full(len(text_of), -1, dtype=np.intp)
        slot[at[run_start]] = np.arange(len(run_start))
        in_order = slot[slot >= 0]
        run_start = run_start[in_order]
        return text[run_start], feature[run_start], counts[in_order], distinct

    def _score(self, n_texts: int, run_text: np.ndarray, run_feature: np.ndarray, counts: np.ndarray, distinct: np.ndarray) -> np.ndarray:
        """Scores of texts 0…n_texts-1: ``log1p(counts) @ table[features] + prior``, RAW_FLOOR
        throughout for a text without features.

        py3langid computes one BLAS gemv per text, whose summation order depends on its number
        of features. Texts with the same number are stacked into one matmul, which makes that
        same gemv call for each, so the float32 results are bit-identical (one flat sum per
        text would differ in the last bits and could flip near-ties)."""
        rows = self._table.take(distinct, axis=0)  # each row fetched once, into a table that stays in cache
        weights = np.log1p(counts.astype(np.float32))
        n_features = np.bincount(run_text, minlength=n_texts)
        fewest_first = np.argsort(n_features, kind="stable")
        sizes = n_features[fewest_first]
        # runs reordered to follow fewest_first; each text's runs stay together and in order
        text_start = np.cumsum(n_features) - n_features
        sorted_start = np.cumsum(sizes) - sizes
        runs = np.repeat(text_start[fewest_first] - sorted_start, sizes) + np.arange(len(counts))
        weights, run_feature = weights[runs], run_feature[runs]

        scores = np.full((n_texts, len(self._classes)), RAW_FLOOR, dtype=np.float32)
        groups = np.flatnonzero(np.diff(sizes, prepend=-1, append=-1))
        for first, end in zip(groups[:-1].tolist(), groups[1:].tolist()):
            n = int(sizes[first])
            if n == 0:
                continue
            step = max(1, SCORE_ROWS // n)
            for a in range(first, end, step):
                b = min(a + step, end)
                start, stop = sorted_start[a], sorted_start[a] + (b - a) * n
                np.matmul(weights[start:stop].reshape(b - a, 1, n),
                          rows.take(run_feature[start:stop], axis=0).reshape(b - a, n, -1),
                          out=scores[a:b].reshape(b - a, 1, -1))
            scores[first:end] += self._prior  # after the product, as py3langid adds it
        out = np.empty_like(scores)
        out[fewest_first] = scores
        return out
