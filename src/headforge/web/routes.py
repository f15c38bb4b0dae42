"""The HTTP API, version 1: thin routes over :class:`~headforge.service.service.AvatarService`.

Routes that do file or CPU work are plain ``def``: FastAPI runs them in its thread pool.
"""
from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Header, Request, Response, UploadFile, status

import headforge
from headforge.body.fullbody import parse_body_shape
from headforge.emotion.mapping import MAPPING_PATH, parse_emotions
from headforge.errors import EmotionError
from headforge.service.service import AvatarService, Client, NewJob
from headforge.web.schemas import (
    ErrorResponse,
    ExportCreated,
    ExportRequest,
    HairstyleEntry,
    HairstyleList,
    Health,
    JobStatus,
    Readiness,
)

API = "/api/v1"
ERRORS = {code: {"model": ErrorResponse} for code in (401, 404, 409, 413, 415, 422, 429, 503, 507)}
router = APIRouter(prefix=API, responses=ERRORS)


def get_service(request: Request) -> AvatarService:
    return request.app.state.service


ServiceDep = Annotated[AvatarService, Depends(get_service)]


def get_client(request: Request, service: ServiceDep,
               x_api_key: Annotated[str | None, Header(description="needed when the server has API keys")] = None
               ) -> Client:
    return service.client(x_api_key, request.client.host if request.client else "unknown")


ClientDep = Annotated[Client, Depends(get_client)]


def _status(service: AvatarService, job) -> JobStatus:
    return JobStatus.of(job, service.expires_at(job), API)


def _emotions(text: str) -> dict[str, float]:
    """A form field: a JSON object ``{"happiness": 0.8}`` or ``happiness=0.8,surprise=0.3``."""
    text = text.strip()
    if not text.startswith("{"):
        return parse_emotions(text)
    try:
        value = json.loads(text)
    except ValueError:
        raise EmotionError("emotions: not valid JSON") from None
    if not isinstance(value, dict):
        raise EmotionError("emotions: expected an object of {name: intensity}")
    return value


@router.post("/jobs", status_code=status.HTTP_202_ACCEPTED, response_model=JobStatus, summary="Create an avatar")
def create_job(
    service: ServiceDep,
    client: ClientDep,
    response: Response,
    photo: Annotated[UploadFile, File(description="a portrait: JPEG, PNG or WebP")],
    hair: Annotated[str, Form(description="auto, none or a hairstyle id")] = "auto",
    emotions: Annotated[str, Form(description='{"happiness": 0.8} or happiness=0.8,surprise=0.3')] = "",
    texture_size: Annotated[int, Form(description="512, 1024 or 2048")] = 1024,
    backend: Annotated[str | None, Form(description="reconstruction back-end; unset: the default")] = None,
    neutral: Annotated[bool, Form(description="start from a neutral face, not the photo's expression")] = False,
    body: Annotated[str, Form(description="head (a head-only avatar) or full (a rigged, dressed body; "
                                          "the zip adds avatar.vrm)")] = "head",
    body_shape: Annotated[str, Form(description="the body's phenotypes, e.g. gender=0.2,height=0.7")] = "",
    licence: Annotated[str, Form(description="the VRM's licence: personal, cc-by-4.0 or cc0")] = "personal",
) -> JobStatus:
    """Queue a reconstruction of the uploaded portrait. Answers 202 with the job; poll its
    status, then fetch ``avatar.glb`` or ``avatar.zip``."""
    service.check_rate(client)
    request = NewJob(
        photo=photo.file.read(service.settings.max_upload_bytes + 1),
        hair=hair,
        emotions=_emotions(emotions),
        texture_size=texture_size,
        backend=backend,
        keep_expression=not neutral,
        body=body,
        body_shape=parse_body_shape(body_shape),
        licence=licence,
    )
    job = service.create_job(request, client)
    body = _status(service, job)
    response.headers["Location"] = body.links.status
    return body


@router.get("/jobs/{job_id}", response_model=JobStatus, summary="Job status, stage and progress")
def get_job(job_id: str, service: ServiceDep, client: ClientDep) -> JobStatus:
    return _status(service, service.get_job(job_id, client))


@router.delete("/jobs/{job_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a job and all its data")
def delete_job(job_id: str, service: ServiceDep, client: ClientDep) -> Response:
    service.delete_job(job_id, client)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


_FILES = {
    "avatar.zip": "application/zip",
    "avatar.glb": "model/gltf-binary",
    "avatar.vrm": "model/gltf-binary",
    "params.json": "application/json",
}


def _file(data: bytes, name: str, job_id: str) -> Response:
    headers = {"Content-Disposition": f'attachment; filename="avatar-{job_id[:8]}.zip"'} if name.endswith(".zip") else {}
    return Response(content=data, media_type=_FILES[name], headers=headers)


@router.get("/jobs/{job_id}/avatar.zip", response_class=Response, summary="The avatar zip (GLB, OBJ, textures, params)")
def get_zip(job_id: str, service: ServiceDep, client: ClientDep) -> Response:
    return _file(service.result_file(job_id, "avatar.zip", client), "avatar.zip", job_id)


@router.get("/jobs/{job_id}/avatar.glb", response_class=Response, summary="The avatar GLB with ARKit morph targets")
def get_glb(job_id: str, service: ServiceDep, client: ClientDep) -> Response:
    return _file(service.result_file(job_id, "avatar.glb", client), "avatar.glb", job_id)


@router.get("/jobs/{job_id}/avatar.vrm", response_class=Response,
            summary="A full-body job's VRM 1.0 avatar (404 for a head-only job)")
def get_vrm(job_id: str, service: ServiceDep, client: ClientDep) -> Response:
    return _file(service.result_file(job_id, "avatar.vrm", client), "avatar.vrm", job_id)


@router.get("/jobs/{job_id}/params.json", response_class=Response, summary="The avatar's params.json")
def get_params(job_id: str, service: ServiceDep, client: ClientDep) -> Response:
    return _file(service.result_file(job_id, "params.json", client), "params.json", job_id)


@router.post("/jobs/{job_id}/exports", status_code=status.HTTP_201_CREATED, response_model=ExportCreated,
             summary="Re-export with other emotions or another hairstyle (no re-fit)")
def create_export(job_id: str, body: ExportRequest, service: ServiceDep, client: ClientDep) -> ExportCreated:
    service.check_rate(client)
    export_id = service.create_export(job_id, client, body.emotions, body.hair, body.keep_expression,
                                      body.max_strands, body.hair_cards)
    url = f"{API}/jobs/{job_id}/exports/{export_id}"
    return ExportCreated(id=export_id, glb=f"{url}/avatar.glb", zip=f"{url}/avatar.zip")


@router.get("/jobs/{job_id}/exports/{export_id}/avatar.glb", response_class=Response, summary="A re-export's GLB")
def get_export_glb(job_id: str, export_id: str, service: ServiceDep, client: ClientDep) -> Response:
    return _file(service.export_file(job_id, export_id, "avatar.glb", client), "avatar.glb", job_id)


@router.get("/jobs/{job_id}/exports/{export_id}/avatar.zip", response_class=Response, summary="A re-export's zip")
def get_export_zip(job_id: str, export_id: str, service: ServiceDep, client: ClientDep) -> Response:
    return _file(service.export_file(job_id, export_id, "avatar.zip", client), "avatar.zip", job_id)


@router.get("/hairstyles", response_model=HairstyleList, summary="The hairstyle catalogue")
def list_hairstyles(service: ServiceDep, client: ClientDep) -> HairstyleList:
    return HairstyleList(hairstyles=[
        HairstyleEntry(id=s.id, name=s.name, thumbnail=f"{API}/hairstyles/{s.id}/thumbnail.png") for s in service.hairstyles()
    ])


@router.get("/hairstyles/{style_id}/thumbnail.png", response_class=Response, summary="A hairstyle's thumbnail")
def hairstyle_thumbnail(style_id: str, service: ServiceDep, client: ClientDep) -> Response:
    return Response(service.hairstyle_thumbnail(style_id), media_type="image/png",
                    headers={"Cache-Control": "public, max-age=86400"})


@router.get("/emotions/mapping.json", response_class=Response,
            summary="The emotion -> ARKit mapping (MLP weights) that the page evaluates")
def emotion_mapping(client: ClientDep) -> Response:
    return Response(MAPPING_PATH.read_bytes(), media_type="application/json",
                    headers={"Cache-Control": "public, max-age=3600"})


@router.get("/health", response_model=Health, summary="Liveness")
def health() -> Health:
    return Health(version=headforge.__version__)


@router.get("/ready", response_model=Readiness, summary="Readiness: broker and store reachable, workers up",
            responses={503: {"model": Readiness}})
def ready(service: ServiceDep, response: Response) -> Readiness:
    state = Readiness(**service.readiness())
    if not state.ready:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return state
