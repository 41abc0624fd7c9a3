"""Data imports (数据导入): upload bureau files, validated exactly as ``medcredit import`` does."""

from __future__ import annotations

import hashlib
import tempfile
import unicodedata
from pathlib import Path

import marshmallow as ma
import sqlalchemy as sa
from flask_smorest import Blueprint
from flask_smorest.fields import Upload
from werkzeug.datastructures import FileStorage

from features import import_paths
from features.storage import imports as imports_table

from ..auth import requires
from ..cache import snapshot
from ..context import current_engine, current_principal, note_audit
from ..guard import require_all_regions
from ..schemas import ImportArgs, ImportRecordSchema, ImportReportSchema, PageArgs

blp = Blueprint("imports", __name__, url_prefix="/api/v1/imports", description="数据导入 / data imports")

MAX_FILES = 200


class UploadSchema(ma.Schema):
    files = ma.fields.List(
        Upload(),
        required=True,
        validate=ma.validate.Length(min=1, max=MAX_FILES),
        metadata={
            "description": "CSV, XLSX or Parquet files, each named after its table (institutions.csv, 机构.xlsx)"
        },
    )


def safe_file_name(name: str | None) -> str:
    """The file's own name (no folders), refused when empty or made of control characters.

    ``werkzeug.utils.secure_filename`` would strip Chinese names such as ``违规处理记录.csv``,
    which name their table, so only path parts and control characters are removed here."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C")
    if not base or base in {".", ".."} or len(base) > 200:
        raise ValueError(f"files: each upload needs a file name (1 to 200 characters, no folders); got {name!r}")
    return base


def _save(uploads: list[FileStorage], folder: Path) -> list[Path]:
    paths: list[Path] = []
    received = []
    for upload in uploads:
        name = safe_file_name(upload.filename)
        path = folder / name
        if path.exists():
            raise ValueError(f"files: two uploads are named {name!r}; each file name must be unique")
        upload.save(path)
        received.append({"file": name, "bytes": path.stat().st_size, "sha256": _sha256(path)})
        paths.append(path)
    note_audit(files=received)
    return paths


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@blp.route("", methods=["POST"])
@requires("imports:write")
@blp.arguments(ImportArgs, location="query", as_kwargs=False)
@blp.arguments(UploadSchema, location="files", as_kwargs=False)
@blp.response(201, ImportReportSchema)
def create_import(args: dict, upload: dict):
    """Upload files; the whole import is rejected (422, every problem listed) unless
    ``skip_bad_rows``. Bodies larger than the server's limit get 413."""
    principal = current_principal()
    require_all_regions("An import")
    with tempfile.TemporaryDirectory(prefix="medcredit-upload-") as folder:
        paths = _save(upload["files"], Path(folder))
        report = import_paths(
            paths,
            engine=current_engine(),
            table=args.get("table"),
            skip_bad_rows=args["skip_bad_rows"],
            actor=f"api:{principal.name}",
        )
    note_audit(import_id=report.import_id, rows_written=report.rows_written)
    snapshot("regions").forget()
    return {
        "import_id": report.import_id,
        "rows_written": report.rows_written,
        "rows_unchanged": report.rows_unchanged,
        "files": [vars(f) for f in report.files],
        "skipped": [_skipped(p) for p in report.skipped],
    }


def _skipped(problem) -> dict:
    data = problem.as_dict()
    data["value"] = None if data["value"] is None else str(data["value"])
    return data


@blp.route("", methods=["GET"])
@requires("imports:read")
@blp.arguments(PageArgs, location="query", as_kwargs=False)
@blp.response(200, ImportRecordSchema(many=True))
def list_imports(args: dict):
    """Past imports, newest first."""
    query = (
        sa.select(imports_table)
        .order_by(imports_table.c.import_id.desc())
        .limit(args["per_page"])
        .offset((args["page"] - 1) * args["per_page"])
    )
    with current_engine().connect() as connection:
        return [dict(row._mapping) for row in connection.execute(query)]
