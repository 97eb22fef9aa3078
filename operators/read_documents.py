"""Read documents from JSON lines (optionally gzip-compressed) or parquet files, one row per record.

A Ray Data datasource, so that the pipeline starts with a read and Ray Data's checkpoint filter applies. Bad input
never kills the job: each record that cannot be read becomes a row with `error` set, naming the file and row
(invalid JSON or UTF-8, no text field, a truncated gzip stream, a corrupt parquet file), and the pipeline records
it as a rejected document. Every row carries `record_key` = "<file>#<row>", unique by construction: it is the
checkpoint id, so duplicate ids in the user's data cannot make resume skip a document.
"""

from __future__ import annotations

import json
from typing import Any, Iterator

import pyarrow as pa
import pyarrow.parquet as pq
from ray.data.datasource import FileBasedDatasource

ROW_SCHEMA = pa.schema(
    [
        ("record_key", pa.string()),
        ("doc_id", pa.string()),
        ("text", pa.large_string()),
        ("source", pa.string()),
        ("row", pa.int64()),
        ("error", pa.string()),
    ]
)

# Small reads: a truncated gzip stream raises on the read that reaches the cut, losing what that read decoded.
_READ_BYTES = 1 << 14
JSON_EXTENSIONS = ["jsonl", "json", "jsonl.gz", "json.gz", "jsonl.zst", "ndjson", "ndjson.gz"]
PARQUET_EXTENSIONS = ["parquet"]


def record_from_json(obj: Any, id_field: str, text_field: str) -> tuple[str | None, str | None, str | None]:
    """(doc_id, text, error) of one decoded JSON record."""
    if not isinstance(obj, dict):
        return None, None, f"record is a JSON {type(obj).__name__}, not an object"
    doc_id = obj.get(id_field)
    doc_id = None if doc_id is None else str(doc_id)
    if text_field not in obj:
        return doc_id, None, f"missing text field {text_field!r}"
    text = obj[text_field]
    if not isinstance(text, str):
        return doc_id, None, f"text field {text_field!r} is a {type(text).__name__}, not a string"
    if not text.strip():
        return doc_id, None, "empty text"
    return doc_id, text, None


class DocumentDatasource(FileBasedDatasource):
    _FILE_EXTENSIONS = JSON_EXTENSIONS + PARQUET_EXTENSIONS

    def __init__(
        self,
        paths: str | list[str],
        *,
        id_field: str = "id",
        text_field: str = "text",
        records_per_block: int = 16,
        limit_per_file: int | None = None,
        **kwargs: Any,
    ):
        super().__init__(paths, file_extensions=self._FILE_EXTENSIONS, **kwargs)
        self.id_field, self.text_field = id_field, text_field
        self.records_per_block = records_per_block
        self.limit_per_file = limit_per_file

    # Parquet needs random access; JSON lines are streamed (and gunzipped on the fly).
    def _open_input_source(self, filesystem, path: str, **open_args):
        if path.endswith(".parquet"):
            return filesystem.open_input_file(path)
        return super()._open_input_source(filesystem, path, **open_args)

    def _rows(self, f, path: str) -> Iterator[dict[str, Any]]:
        if path.endswith(".parquet"):
            yield from self._parquet_rows(f, path)
        else:
            yield from self._json_rows(f, path)

    def _json_rows(self, f, path: str) -> Iterator[dict[str, Any]]:
        line_no = 0
        buffer = b""
        try:
            while True:
                chunk = f.read(_READ_BYTES)
                if not chunk:
                    break
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for raw in lines:
                    line_no += 1
                    row = self._json_line(raw, path, line_no)
                    if row is not None:
                        yield row
        except Exception as exc:  # truncated gzip, I/O failure mid-file: keep what was read, record the rest
            yield _unreadable(path, line_no, f"file unreadable after line {line_no}: {_brief(exc)}")
            return
        if buffer.strip():
            line_no += 1
            row = self._json_line(buffer, path, line_no)
            if row is not None:
                yield row

    def _json_line(self, raw: bytes, path: str, line_no: int) -> dict[str, Any] | None:
        if not raw.strip():
            return None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return _row(path, line_no, None, None, f"invalid UTF-8 at byte {exc.start} of the line")
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            return _row(path, line_no, None, None, f"invalid JSON: {exc.msg} at column {exc.colno}")
        doc_id, body, error = record_from_json(obj, self.id_field, self.text_field)
        return _row(path, line_no, doc_id, body, error)

    def _parquet_rows(self, f, path: str) -> Iterator[dict[str, Any]]:
        try:
            pf = pq.ParquetFile(f)
            names = pf.schema_arrow.names
        except Exception as exc:
            yield _row(path, 0, None, None, f"corrupt parquet file: {_brief(exc)}")
            return
        if self.text_field not in names:
            yield _row(path, 0, None, None, f"parquet file has no text column {self.text_field!r}")
            return
        columns = [c for c in (self.id_field, self.text_field) if c in names]
        row_no = 0
        try:
            for batch in pf.iter_batches(columns=columns, batch_size=1024):
                for rec in batch.to_pylist():
                    row_no += 1
                    doc_id, body, error = record_from_json(rec, self.id_field, self.text_field)
                    yield _row(path, row_no, doc_id, body, error)
        except Exception as exc:
            yield _unreadable(path, row_no, f"corrupt parquet data after row {row_no}: {_brief(exc)}")

    def _read_stream(self, f, path: str) -> Iterator[pa.Table]:
        block: list[dict[str, Any]] = []
        for i, row in enumerate(self._rows(f, path)):
            if self.limit_per_file is not None and i >= self.limit_per_file:
                break
            block.append(row)
            if len(block) >= self.records_per_block:
                yield pa.Table.from_pylist(block, schema=ROW_SCHEMA)
                block = []
        if block:
            yield pa.Table.from_pylist(block, schema=ROW_SCHEMA)


def _brief(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]


def _unreadable(path: str, after: int, error: str) -> dict[str, Any]:
    """The row for the rest of a file that could not be read. Its key is not a record's key: if the failure was
    transient, a resumed job reads those records again instead of finding them checkpointed as this error."""
    return dict(_row(path, after + 1, None, None, error), record_key=f"{path}#unreadable-after-{after}")


def _row(path: str, row: int, doc_id: str | None, text: str | None, error: str | None) -> dict[str, Any]:
    return {
        "record_key": f"{path}#{row}",
        "doc_id": doc_id,
        "text": text,
        "source": path,
        "row": row,
        "error": error,
    }
