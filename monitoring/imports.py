"""Reading uploaded files into drafts: CSV and JSON lines with a column mapping, the
CrisisLexT6 CSV (time from the tweet's snowflake id) and the project's own export (JSON
lines of drafts). Every reader yields ``(line_number, draft_or_problem)``: a bad row is
reported with its line and reason while the good rows go in."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import datetime, timezone as dt_timezone
from typing import Any, Iterator

MAX_FILE_BYTES = 50 * 1024 * 1024

# Which draft fields a mapping may fill, in the order the upload form shows them.
MAPPABLE_FIELDS = (
    "external_id", "text", "posted_at", "url", "author_handle", "author_name", "author_followers",
    "author_verified", "language", "likes", "reposts", "replies", "reply_to_id", "conversation_id",
)
REQUIRED_FIELDS = ("text", "posted_at")


class FileFormat:
    CSV = "csv"
    JSONL = "jsonl"
    CRISISLEX = "crisislex"
    EXPORT = "export"
    CHOICES = [
        (CSV, "CSV with a header row"),
        (JSONL, "JSON lines (one object per line)"),
        (CRISISLEX, "CrisisLexT6 CSV (tweet id, tweet, label)"),
        (EXPORT, "Crisis Center mention export (JSON lines)"),
    ]
    VALUES = {value for value, _label in CHOICES}


class Problem(str):
    """A row that cannot become a draft; the string is the reason."""


class FileError(ValueError):
    """The file as a whole cannot be read (wrong encoding, not the format it claims)."""


# X's snowflake ids carry their creation time: milliseconds since the Twitter epoch.
TWITTER_EPOCH_MS = 1288834974657


def snowflake_time(tweet_id: int) -> datetime:
    return datetime.fromtimestamp(((tweet_id >> 22) + TWITTER_EPOCH_MS) / 1000, tz=dt_timezone.utc)


def _decode(content: bytes) -> str:
    if len(content) > MAX_FILE_BYTES:
        raise FileError(f"The file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB.")
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise FileError(f"The file is not UTF-8 text (byte {error.start} cannot be read).") from None


def _fallback_id(draft: dict) -> str:
    """Files without an id column still dedupe on re-import: the id is a digest of the row."""
    basis = "\x1f".join(str(draft.get(key, "")) for key in ("author_handle", "posted_at", "text"))
    return "sha1:" + hashlib.sha1(basis.encode()).hexdigest()


def _mapped(record: dict[str, Any], mapping: dict[str, str]) -> dict[str, Any] | Problem:
    draft: dict[str, Any] = {}
    for field, column in mapping.items():
        if column and column in record and record[column] not in (None, ""):
            draft[field] = record[column]
    if "author_verified" in draft and isinstance(draft["author_verified"], str):
        draft["author_verified"] = draft["author_verified"].strip().lower() in ("1", "true", "yes", "y")
    missing = [field for field in REQUIRED_FIELDS if field not in draft]
    if missing:
        return Problem(f"missing {', '.join(missing)} (mapped from {', '.join(repr(mapping.get(field, '')) for field in missing)})")
    draft.setdefault("external_id", _fallback_id(draft))
    draft["raw"] = {key: value for key, value in record.items() if isinstance(key, str)}
    return draft


def validate_mapping(mapping: Any, columns: list[str] | None = None) -> dict[str, str]:
    if not isinstance(mapping, dict):
        raise FileError("The column mapping must map draft fields to column names.")
    clean = {}
    for field, column in mapping.items():
        if field not in MAPPABLE_FIELDS:
            raise FileError(f"Unknown field in the column mapping: {str(field)[:40]!r}.")
        if column in (None, ""):
            continue
        if not isinstance(column, str):
            raise FileError(f"The column for {field} must be a column name.")
        if columns is not None and column not in columns:
            raise FileError(f"The file has no column {column[:60]!r} (it has: {', '.join(columns)[:300]}).")
        clean[field] = column
    missing = [field for field in REQUIRED_FIELDS if field not in clean]
    if missing:
        raise FileError(f"Map a column to {', '.join(missing)}.")
    return clean


def csv_columns(content: bytes) -> list[str]:
    text = _decode(content[:65536] if len(content) > 65536 else content)
    reader = csv.reader(io.StringIO(text))
    try:
        return [column.strip() for column in next(reader)]
    except (StopIteration, csv.Error):
        raise FileError("The CSV file has no header row.") from None


def _read_csv(text: str, mapping: dict[str, str]) -> Iterator[tuple[int, dict | Problem]]:
    reader = csv.reader(io.StringIO(text))
    try:
        header = [column.strip() for column in next(reader)]
    except StopIteration:
        return
    except csv.Error as error:
        raise FileError(f"The CSV header cannot be read: {error}.") from None
    validate_mapping(mapping, header)
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            yield reader.line_num, Problem(f"not valid CSV: {error}")
            continue
        if not any(value.strip() for value in values):
            continue
        if len(values) != len(header):
            yield reader.line_num, Problem(f"has {len(values)} fields, the header has {len(header)}")
            continue
        yield reader.line_num, _mapped(dict(zip(header, values)), mapping)


def _read_jsonl(text: str, mapping: dict[str, str] | None) -> Iterator[tuple[int, dict | Problem]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as error:
            yield number, Problem(f"not valid JSON: {error.args[0][:120] if error.args else error}")
            continue
        if not isinstance(record, dict):
            yield number, Problem("each line must be a JSON object")
            continue
        yield number, (_mapped(record, mapping) if mapping else record)


def _read_crisislex(text: str) -> Iterator[tuple[int, dict | Problem]]:
    reader = csv.reader(io.StringIO(text))
    try:
        header = [column.strip().lower() for column in next(reader)]
    except (StopIteration, csv.Error):
        raise FileError("The CrisisLex file has no header row.") from None
    if header[:2] != ["tweet id", "tweet"]:
        raise FileError("This is not a CrisisLexT6 file: the header must start with 'tweet id, tweet'.")
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            yield reader.line_num, Problem(f"not valid CSV: {error}")
            continue
        if len(values) < 2:
            yield reader.line_num, Problem("needs a tweet id and a tweet")
            continue
        raw_id = values[0].strip().strip("'\"")
        if not raw_id.isdigit():
            yield reader.line_num, Problem(f"the tweet id {raw_id[:30]!r} is not a number")
            continue
        tweet_id = int(raw_id)
        yield reader.line_num, {
            "external_id": raw_id,
            "text": values[1],
            "posted_at": snowflake_time(tweet_id).isoformat(),
            "url": f"https://x.com/i/web/status/{raw_id}",
            "raw": {"tweet_id": raw_id, "label": values[2].strip() if len(values) > 2 else ""},
        }


def read(content: bytes, file_format: str, mapping: dict[str, str] | None = None) -> Iterator[tuple[int, dict | Problem]]:
    """Yield ``(line, draft or Problem)`` for every row of the file; raise ``FileError`` if the
    file as a whole is unreadable."""
    text = _decode(content)
    if file_format == FileFormat.CSV:
        return _read_csv(text, mapping or {})
    if file_format == FileFormat.JSONL:
        return _read_jsonl(text, mapping or None)
    if file_format == FileFormat.EXPORT:
        return _read_jsonl(text, None)
    if file_format == FileFormat.CRISISLEX:
        return _read_crisislex(text)
    raise FileError(f"Unknown file format {str(file_format)[:20]!r}.")


def guess_format(file_name: str, content: bytes) -> str:
    head = content[:200].decode("utf-8-sig", errors="replace").lstrip().lower()
    if head.startswith("tweet id,"):
        return FileFormat.CRISISLEX
    if head.startswith("{"):
        return FileFormat.EXPORT if '"external_id"' in content[:2000].decode("utf-8-sig", errors="replace") else FileFormat.JSONL
    return FileFormat.CSV


def export_line(mention) -> str:
    """One mention in the project's export format (a draft that ``read(..., "export")`` takes back)."""
    return json.dumps(
        {
            "external_id": mention.external_id,
            "text": mention.text,
            "posted_at": mention.posted_at.isoformat(),
            "url": mention.url,
            "author_handle": mention.author_handle,
            "author_name": mention.author_name,
            "author_followers": mention.author_followers,
            "author_verified": mention.author_verified,
            "language": mention.language,
            "likes": mention.likes,
            "reposts": mention.reposts,
            "replies": mention.replies,
            "reply_to_id": mention.reply_to_id,
            "conversation_id": mention.conversation_id,
            "raw": {"source": mention.source.kind, "status": mention.status},
        },
        ensure_ascii=False,
    )
