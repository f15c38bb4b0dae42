"""Request and response bodies of the HTTP API (pydantic models; they make the OpenAPI schema)."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Literal

from pydantic import BaseModel, Field

from headforge.service.jobs import Job


class ErrorDetail(BaseModel):
    code: str = Field(description="stable, machine-readable: no_face, several_faces, bad_image, "
                                  "image_too_large, rate_limited, queue_full, unavailable, unknown_hairstyle, "
                                  "storage_full, storage_unavailable, timed_out, memory_limit, ...")
    message: str = Field(description="one line for people")


class ErrorResponse(BaseModel):
    error: ErrorDetail


class JobOptions(BaseModel):
    hair: str
    emotions: dict[str, float]
    texture_size: int
    keep_expression: bool
    body: str = "head"
    body_shape: dict[str, float] = {}


class JobLinks(BaseModel):
    status: str
    zip: str
    glb: str
    params: str
    exports: str


class JobStatus(BaseModel):
    id: str = Field(description="unguessable; whoever has it can read and delete the job")
    state: Literal["queued", "running", "done", "failed"]
    stage: str = Field(description="queued, starting, load, detect, fit, texture, normal_map, preview, "
                                   "export, done or failed")
    progress: float = Field(ge=0, le=1)
    backend: str
    options: JobOptions
    error: ErrorDetail | None = None
    created_at: datetime
    updated_at: datetime
    expires_at: datetime
    timings_s: dict[str, float] = Field(default_factory=dict,
                                       description="seconds per stage once done; job: the whole run in the worker, "
                                                   "job_cpu: its CPU seconds")
    links: JobLinks

    @classmethod
    def of(cls, job: Job, expires_at: float, base: str) -> JobStatus:
        o = job.options
        url = f"{base}/jobs/{job.id}"
        return cls(
            id=job.id,
            state=job.state,
            stage=job.stage,
            progress=round(job.progress, 3),
            backend=job.backend,
            options=JobOptions(hair=o["hair"], emotions=o["emotions"], texture_size=o["texture_size"],
                               keep_expression=o["keep_expression"], body=o.get("body", "head"),
                               body_shape=o.get("body_shape", {})),
            error=ErrorDetail(code=job.error_code, message=job.error_message or "") if job.error_code else None,
            created_at=_utc(job.created_at),
            updated_at=_utc(job.updated_at),
            expires_at=_utc(expires_at),
            timings_s=job.timings,
            links=JobLinks(status=url, zip=f"{url}/avatar.zip", glb=f"{url}/avatar.glb",
                           params=f"{url}/params.json", exports=f"{url}/exports"),
        )


class ExportRequest(BaseModel):
    emotions: dict[str, float] = Field(default_factory=dict, description="{name: intensity in [0, 1]}")
    hair: str | None = Field(None, description="auto, none or a style id; unset: as the job asked")
    keep_expression: bool | None = Field(None, description="start from the photo's expression; unset: as the job")
    max_strands: int | None = Field(None, ge=1, description="at most this many hair strands in the GLB, for a "
                                                            "light on-screen preview; the zip keeps them all")
    hair_cards: Literal["web", "high"] = Field("web", description="the GLB's hair cards: web (at most 60k "
                                               "triangles) or high (at most 300k)")


class ExportCreated(BaseModel):
    id: str
    glb: str
    zip: str


class HairstyleEntry(BaseModel):
    id: str
    name: str
    thumbnail: str


class HairstyleList(BaseModel):
    hairstyles: list[HairstyleEntry]


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str


class QueueFill(BaseModel):
    active: int
    limit: int


class Readiness(BaseModel):
    ready: bool
    status: Literal["ok", "degraded"] = Field(description="ok when ready; degraded: the fields below say what is down")
    broker: bool | None = Field(description="the Celery broker answers; null: no broker (embedded workers)")
    store: bool = Field(description="the store answers and can be written")
    workers: dict[str, int] = Field(description="ready worker processes per back-end")
    queue: QueueFill


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, timezone.utc)
