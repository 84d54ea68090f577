"""Local HTTP doubles (127.0.0.1) of the two external systems that cannot run here, following their
documented REST APIs: AWX's ``/api/v2`` (job templates, jobs, stdout, host summaries, events, cancel) and
NetBox's ``/api`` (paginated lists with filters, create, bulk PATCH; objects nest their tenant and tags).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


class _Handler(BaseHTTPRequestHandler):
    double: Any

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"null") if length else None

    def _answer(self, status: int, payload: Any, *, text: str | None = None) -> None:
        data = text.encode() if text is not None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain" if text is not None else "application/json")
        self.send_header("API-Version", "4.1")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _dispatch(self, method: str) -> None:
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        self.double.requests.append((method, url.path, query, self.headers.get("Authorization")))
        if self.headers.get("Authorization") != self.double.expected_auth:
            self._answer(401, {"detail": "Authentication credentials were not provided."})
            return
        status, payload, text = self.double.handle(method, url.path, query, self._body() if method != "GET" else None)
        self._answer(status, payload, text=text)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")


@contextmanager
def serving(double: Any) -> Iterator[str]:
    handler = type("Handler", (_Handler,), {"double": double})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


# ----------------------------------------------------------------------------------------------------------


@dataclass
class AwxTemplate:
    """What launching this template does: the final status, and what the job then reports."""

    final: str = "successful"  # or failed, or "hang" (runs until cancelled)
    stdout: str = "PLAY RECAP\nedge-1 : ok=2 changed=1\n"
    summaries: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class AwxDouble:
    token: str
    templates: dict[int, AwxTemplate] = field(default_factory=dict)
    jobs: dict[int, dict[str, Any]] = field(default_factory=dict)
    launches: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str, dict[str, str], str | None]] = field(default_factory=list)

    @property
    def expected_auth(self) -> str:
        return f"Bearer {self.token}"

    def handle(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any, str | None]:
        if m := re.fullmatch(r"/api/v2/job_templates/(\d+)/launch/", path):
            launched = self.templates.get(int(m[1]))
            if method != "POST" or launched is None:
                return 404, {"detail": "Not found."}, None
            job_id = 100 + len(self.jobs) + 1
            self.jobs[job_id] = {"template": launched, "polls": 0, "status": "pending", "body": body}
            self.launches.append(body)
            return 201, {"job": job_id, "id": job_id, "status": "pending", "type": "job"}, None
        if not (m := re.fullmatch(r"/api/v2/jobs/(\d+)/(\w*)/?", path)):
            return 404, {"detail": "Not found."}, None
        job = self.jobs.get(int(m[1]))
        if job is None:
            return 404, {"detail": "Not found."}, None
        template: AwxTemplate = job["template"]
        what = m[2]
        if what == "" and method == "GET":
            job["polls"] += 1
            if job["status"] in ("pending", "waiting", "running"):
                if job["polls"] >= 2 and template.final != "hang":
                    job["status"] = template.final
                elif job["polls"] >= 1:
                    job["status"] = "running"
            return 200, {"id": int(m[1]), "status": job["status"], "failed": job["status"] == "failed"}, None
        if what == "cancel" and method == "POST":
            if job["status"] in ("successful", "failed", "canceled"):
                return 405, {"error": "not allowed"}, None
            job["status"] = "canceled"
            return 202, None, None
        if what == "stdout":
            return 200, None, template.stdout
        if what == "job_host_summaries":
            return 200, _page(template.summaries), None
        if what == "job_events":
            return 200, _page([e for e in template.events if e["event"] == query.get("event")]), None
        return 404, {"detail": "Not found."}, None


def _page(results: list[dict[str, Any]]) -> dict[str, Any]:
    return {"count": len(results), "next": None, "previous": None, "results": results}


# ----------------------------------------------------------------------------------------------------------

NETBOX_PATHS = {
    "/api/dcim/sites/": "sites",
    "/api/dcim/devices/": "devices",
    "/api/dcim/device-types/": "device_types",
    "/api/dcim/device-roles/": "device_roles",
    "/api/ipam/prefixes/": "prefixes",
    "/api/ipam/ip-ranges/": "ip_ranges",
    "/api/tenancy/tenants/": "tenants",
    "/api/extras/tags/": "tags",
}


@dataclass
class NetboxDouble:
    token: str
    objects: dict[str, dict[int, dict[str, Any]]] = field(
        default_factory=lambda: {n: {} for n in NETBOX_PATHS.values()}
    )
    requests: list[tuple[str, str, dict[str, str], str | None]] = field(default_factory=list)
    next_id: int = 1

    @property
    def expected_auth(self) -> str:
        return f"Token {self.token}"

    def add(self, kind: str, **data: Any) -> dict[str, Any]:
        obj = {"id": self.next_id, **data}
        self.next_id += 1
        self.objects[kind][obj["id"]] = obj
        return obj

    def _nest(self, data: dict[str, Any]) -> dict[str, Any]:
        out = dict(data)
        if isinstance(out.get("tenant"), int):
            t = self.objects["tenants"][out["tenant"]]
            out["tenant"] = {"id": t["id"], "slug": t["slug"], "name": t["name"]}
        if "tags" in out:
            out["tags"] = [
                {"id": self.objects["tags"][t]["id"], "slug": self.objects["tags"][t]["slug"]}
                if isinstance(t, int)
                else t
                for t in out["tags"]
            ]
        for ref, kind in (("site", "sites"), ("device_type", "device_types"), ("role", "device_roles")):
            if isinstance(out.get(ref), int):
                target = self.objects[kind][out[ref]]
                out[ref] = {k: target[k] for k in ("id", "name", "slug", "model") if k in target}
        return out

    def _matches(self, obj: dict[str, Any], query: dict[str, str]) -> bool:
        for key, value in query.items():
            if key in ("limit", "offset", "brief", "format", "ordering", "exclude"):
                continue
            if key == "tenant":
                if (obj.get("tenant") or {}).get("slug") != value:
                    return False
            elif key == "tag":
                if value not in [t.get("slug") for t in obj.get("tags") or []]:
                    return False
            elif str(obj.get(key)) != value:
                return False
        return True

    def handle(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any, str | None]:
        if path in ("/api/", "/api/status/"):
            return 200, {"netbox-version": "4.1.0"}, None
        m = re.fullmatch(r"(/api/\w+/[\w-]+/)(\d+/)?", path)
        kind = NETBOX_PATHS.get(m[1]) if m else None
        if m is None or kind is None:
            return 404, {"detail": "Not found."}, None
        store = self.objects[kind]
        if method == "GET":
            found = [o for o in store.values() if self._matches(o, query)]
            offset, limit = int(query.get("offset") or 0), int(query.get("limit") or 50) or len(found) or 1
            page = found[offset : offset + limit]
            following = None
            if offset + limit < len(found):
                following = f"http://127.0.0.1{m[1]}?offset={offset + limit}&limit={limit}"
            return 200, {"count": len(found), "next": following, "previous": None, "results": page}, None
        if method == "POST":
            created = self.add(kind, **self._nest(body))
            return 201, created, None
        if method == "PATCH":
            items = body if isinstance(body, list) else [{"id": int(str(m[2]).rstrip("/")), **body}]
            out = []
            for item in items:
                obj = store.get(int(item["id"]))
                if obj is None:
                    return 404, {"detail": "Not found."}, None
                obj.update(self._nest({k: v for k, v in item.items() if k != "id"}))
                out.append(obj)
            return 200, out if isinstance(body, list) else out[0], None
        return 405, {"detail": "Method not allowed."}, None
