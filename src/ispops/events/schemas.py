"""Request and response bodies of the events and webhooks routes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

MAX_LIMIT = 500
Url = Annotated[str, Field(min_length=1, max_length=2048, description="https URL of the receiver")]
EventTypes = Annotated[list[Annotated[str, Field(max_length=80)]], Field(min_length=1, max_length=64)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EndpointCreate(Strict):
    url: Url
    event_types: EventTypes = Field(description="the event types sent to this endpoint (GET /api/v1/event_types)")
    description: Annotated[str, Field(max_length=500)] | None = None
    enabled: bool = True


class EndpointUpdate(Strict):
    url: Url | None = None
    event_types: EventTypes | None = None
    description: Annotated[str, Field(max_length=500)] | None = None
    enabled: bool | None = None


class EndpointRead(BaseModel):
    id: uuid.UUID
    url: str
    description: str | None
    event_types: list[str]
    enabled: bool
    rotated_at: datetime | None = Field(description="when the signing secret was last rotated")
    overlap_until: datetime | None = Field(
        description="until when the previous signing secret also signs (after a rotation)"
    )
    created_at: datetime
    updated_at: datetime


class EndpointWithSecret(EndpointRead):
    secret: str = Field(description="whsec_…: shown only now (creation, rotation); keep it")


class DeliveryRead(BaseModel):
    id: uuid.UUID
    endpoint_id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str | None
    last_latency_ms: int | None
    last_response_body: str | None
    delivered_at: datetime | None
    dead_at: datetime | None
    replays: int
    created_at: datetime
    updated_at: datetime


class AttemptRead(BaseModel):
    attempt: int
    status_code: int | None
    latency_ms: int | None
    error: str | None
    response_body: str | None
    attempted_at: datetime


class DeliveryDetail(DeliveryRead):
    log: list[AttemptRead]


class EndpointPage(BaseModel):
    items: list[EndpointRead]
    total: int
    limit: int
    offset: int


class DeliveryPage(BaseModel):
    items: list[DeliveryRead]
    total: int
    limit: int
    offset: int


class EventRead(BaseModel):
    id: uuid.UUID
    event_type: str
    subject: str | None
    payload: dict[str, Any]
    occurred_at: datetime
    dispatched_at: datetime | None


class EventPage(BaseModel):
    items: list[EventRead]
    total: int
    limit: int
    offset: int


class PageQuery(Strict):
    limit: int = Field(50, ge=1, le=MAX_LIMIT)
    offset: int = Field(0, ge=0, le=10_000_000)


class DeliveryQuery(PageQuery):
    status: Literal["pending", "succeeded", "dead"] | None = None
    event_type: Annotated[str, Field(max_length=80)] | None = None


class DeadQuery(PageQuery):
    endpoint_id: uuid.UUID | None = None


class EventQuery(PageQuery):
    event_type: Annotated[str, Field(max_length=80)] | None = None
    subject: Annotated[str, Field(max_length=255)] | None = None


class ReplayRange(Strict):
    since: AwareDatetime = Field(description="deliveries created at or after")
    until: AwareDatetime | None = Field(None, description="and before (default: now)")
    status: Literal["dead", "succeeded", "pending"] | None = Field(
        "dead", description="only deliveries in this status (null: every delivery not pending)"
    )


class Replayed(BaseModel):
    replayed: int


class EventTypesRead(BaseModel):
    event_types: list[str]
