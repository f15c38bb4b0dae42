"""Errors of the service itself (the pipeline's are in :mod:`headforge.errors`); each has a
stable ``code`` and the HTTP ``status`` it is answered with."""
from __future__ import annotations

from headforge.errors import HeadforgeError


class ServiceError(HeadforgeError):
    code = "service_error"
    status = 500


class NotFoundError(ServiceError):
    """No such job (never created, deleted, expired, or another key's)."""

    code = "not_found"
    status = 404


class NotReadyError(ServiceError):
    """The job has no result yet, or failed."""

    code = "not_ready"
    status = 409


class UnknownBackendError(ServiceError):
    code = "unknown_backend"
    status = 422


class BadRequestError(ServiceError):
    """A request field is malformed (the message says which)."""

    code = "bad_request"
    status = 422


class UnauthorizedError(ServiceError):
    code = "unauthorized"
    status = 401


class RateLimitedError(ServiceError):
    """Too many requests from one client; ``retry_after`` seconds until the next is allowed."""

    code = "rate_limited"
    status = 429

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class QueueFullError(ServiceError):
    """The job queue is at its bound; ``retry_after`` is a guess of when there will be room."""

    code = "queue_full"
    status = 503

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class UnavailableError(ServiceError):
    """The job queue cannot be reached (broker down)."""

    code = "unavailable"
    status = 503

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class StorageFullError(ServiceError):
    """The store has no room left (disk full, quota, Redis maxmemory)."""

    code = "storage_full"
    status = 507


class StorageUnavailableError(ServiceError):
    """The store cannot be written or reached (read-only, no permission, Redis down); answered
    with Retry-After."""

    code = "storage_unavailable"
    status = 503


class TimedOutError(ServiceError):
    """A job ran past its time limit (``HEADFORGE_JOB_TIMEOUT_S``); a job's failure, not an answer."""

    code = "timed_out"


class MemoryLimitError(ServiceError):
    """A job needed more memory than it may use (``HEADFORGE_JOB_MEMORY_MB``); a job's failure."""

    code = "memory_limit"
