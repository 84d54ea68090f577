"""Bulk import of subscribers from CSV: upload → preview (every problem by row and column) → import as a
job with a progress bar → summary, under ``/console/import``.

The checks and the import are ``ispops.subscribers.bulk_import``'s, the same as ``ispops import
subscribers``: a file with any problem is refused whole. The upload is checked in the request and kept in
its ``subscriber_imports`` row; "Import" queues the ``subscribers.import`` job with the row's id only, and
the page polls the row's progress (htmx, every second) until the job has ended. Reading needs
``subscribers: read``, uploading and importing ``subscribers: create``; another tenant's import is a 404.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import RedirectResponse, Response

from ispops.console import render
from ispops.console.context import ConsoleDep
from ispops.console.nav import NavItem
from ispops.models import SubscriberImport
from ispops.subscribers import bulk_import
from ispops.subscribers.bulk_import_csv import COLUMNS, MAX_BYTES, template

router = APIRouter()
NAV: list[NavItem] = [NavItem("Import subscribers", "/console/import", "subscribers", "create", section="Subscribers")]
RESOURCE = "subscribers"
RUNNING = frozenset({"queued", "running"})


def _percent(batch: SubscriberImport) -> int:
    if batch.status == "succeeded":
        return 100
    return int(100 * batch.processed_rows / batch.total_rows) if batch.total_rows else 0


@router.get("/console/import")
async def index(con: ConsoleDep) -> Response:
    con.require(RESOURCE, "read")
    batches = await con.session.run_sync(lambda s: bulk_import.recent(s, tenant_id=con.tenant_id))
    return render.page(
        con, "imports/index.html", batches=batches, columns=COLUMNS, max_mb=MAX_BYTES // (1024 * 1024), error=""
    )


@router.get("/console/import/template.csv")
async def csv_template(con: ConsoleDep) -> Response:
    con.require(RESOURCE, "read")
    return Response(
        template(),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="subscribers-template.csv"'},
    )


@router.post("/console/import")
async def upload(
    con: ConsoleDep, file: Annotated[UploadFile, File()], csrf_token: Annotated[str, Form()] = ""
) -> Response:
    con.require(RESOURCE, "create")
    content = await file.read(MAX_BYTES + 1)
    name = file.filename or "upload.csv"
    if not content:
        batches = await con.session.run_sync(lambda s: bulk_import.recent(s, tenant_id=con.tenant_id))
        return render.page(
            con,
            "imports/index.html",
            status_code=422,
            batches=batches,
            columns=COLUMNS,
            max_mb=MAX_BYTES // (1024 * 1024),
            error="Choose a CSV file to upload.",
        )
    batch = await con.session.run_sync(
        lambda s: bulk_import.preview(s, tenant_id=con.tenant_id, filename=name, content=content)
    )
    con.audit("subscriber_imports", batch.id, "create", {"filename": name, "status": batch.status})
    return RedirectResponse(f"/console/import/{batch.id}", status_code=303)


@router.get("/console/import/{import_id}")
async def show(con: ConsoleDep, import_id: uuid.UUID) -> Response:
    con.require(RESOURCE, "read")
    batch = await con.session.run_sync(lambda s: bulk_import.get(s, tenant_id=con.tenant_id, import_id=import_id))
    return render.page(con, "imports/batch.html", batch=batch, percent=_percent(batch), running=batch.status in RUNNING)


@router.get("/console/import/{import_id}/progress")
async def progress(con: ConsoleDep, import_id: uuid.UUID) -> Response:
    con.require(RESOURCE, "read")
    batch = await con.session.run_sync(lambda s: bulk_import.get(s, tenant_id=con.tenant_id, import_id=import_id))
    return render.fragment(
        con, "imports/_progress.html", batch=batch, percent=_percent(batch), running=batch.status in RUNNING
    )


@router.post("/console/import/{import_id}/start")
async def start(con: ConsoleDep, import_id: uuid.UUID, csrf_token: Annotated[str, Form()] = "") -> Response:
    con.require(RESOURCE, "create")
    batch = await con.session.run_sync(lambda s: bulk_import.queue(s, tenant_id=con.tenant_id, import_id=import_id))
    con.audit("subscriber_imports", batch.id, "action", {"action": "import", "rows": batch.total_rows})
    return RedirectResponse(f"/console/import/{batch.id}", status_code=303)
