"""A readable difference between two statement versions: word by word, field by field, as
approvers read it ("what changed since I last looked?")."""

from __future__ import annotations

import difflib
import re

from responses.models import VERSION_CONTENT_FIELDS, StatementVersion

FIELD_LABELS = {
    "headline": "Headline", "body": "Text", "question": "Question", "what_happened": "What happened", "known": "What we know",
    "unknown": "What we don't know yet", "what_to_do": "What you should do", "public_status": "Public status",
    "next_update_at": "Next update", "promises": "Promises", "spokesperson": "Spokesperson",
}
_TOKENS = re.compile(r"\s+|[^\s]+")


def _words(text: str) -> list[str]:
    return _TOKENS.findall(text or "")


def text_diff(before: str, after: str) -> list[dict]:
    """[{"op": "equal"|"insert"|"delete", "text": ...}], whitespace kept, so joining the equal
    and insert parts gives ``after`` back and the equal and delete parts ``before``."""
    old, new = _words(before), _words(after)
    parts: list[dict] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if op == "equal":
            parts.append({"op": "equal", "text": "".join(old[i1:i2])})
            continue
        if op in ("delete", "replace"):
            parts.append({"op": "delete", "text": "".join(old[i1:i2])})
        if op in ("insert", "replace"):
            parts.append({"op": "insert", "text": "".join(new[j1:j2])})
    return parts


def _as_text(field: str, value) -> str:
    if field == "spokesperson":
        return str(value) if value is not None else ""
    if field == "promises":
        return "\n".join(f"{promise['text']} (by {promise['due_at']})" for promise in value or [])
    return "" if value is None else str(value)


def version_diff(before: StatementVersion | None, after: StatementVersion) -> list[dict]:
    """The changed fields between two versions (all non-empty fields when ``before`` is None)."""
    old = (before.content() | {"spokesperson": before.spokesperson}) if before else {}
    new = after.content() | {"spokesperson": after.spokesperson}
    changes = []
    for field in (*VERSION_CONTENT_FIELDS, "next_update_at", "promises", "spokesperson"):
        old_text, new_text = _as_text(field, old.get(field)), _as_text(field, new.get(field))
        if old_text == new_text:
            continue
        changes.append({"field": field, "label": FIELD_LABELS[field], "before": old_text, "after": new_text, "parts": text_diff(old_text, new_text)})
    return changes
