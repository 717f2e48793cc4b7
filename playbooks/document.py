"""The playbook document: one validated, versionable, exportable description of a crisis plan.

A playbook version stores its whole plan as one JSON document (also readable as YAML), so a
version is a snapshot that never changes, two versions can be compared line by line, and a
plan can be exported, reviewed in a pull request and imported elsewhere. ``validate`` returns
every problem it finds, each with the path of the offending field, not just the first.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

import jsonschema
import yaml

FORMAT = "crisiscenter.playbook/v1"
MAX_DOCUMENT_BYTES = 256 * 1024
SEVERITIES = (1, 2, 3, 4)


class Category:
    CHOICES = [
        ("product_recall", "Product failure or recall"),
        ("offensive_post", "Offensive post from a brand account"),
        ("service_outage", "Service outage"),
        ("data_breach", "Data breach"),
        ("executive_misconduct", "Executive misconduct"),
        ("external_disaster", "External disaster affecting customers"),
        ("rumour", "Rumour or misinformation"),
        ("other", "Other"),
    ]
    VALUES = [value for value, _ in CHOICES]
    LABELS = dict(CHOICES)


class PlaybookRole:
    CHOICES = [
        ("incident_lead", "Incident lead"),
        ("spokesperson", "Spokesperson"),
        ("approver_manager", "Approver (manager)"),
        ("approver_legal", "Approver (legal)"),
        ("responder", "Responder"),
        ("scribe", "Scribe"),
    ]
    VALUES = [value for value, _ in CHOICES]
    LABELS = dict(CHOICES)


# Placeholders a holding-statement template may use; filled when a statement is drafted.
PLACEHOLDERS = {
    "brand": "the organisation's name",
    "what_happened": "the fact sheet's 'what happened'",
    "who_is_affected": "the fact sheet's 'who is affected'",
    "what_to_do": "what customers should do now",
    "next_update_time": "when the next update is due",
    "spokesperson": "the named spokesperson",
    "help_url": "the public crisis hub's address",
}
PLACEHOLDER_PATTERN = re.compile(r"\{([a-z_]+)\}")

_text = {"type": "string", "maxLength": 4000}
_short = {"type": "string", "minLength": 1, "maxLength": 200}
_username = {"type": ["string", "null"], "maxLength": 150}

SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["format", "name", "category", "default_severity"],
    "properties": {
        "format": {"const": FORMAT},
        "name": _short,
        "category": {"enum": Category.VALUES},
        "default_severity": {"enum": list(SEVERITIES)},
        "scenario": _text,
        "triggers": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "watch_queries": {"type": "array", "maxItems": 50, "items": _short},
                "min_mentions_per_minute": {"type": "integer", "minimum": 1, "maximum": 1000000},
                "ratio_to_baseline": {"type": "number", "minimum": 1, "maximum": 1000},
                "min_negative_share": {"type": "number", "minimum": 0, "maximum": 1},
                "open_automatically": {"type": "boolean"},
            },
        },
        "escalation": {
            "type": "array",
            "maxItems": 4,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["severity", "first_statement_due_minutes", "approvals_required"],
                "properties": {
                    "severity": {"enum": list(SEVERITIES)},
                    "notify_roles": {"type": "array", "items": {"enum": PlaybookRole.VALUES}, "uniqueItems": True},
                    "first_statement_due_minutes": {"type": "integer", "minimum": 1, "maximum": 10080},
                    "update_interval_minutes": {"type": "integer", "minimum": 5, "maximum": 10080},
                    "approvals_required": {"type": "integer", "minimum": 0, "maximum": 5},
                    "approver_roles": {"type": "array", "items": {"enum": PlaybookRole.VALUES}, "uniqueItems": True},
                },
            },
        },
        "roles": {
            "type": "array",
            "maxItems": 50,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["role"],
                "properties": {"role": {"enum": PlaybookRole.VALUES}, "member": _username, "backup": _username},
            },
        },
        "contacts": {
            "type": "array",
            "maxItems": 200,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name"],
                "properties": {
                    "name": _short,
                    "role": {"type": "string", "maxLength": 200},
                    "phone": {"type": "string", "maxLength": 50, "pattern": r"^[0-9+()./\- ]*$"},
                    "email": {"type": "string", "maxLength": 254, "pattern": r"^$|^[^@\s]+@[^@\s]+\.[^@\s]+$"},
                    "backup": {"type": "string", "maxLength": 200},
                    "notes": _text,
                },
            },
        },
        "checklist": {
            "type": "array",
            "maxItems": 100,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["title", "role", "due_minutes"],
                "properties": {
                    "title": _short,
                    "role": {"enum": PlaybookRole.VALUES},
                    "due_minutes": {"type": "integer", "minimum": 0, "maximum": 10080},
                    "notes": _text,
                },
            },
        },
        "key_messages": {"type": "array", "maxItems": 50, "items": {"type": "string", "minLength": 1, "maxLength": 1000}},
        "holding_statements": {
            "type": "array",
            "maxItems": 30,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "text"],
                "properties": {
                    "name": _short,
                    "language": {"type": "string", "pattern": r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$"},
                    "text": {"type": "string", "minLength": 1, "maxLength": 4000},
                },
            },
        },
        "voice_rules": {
            "type": "array",
            "maxItems": 50,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["kind", "rule"],
                "properties": {"kind": {"enum": ["do", "dont"]}, "rule": {"type": "string", "minLength": 1, "maxLength": 500}},
            },
        },
        "faq": {
            "type": "array",
            "maxItems": 50,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["question", "answer"],
                "properties": {"question": {"type": "string", "minLength": 1, "maxLength": 500}, "answer": _text},
            },
        },
        "help_resources": {
            "type": "array",
            "maxItems": 30,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["title", "url"],
                "properties": {"title": _short, "url": {"type": "string", "maxLength": 500, "pattern": r"^(https?://|mailto:|tel:)\S+$"}},
            },
        },
    },
}
_validator = jsonschema.Draft202012Validator(SCHEMA)


@dataclass(frozen=True)
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class DocumentError(ValueError):
    """The document is not a valid playbook; ``problems`` lists every reason."""

    def __init__(self, problems: list[Problem]):
        super().__init__("; ".join(str(problem) for problem in problems))
        self.problems = problems


def _path(parts) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


class _NoAliasLoader(yaml.SafeLoader):
    """Safe YAML without anchors/aliases, so a small file cannot expand into a huge one."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(None, None, "anchors and aliases are not allowed", event.start_mark)
        return super().compose_node(parent, index)


def parse(text: str | bytes) -> dict:
    """Parse a YAML or JSON playbook file into a dict (not yet validated)."""
    if isinstance(text, bytes):
        if len(text) > MAX_DOCUMENT_BYTES:
            raise DocumentError([Problem("", f"the file is larger than {MAX_DOCUMENT_BYTES // 1024} KB")])
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise DocumentError([Problem("", "the file is not UTF-8 text")]) from None
    if len(text.encode("utf-8")) > MAX_DOCUMENT_BYTES:
        raise DocumentError([Problem("", f"the file is larger than {MAX_DOCUMENT_BYTES // 1024} KB")])
    try:
        data = yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise DocumentError([Problem("", f"not valid YAML or JSON: {where}{getattr(error, 'problem', None) or error}")]) from None
    if not isinstance(data, dict):
        raise DocumentError([Problem("", "the top level must be a mapping of fields (name, category, ...)")])
    return data


def _entries(document: dict, field: str) -> list[tuple[int, dict]]:
    """The (index, item) pairs of a list of mappings, skipping what the schema already refuses."""
    items = document.get(field)
    return [(index, item) for index, item in enumerate(items) if isinstance(item, dict)] if isinstance(items, list) else []


def validate(document: dict, *, member_usernames: set[str] | None = None) -> list[Problem]:
    """Every problem in ``document``: schema errors, then rules a schema cannot say.

    The rules run even when the schema found problems (so one round of fixes is enough), and
    look only at values of the right type: a wrong type is the schema's problem to report.
    """
    problems = [
        Problem(_path(error.absolute_path), error.message)
        for error in sorted(_validator.iter_errors(document), key=lambda error: list(map(str, error.absolute_path)))
    ]
    triggers = document.get("triggers")
    for field, value in triggers.items() if isinstance(triggers, dict) else ():
        # YAML's .nan passes every minimum/maximum and cannot be stored as JSON.
        if isinstance(value, float) and math.isnan(value):
            problems.append(Problem(f"triggers.{field}", "must be a number, not NaN"))
    escalation = _entries(document, "escalation")
    severities = [rung.get("severity") for _, rung in escalation if rung.get("severity") in SEVERITIES]
    for severity in sorted({s for s in severities if severities.count(s) > 1}):
        problems.append(Problem("escalation", f"severity {severity} appears more than once"))
    for index, rung in escalation:
        approvals = rung.get("approvals_required")
        if isinstance(approvals, int) and approvals > 0 and not rung.get("approver_roles"):
            problems.append(Problem(f"escalation[{index}].approver_roles", "name the roles that approve when approvals are required"))
    for index, template in _entries(document, "holding_statements"):
        text = template.get("text")
        for name in PLACEHOLDER_PATTERN.findall(text) if isinstance(text, str) else ():
            if name not in PLACEHOLDERS:
                problems.append(
                    Problem(f"holding_statements[{index}].text", f"unknown placeholder {{{name}}}; use one of {', '.join(sorted(PLACEHOLDERS))}")
                )
    if member_usernames is not None:
        for index, assignment in _entries(document, "roles"):
            for field in ("member", "backup"):
                username = assignment.get(field)
                if isinstance(username, str) and username and username not in member_usernames:
                    problems.append(Problem(f"roles[{index}].{field}", f"{username!r} is not a member of this organisation"))
            if assignment.get("member") and assignment.get("member") == assignment.get("backup"):
                problems.append(Problem(f"roles[{index}].backup", "the backup must be someone else"))
    return problems


def clean(document: dict, *, member_usernames: set[str] | None = None) -> dict:
    """Validate and return a canonical copy (JSON round trip); raise DocumentError otherwise."""
    problems = validate(document, member_usernames=member_usernames)
    if problems:
        raise DocumentError(problems)
    return json.loads(json.dumps(document))


def to_yaml(document: dict) -> str:
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)


def escalation_for(document: dict, severity: int) -> dict | None:
    return next((rung for rung in document.get("escalation", []) if rung["severity"] == severity), None)
