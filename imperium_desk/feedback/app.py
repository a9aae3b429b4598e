"""The feedback REST app (DESIGN.md §6): FastAPI routes over a `FeedbackBackend`.

Routes run on the desk's own loop (the server is a task on it), so they call the backend directly; the blocking
calls, reading the SQLite index and waiting for it, run on the app's reader thread. `GET /feedback/metrics` answers
with the index's stored JSON lines joined as they are: no record is parsed or serialised again on the way out.

Read-your-writes: the index follows the JSONL a flush behind, so a page read just after a `202` could miss what was
posted and a client paging until a short page would stop early. A read notes the desk's last seq on arrival (on
the loop) and, on the reader thread, makes sure the index holds it before answering a short page: at once when it
already does (or the page is full: every record not yet indexed comes after a full page), else after asking the
telemetry to flush and index now, waiting at most `INDEX_WAIT_S`. Past that the page says `index_behind: true`.

Hostile input gets a 4xx, never a 5xx or a traceback: a request whose `Host` the server does not answer for is
refused before anything else (hosts.py, the DNS-rebinding defence), bodies are parsed strictly (strict_json.py), a
405 lists every method of its path, and the published document says what the server enforces (patterns, the SSE
event, optional parameters that are absent rather than `null`).
"""

from __future__ import annotations

import asyncio
import inspect
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any, Final

import orjson
from fastapi import APIRouter, Body, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel
from starlette.routing import BaseRoute, Route

from imperium_desk import __version__
from imperium_desk.feedback.auth import OPEN_PATHS, BearerAuth
from imperium_desk.feedback.backend import FeedbackBackend, FeedbackInputError, MetricsQuery, ModelChange
from imperium_desk.feedback.config import FeedbackConfig
from imperium_desk.feedback.cursor import SinceError, encode_cursor, parse_since
from imperium_desk.feedback.hosts import MISDIRECTED, HostCheck
from imperium_desk.feedback.proposal_routes import proposal_routes, proposal_type
from imperium_desk.feedback.registry import FeedbackRegistry, FeedbackType
from imperium_desk.feedback.schemas import (
    ActiveModelOut,
    HealthOut,
    MetricsAccepted,
    MetricsIn,
    MetricsPage,
    MetricsParams,
    ModelsOut,
    ModelsPut,
    ModelsSwitched,
    ModelSwitchOut,
    OutcomeRecorded,
    ScenarioOutcomeIn,
    StreamEvent,
    TelemetryRecordIn,
)
from imperium_desk.feedback.sse import RecordStreams
from imperium_desk.feedback.strict_json import MAX_DEPTH, StrictJsonRoute
from imperium_desk.feedback.webhook_routes import DELIVERY_CONTRACT, webhook_routes
from imperium_desk.feedback.webhooks.allowlist import url_pattern

_ERROR_SCHEMA: Final = {"type": "object", "properties": {"detail": {"type": "string"}}, "required": ["detail"]}
# Answers any operation with a request body may give before its own validation: the body is not sent as JSON, is
# not JSON the desk can keep (strict_json.py), or is too large (`_TOO_LARGE`).
_BODY_ERRORS: Final = {
    "400": "the body cannot be read",
    "415": "the body is not sent as JSON (`content-type: application/json`)",
    "422": f"the body is not JSON, holds a non-finite number (NaN, Infinity, 1e999) or an integer beyond 64 bits"
           f" (`loc` names its field), nests deeper than {MAX_DEPTH} levels, or does not fit the schema",
}
# How long a read waits for the index to reach the records accepted before it arrived (MetricsAccepted and
# MetricsPage in schemas.py say "2 s" to the client too).
INDEX_WAIT_S: Final = 2.0
_METRICS_READ: Final = (
    "Records from the desk's telemetry index in seq order; follow `next_cursor` to get every record exactly once.\n\n"
    "Read-your-writes: every record the desk had accepted when this request arrived (e.g. a `POST /feedback/metrics`"
    " answered `202` before it was sent) is in the answer or after its `next_cursor`. The read waits up to"
    f" {INDEX_WAIT_S:g} s for the index to catch up; a read with nothing pending does not wait. If the index is still"
    " behind (or down), the page answers with what it holds and `index_behind: true`: ask again from `next_cursor`."
    " With `index_behind: false` a page shorter than `limit` is the end of what was accepted."
)


class AppRuntime:
    """What the app owns besides its routes: the thread that reads the index, and the live streams."""

    def __init__(self, backend: FeedbackBackend, heartbeat_s: float) -> None:
        self._backend = backend
        # One thread: the index reader serialises its queries anyway, and a thread of our own (not the loop's
        # default executor) is one we can shut down with the server.
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="feedback-index")
        self.streams = RecordStreams(backend, self.read_index, heartbeat_s=heartbeat_s)

    def read_index(self, query: MetricsQuery) -> Awaitable[list[tuple[int, bytes]]]:
        return asyncio.get_running_loop().run_in_executor(self._reader, self._backend.metrics_lines, query)

    def read_written(self, query: MetricsQuery, written: int) -> Awaitable[tuple[list[tuple[int, bytes]], bool]]:
        """The page of `query` once the index holds `written` (bounded: `INDEX_WAIT_S`), and whether it still did
        not (the index is behind). Call `written = backend.last_seq()` on the loop when the request arrives."""
        return asyncio.get_running_loop().run_in_executor(self._reader, self._read_written, query, written)

    def _read_written(self, query: MetricsQuery, written: int) -> tuple[list[tuple[int, bytes]], bool]:
        backend = self._backend
        # No wait here: True when the index already holds `written`; otherwise the flush starts while we read.
        caught_up = backend.wait_indexed(written, 0.0)
        rows = backend.metrics_lines(query)
        if caught_up or len(rows) >= query.limit:  # a full page is complete: unindexed records come after it
            return rows, False
        caught_up = backend.wait_indexed(written, INDEX_WAIT_S)
        return backend.metrics_lines(query), not caught_up

    def close(self) -> None:
        """End the live streams and let the reader thread go once its last query is answered."""
        self.streams.close()
        self._reader.shutdown(wait=False)


def runtime_of(app: FastAPI) -> AppRuntime:
    runtime: AppRuntime = app.state.feedback_runtime
    return runtime


def build_app(
    backend: FeedbackBackend,
    token: str,
    config: FeedbackConfig,
    *,
    extra_types: Sequence[FeedbackType] = (),
    heartbeat_s: float = 15.0,
) -> FastAPI:
    """The API over `backend`, every route but `/health` and the docs behind `Bearer <token>`, request bodies capped
    at `config.max_body_bytes` (413). `extra_types` add `POST /feedback/<name>` routes beside the built-in ones."""
    app = FastAPI(
        title="Imperium Desk feedback API",
        version=__version__,
        description="The desk's measurements, scenario outcomes and latency/slippage models for adaptive-learning "
        "modules (DESIGN.md §6). Send `Authorization: Bearer <token>`; the token is in `<home>/feedback.token`.",
        max_body_size=config.max_body_bytes,
        openapi_tags=[{"name": "webhooks", "description": DELIVERY_CONTRACT}],
    )
    runtime = AppRuntime(backend, heartbeat_s)
    app.state.feedback_runtime = runtime
    app.add_middleware(BearerAuth, token=token)
    # Outermost: a request for a foreign Host learns nothing, not even whether it needs the token.
    app.add_middleware(HostCheck, bound_host=config.host, names=config.host_names)
    app.add_exception_handler(FeedbackInputError, _input_error)
    app.add_exception_handler(405, _method_not_allowed)

    registry = FeedbackRegistry()
    for feedback_type in (*builtin_types(backend), *extra_types):
        registry.register(feedback_type)
    routers = [_routes(backend, runtime), registered_routes(registry), webhook_routes(backend),
               proposal_routes(backend)]
    for router in routers:
        app.include_router(router)
    app.state.path_methods = _path_methods([*app.routes, *(r for router in routers for r in router.routes)])
    app.openapi = lambda: _openapi_with_bearer(app, url_pattern(config.webhooks.allow_hosts))  # type: ignore[method-assign]
    return app


def builtin_types(backend: FeedbackBackend) -> list[FeedbackType]:
    async def metrics(body: TelemetryRecordIn | list[TelemetryRecordIn]) -> MetricsAccepted:
        records = body if isinstance(body, list) else [body]
        first, last = backend.ingest_metrics([r.as_record() for r in records])
        return MetricsAccepted(accepted=len(records), first_seq=first, last_seq=last)

    async def outcome(body: ScenarioOutcomeIn) -> OutcomeRecorded:
        seq = backend.record_outcome(body.model_dump(mode="json"))
        return OutcomeRecorded(id=f"out_{seq}", seq=seq)

    return [
        FeedbackType("metrics", MetricsIn, MetricsAccepted, metrics, 202,
                     "Append measurements (one telemetry record or a list) to the desk's telemetry"),
        FeedbackType("scenario_outcome", ScenarioOutcomeIn, OutcomeRecorded, outcome, 201,
                     "Report a scenario's outcome; kept as a `scenario_outcome` record and fed to the learners"),
        proposal_type(backend),
    ]


def registered_routes(registry: FeedbackRegistry) -> APIRouter:
    router = APIRouter(prefix="/feedback", tags=["feedback"], route_class=StrictJsonRoute)
    for feedback_type in registry:
        router.add_api_route(
            f"/{feedback_type.name}", _endpoint(feedback_type), methods=["POST"],
            status_code=feedback_type.status_code, response_model=feedback_type.response,
            summary=feedback_type.summary or None, name=f"post_{feedback_type.name}",
        )
    return router


def _endpoint(feedback_type: FeedbackType) -> Callable[..., Awaitable[BaseModel]]:
    handler = feedback_type.handler

    async def endpoint(body: Any) -> BaseModel:
        return await handler(body)

    # FastAPI reads the body's type from the signature: the registered type, declared here rather than in code.
    parameter = inspect.Parameter("body", inspect.Parameter.KEYWORD_ONLY,
                                  annotation=Annotated[feedback_type.body, Body()])
    endpoint.__signature__ = inspect.Signature([parameter], return_annotation=feedback_type.response)  # type: ignore[attr-defined]
    return endpoint


def _routes(backend: FeedbackBackend, runtime: AppRuntime) -> APIRouter:
    router = APIRouter(route_class=StrictJsonRoute)

    @router.get("/health", tags=["meta"])
    async def health() -> HealthOut:
        return HealthOut(status="ok", version=__version__)

    @router.get("/feedback/metrics", tags=["feedback"], response_model=None, description=_METRICS_READ,
                responses={200: {"model": MetricsPage, "description": "a page of records in seq order"}})
    async def get_metrics(params: Annotated[MetricsParams, Query()]) -> Response:
        written = backend.last_seq()  # on arrival: what this read must see
        since = params.since
        try:
            since_seq, since_time = parse_since(since)
        except SinceError as exc:
            raise RequestValidationError([
                {"type": "value_error", "loc": ("query", "since"), "msg": str(exc), "input": since}
            ]) from None
        rows, behind = await runtime.read_written(
            MetricsQuery(since_seq, since_time, params.asset, params.scenario_id, params.limit), written)
        if rows:
            cursor = encode_cursor(rows[-1][0])
        elif since is None:
            cursor = encode_cursor(0)
        else:
            cursor = since  # nothing new yet: ask again from the same place
        body = b'{"items":[%s],"next_cursor":%s,"index_behind":%s}' % (
            b",".join([line for _, line in rows]), orjson.dumps(cursor), b"true" if behind else b"false")
        return Response(body, media_type="application/json")

    @router.get("/feedback/models", tags=["models"])
    async def get_models() -> ModelsOut:
        assets: dict[str, dict[str, dict[str, ActiveModelOut]]] = {}
        for row in backend.models():
            kinds = assets.setdefault(row.asset, {})
            kinds.setdefault(row.kind, {})[row.lane] = ActiveModelOut(scope=row.scope, model=row.model)
        return ModelsOut(assets=assets)

    @router.put("/feedback/models", tags=["models"])
    async def put_models(body: ModelsPut) -> ModelsSwitched:
        changes = [ModelChange(c.kind, c.scope, c.lane, c.model) for c in body.changes]
        switches = await backend.put_models(changes, "rest")
        return ModelsSwitched(switches=[
            ModelSwitchOut(kind=s.kind, lane=s.lane, scope=s.scope, old=s.old, new=s.new, source=s.source)
            for s in switches
        ])

    @router.get("/feedback/stream", tags=["feedback"], response_class=StreamingResponse, responses={200: {
        "description": "server-sent events: `id: <seq>`, `event: <record event>`, `data: <record JSON>`; comment "
                       "lines as heartbeats. The schema is one event's, as an SSE parser reads it",
        "content": {"text/event-stream": {"schema": StreamEvent.model_json_schema()}},
    }})
    async def stream(
        last_event_id: Annotated[int | None, Header(ge=0, le=2**53,
                                                    description="resume after this seq (from the index)")] = None,
    ) -> StreamingResponse:
        return StreamingResponse(runtime.streams.events(last_event_id), media_type="text/event-stream",
                                 headers={"cache-control": "no-cache", "x-accel-buffering": "no"})

    return router


async def _input_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, FeedbackInputError)
    detail = [{"type": "value_error", "loc": list(p.loc), "msg": p.msg} for p in exc.problems]
    return JSONResponse({"detail": detail}, status_code=422)


def _path_methods(routes: Iterable[BaseRoute]) -> list[tuple[str, re.Pattern[str], frozenset[str]]]:
    """Each path's pattern with every method routed on it (a path with a GET and a POST route is two routes)."""
    methods: dict[str, set[str]] = {}
    patterns: dict[str, re.Pattern[str]] = {}
    for route in routes:
        if isinstance(route, Route) and route.methods:
            methods.setdefault(route.path, set()).update(route.methods)
            patterns[route.path] = route.path_regex
    return [(path, patterns[path], frozenset(found)) for path, found in methods.items()]


async def _method_not_allowed(request: Request, exc: Exception) -> JSONResponse:
    """405 with an `Allow` header naming every method of the path: Starlette's names only those of the route it
    matched first. A literal path (`/feedback/webhooks/dead_letters`) is its own resource, not an instance of a
    templated one it also matches (`/feedback/webhooks/{subscriber_id}`)."""
    path = request.scope["path"]
    literal: set[str] = set()
    templated: set[str] = set()
    for route_path, pattern, found in request.app.state.path_methods:
        if route_path == path:
            literal |= found
        elif pattern.match(path):
            templated |= found
    return JSONResponse({"detail": "Method Not Allowed"}, status_code=405,
                        headers={"allow": ", ".join(sorted(literal or templated))})


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR_SCHEMA}}}


# A body over the limit is refused by Starlette before any route: in plain text when `content-length` says so up
# front, as JSON when the limit is crossed while reading.
_TOO_LARGE: Final = {
    "description": "the body is over the size limit",
    "content": {"application/json": {"schema": _ERROR_SCHEMA}, "text/plain": {"schema": {"type": "string"}}},
}


def _parameters_without_null(operation: dict[str, Any]) -> None:
    """An optional query or header parameter is absent or a string: FastAPI documents `X | None` as `anyOf: [X,
    null]`, and a client taking that literally sends `null`, which the server reads as text."""
    for parameter in operation.get("parameters", []):
        schema = parameter.get("schema", {})
        branches = [b for b in schema.get("anyOf", ()) if b != {"type": "null"}]
        if "anyOf" in schema and len(branches) == 1:
            parameter["schema"] = {**{k: v for k, v in schema.items() if k != "anyOf"}, **branches[0]}


def _openapi_with_bearer(app: FastAPI, webhook_url: str) -> dict[str, Any]:
    """The generated document plus what the middleware answers, which FastAPI cannot see: the bearer scheme and
    401 on every operation that needs the token, 400/413/422 on every operation that takes a body, 421 on every
    operation (the Host check); optional parameters documented without `null`; the pattern of the webhook URLs the
    allow-list admits (`webhook_url`)."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes,
                         tags=app.openapi_tags)
    schema.setdefault("components", {}).setdefault("securitySchemes", {})["bearer"] = {
        "type": "http", "scheme": "bearer", "description": "the token in <home>/feedback.token",
    }
    for path, operations in schema.get("paths", {}).items():
        if path in OPEN_PATHS:
            continue
        for operation in operations.values():
            _parameters_without_null(operation)
            responses = operation.setdefault("responses", {})
            operation["security"] = [{"bearer": []}]
            responses["401"] = _error("missing or wrong bearer token")
            if "requestBody" in operation:
                for status, description in _BODY_ERRORS.items():
                    responses.setdefault(status, _error(description))
                responses["413"] = _TOO_LARGE
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            operation.setdefault("responses", {})[str(MISDIRECTED)] = _error(
                "the `Host` header names a host this server does not answer for (DNS-rebinding defence)")
    subscriber = schema.get("components", {}).get("schemas", {}).get("NewSubscriber")
    if subscriber is not None:
        subscriber["properties"]["url"]["pattern"] = webhook_url
    app.openapi_schema = schema
    return schema
