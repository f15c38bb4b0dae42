"""The avatar service: what the HTTP routes call. Owns the job store, the file store, the engine,
the rate limiter and the sweeper that deletes expired jobs."""
from __future__ import annotations

import hashlib
import logging
import math
import re
import secrets
import threading
import time
from dataclasses import dataclass, field

from headforge.body.fullbody import BODY_CHOICES, check_body_shape
from headforge.export.vrm import LICENCES as VRM_LICENCES
from headforge.emotion.mapping import intensity_vector
from headforge.service import hair as hair_styles
from headforge.service.backends import check_backend
from headforge.service.config import Settings
from headforge.service.outcome import Engine
from headforge.service.errors import (
    BadRequestError,
    NotFoundError,
    NotReadyError,
    QueueFullError,
    RateLimitedError,
    ServiceError,
    UnauthorizedError,
    UnavailableError,
)
from headforge.service.exports import ExportSpec, create_export, export_zip
from headforge.service.intake import accept_upload
from headforge.service.jobs import DONE, Job, JobStore
from headforge.service.layout import export_key, result_key, upload_key
from headforge.service.ratelimit import RateLimiter
from headforge.service.storage import open_store

log = logging.getLogger("headforge.service")
TEXTURE_SIZES = (512, 1024, 2048)
RESULT_FILES = ("avatar.zip", "avatar.glb", "avatar.vrm", "params.json")
_JOB_ID = re.compile(r"^[A-Za-z0-9_-]{22}$")
_EXPORT_ID = re.compile(r"^[0-9a-f]{20}$")


@dataclass(frozen=True)
class Client:
    """Who is asking: ``owner`` scopes jobs to an API key ('' when keys are off); ``rate_key``
    names the rate-limit bucket (the key, else the address)."""

    owner: str
    rate_key: str


@dataclass
class NewJob:
    """A create request, before checks. ``emotions``: {name: intensity in [0, 1]}."""

    photo: bytes
    hair: str = hair_styles.AUTO
    emotions: dict[str, float] = field(default_factory=dict)
    texture_size: int = 1024
    backend: str | None = None
    keep_expression: bool = True
    body: str = "head"
    body_shape: dict[str, float] = field(default_factory=dict)
    licence: str = "personal"


class AvatarService:
    def __init__(self, settings: Settings, engine: Engine | None = None):
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.jobs = JobStore(settings.database_path)
        self.store = open_store(settings.resolved_store_url, settings.job_ttl_s)
        if settings.broker_url:
            from headforge.service.celery_gateway import CeleryEngine as engine_type
        else:
            from headforge.service.pool import EmbeddedEngine as engine_type
        self.engine = engine or engine_type(settings, self.jobs, self.store)
        self.limiter = RateLimiter(settings.rate_per_min, settings.rate_burst)
        self._admit = threading.Lock()
        self._stopping = threading.Event()
        self._sweeper = threading.Thread(target=self._sweep_loop, name="headforge-sweeper", daemon=True)

    def start(self) -> None:
        self.engine.start()
        self._sweeper.start()

    def close(self) -> None:
        self._stopping.set()
        self.engine.close()
        if self._sweeper.is_alive():
            self._sweeper.join(timeout=5)
        self.jobs.close()

    # --- who is asking ----------------------------------------------------------------------

    def client(self, api_key: str | None, address: str) -> Client:
        """The client behind a request; raises UnauthorizedError when keys are on and missing."""
        if not self.settings.api_keys:
            return Client("", f"addr:{address}")
        if not api_key or not any(secrets.compare_digest(api_key, k) for k in self.settings.api_keys):
            raise UnauthorizedError("a valid API key is needed (header X-API-Key)")
        owner = hashlib.sha256(api_key.encode()).hexdigest()[:16]
        return Client(owner, f"key:{owner}")

    def check_rate(self, client: Client) -> None:
        """Count one work request (a new job, a re-export) against the client's limit."""
        wait = self.limiter.take(client.rate_key)
        if wait:
            raise RateLimitedError("too many requests; slow down and try again shortly", max(1, math.ceil(wait)))

    # --- jobs -------------------------------------------------------------------------------

    def create_job(self, request: NewJob, client: Client) -> Job:
        """Check the request and the photo, store the photo and queue the job."""
        s = self.settings
        backend = check_backend(request.backend or s.default_backend)
        if request.texture_size not in TEXTURE_SIZES:
            raise BadRequestError(f"texture_size must be one of {', '.join(map(str, TEXTURE_SIZES))}")
        intensity_vector(request.emotions)  # raises EmotionError (bad_emotion)
        hair = hair_styles.check_choice(request.hair)
        if request.body not in BODY_CHOICES:
            raise BadRequestError(f"body must be one of {', '.join(BODY_CHOICES)}")
        check_body_shape(request.body_shape)
        if request.licence not in VRM_LICENCES:
            raise BadRequestError(f"licence must be one of {', '.join(VRM_LICENCES)}")
        upload = accept_upload(request.photo, s.max_upload_bytes, s.max_pixels)
        if self.engine.broker() is False:
            raise UnavailableError("the job queue is unreachable; try again shortly", s.retry_after_s)
        if not self.engine.workers().get(backend):
            raise UnavailableError(f"no worker is serving the {backend} back-end now; try again shortly",
                                   s.retry_after_s)
        options = {
            "hair": hair,
            "emotions": {k: float(v) for k, v in request.emotions.items()},
            "texture_size": request.texture_size,
            "keep_expression": request.keep_expression,
            "body": request.body,
            "body_shape": {k: float(v) for k, v in request.body_shape.items()},
            "licence": request.licence,
            "orientation": upload.orientation,
            "single_face": s.single_face,
            "max_pixels": s.max_pixels,
        }
        with self._admit:
            if self.jobs.count_active() >= s.max_queue:
                raise QueueFullError("the queue is full; try again shortly", s.retry_after_s)
            job = Job(id=secrets.token_urlsafe(16), backend=backend, options=options, owner=client.owner)
            try:
                self.store.put(upload_key(job.id), upload.data)
                self.jobs.add(job)
            except ServiceError:  # storage_full, storage_unavailable: nothing is queued or kept
                self.store.delete_prefix(job.id)
                raise
        try:
            self.engine.submit(job)
        except Exception as e:  # noqa: BLE001 - broker down: the job cannot be queued
            log.error("job %s: could not be queued: %s", job.id, type(e).__name__)
            self.delete_job(job.id, client)
            raise UnavailableError("the job queue is unreachable; try again shortly", self.settings.retry_after_s) from None
        log.info("job %s queued (%s, %d x %d %s)", job.id, backend, upload.width, upload.height, upload.format)
        return job

    def get_job(self, job_id: str, client: Client) -> Job:
        job = self.jobs.get(job_id) if _JOB_ID.match(job_id) else None
        if job is None or job.owner != client.owner:
            raise NotFoundError("no such job (it may have expired or been deleted)")
        return job

    def result_file(self, job_id: str, name: str, client: Client) -> bytes:
        """``avatar.zip``, ``avatar.glb`` or ``params.json`` of a finished job."""
        job = self._done_job(job_id, client)
        data = self.store.get(result_key(job.id, name)) if name in RESULT_FILES else None
        if data is None:
            raise NotFoundError(f"job {job.id} has no file {name!r}")
        return data

    def delete_job(self, job_id: str, client: Client) -> None:
        """Delete all of the job's files and state, then the job (a running job's worker drops
        its results). When the store or the broker is away this raises and the job stays."""
        job = self.get_job(job_id, client)
        self._remove(job.id)
        log.info("job %s deleted", job.id)

    def _remove(self, job_id: str) -> None:
        self.store.delete_prefix(job_id)
        self.engine.forget(job_id)
        self.jobs.delete(job_id)

    def expires_at(self, job: Job) -> float:
        return job.created_at + self.settings.job_ttl_s

    # --- re-exports -------------------------------------------------------------------------

    def create_export(self, job_id: str, client: Client, emotions: dict[str, float], hair: str | None,
                      keep_expression: bool | None, max_strands: int | None = None,
                      hair_cards: str = "web") -> str:
        """The export id of the job's head with ``emotions`` and ``hair`` (None: as the job asked);
        ``max_strands`` thins the GLB's hair for a light preview; ``hair_cards``: the budget of
        its hair cards ("web" or "high")."""
        job = self._done_job(job_id, client)
        spec = ExportSpec.make(
            emotions,
            job.options["hair"] if hair is None else hair,
            job.options["keep_expression"] if keep_expression is None else keep_expression,
            max_strands,
            hair_cards,
        )
        return create_export(self.store, job.id, spec)

    def export_file(self, job_id: str, export_id: str, name: str, client: Client) -> bytes:
        job = self._done_job(job_id, client)
        data = None
        if _EXPORT_ID.match(export_id):
            if name == "avatar.glb":
                data = self.store.get(export_key(job.id, export_id, name))
            elif name == "avatar.zip":
                data = export_zip(self.store, job.id, export_id)
        if data is None:
            raise NotFoundError(f"job {job.id} has no export {export_id!r} with a file {name!r}")
        return data

    def _done_job(self, job_id: str, client: Client) -> Job:
        job = self.get_job(job_id, client)
        if job.state != DONE:
            raise NotReadyError(f"job {job.id} is {job.state}, not done")
        return job

    # --- hairstyles, health -----------------------------------------------------------------

    def hairstyles(self) -> list[hair_styles.HairstyleSummary]:
        return hair_styles.catalogue()

    def hairstyle_thumbnail(self, style_id: str) -> bytes:
        return hair_styles.thumbnail(style_id)

    def readiness(self) -> dict:
        """Whether new jobs can be taken and run: the broker (if any) and the store answer and
        the default back-end has a worker; ``status`` "ok", else "degraded". Also the queue's fill."""
        broker = self.engine.broker()
        store = self.store.ping()
        workers = self.engine.workers()
        ready = broker is not False and store and workers.get(self.settings.default_backend, 0) > 0
        return {
            "ready": ready,
            "status": "ok" if ready else "degraded",
            "broker": broker,
            "store": store,
            "workers": workers,
            "queue": {"active": self.jobs.count_active(), "limit": self.settings.max_queue},
        }

    # --- retention ----------------------------------------------------------------------------

    def sweep(self, now: float | None = None) -> int:
        """Delete jobs (and files) older than the TTL, and files no job owns any more; returns
        the number of jobs deleted."""
        now = time.time() if now is None else now
        cutoff = now - self.settings.job_ttl_s
        expired = self.jobs.created_before(cutoff)
        for job_id in expired:
            self._remove(job_id)
        for prefix in self.store.stale_prefixes(cutoff):
            if self.jobs.get(prefix) is None:
                self.store.delete_prefix(prefix)
        if expired:
            log.info("swept %d expired job(s)", len(expired))
        return len(expired)

    def _sweep_loop(self) -> None:
        while not self._stopping.wait(self.settings.sweep_interval_s):
            try:
                self.sweep()
            except Exception:  # noqa: BLE001 - try again next round
                log.warning("sweep failed", exc_info=True)
