"""One job, from its stored upload to its stored results: what every worker runs.

A job's ``spec`` (JSON-ready) holds the options it was created with: ``backend``,
``texture_size``, ``keep_expression``, ``emotions``, ``hair``, ``orientation`` (EXIF, applied
after decoding), ``single_face`` and ``max_pixels``. The upload is deleted once the job ends,
whatever the outcome; if the worker dies first it stays, so the job can run again. A job that
fails keeps nothing in the store (no partial set of results).

Limits, so that one job cannot take its worker down: a time limit checked at every stage
boundary (:class:`~.errors.TimedOutError`), and a memory budget on top of the loaded worker,
enforced by the kernel as an address-space limit (RLIMIT_AS): an allocation past it fails in
the job (MemoryError and the like, see :func:`out_of_memory`) and the worker lives on.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable

from headforge.service.backends import check_backend, load_backend
from headforge.service.errors import MemoryLimitError, NotFoundError, TimedOutError
from headforge.service.layout import upload_key
from headforge.service.storage import Store

Report = Callable[[str, float], None]
EXPORT_START = 0.92  # progress when the pipeline is done and the files are written
# How numpy, torch, OpenCV and threads say that an allocation failed.
_NO_MEMORY = ("can't allocate memory", "bad_alloc", "Insufficient memory", "Cannot allocate memory",
              "can't start new thread")


def limit_threads(threads: int) -> None:
    """Cap the compute threads of this process (call before numpy, torch or cv2 are imported),
    so that N workers on N cores do not fight over them."""
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        os.environ[name] = str(threads)


def timed_out(timeout_s: float) -> TimedOutError:
    return TimedOutError(f"the reconstruction took longer than {timeout_s:g} s")


def over_memory(memory_mb: int) -> MemoryLimitError:
    if memory_mb:
        return MemoryLimitError(f"the reconstruction needed more than the {memory_mb} MB of memory a job may use")
    return MemoryLimitError("the reconstruction ran out of memory")


def out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` is a failed allocation (a job over its memory budget)."""
    return isinstance(error, MemoryError) or any(s in str(error) for s in _NO_MEMORY)


def cap_memory(budget_mb: int) -> None:
    """Let this process's address space grow by at most ``budget_mb`` MB beyond its size now
    (RLIMIT_AS). Linux only: elsewhere nothing is capped."""
    import resource

    try:
        with open("/proc/self/status") as f:
            size = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
    except (OSError, StopIteration):
        return
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = size + budget_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))


class JobRunner:
    """Holds the loaded back-ends of one worker process and runs jobs with them, each within
    ``timeout_s`` seconds (None: no limit) and ``memory_mb`` MB beyond the worker as it is at
    its first job (0: no limit)."""

    def __init__(self, store: Store, threads: int = 1, *, timeout_s: float | None = None, memory_mb: int = 0):
        self.store = store
        self.threads = threads
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self._loaded: dict[str, Callable] = {}
        self._memory_capped = False

    def load(self, backend: str) -> Callable:
        """The back-end's reconstruct callable, loaded on first use (seconds: models). Raises
        ModelError when its files are not on this machine."""
        if check_backend(backend) not in self._loaded:
            import cv2
            import torch

            cv2.setNumThreads(self.threads)
            torch.set_num_threads(self.threads)
            self._loaded[backend] = load_backend(backend)
        return self._loaded[backend]

    def run(self, job_id: str, spec: dict, report: Report) -> dict[str, float]:
        """Reconstruct, export and store the job's results; returns seconds per stage, and
        ``job``: the whole run in this worker, and ``job_cpu``: the CPU seconds it took (all
        threads). Raises HeadforgeError (the job fails with its code) or anything else (internal)."""
        from headforge.io.image import load_photo
        from headforge.pipeline import Options
        from headforge.service import hair, results
        from headforge.core.images import upright
        from headforge.service.layout import result_key, upload_prefix

        reconstruct = self.load(spec["backend"])
        if self.memory_mb and not self._memory_capped:
            cap_memory(self.memory_mb)  # the loaded worker is what the budget adds to
            self._memory_capped = True
        report = self._with_deadline(report)
        started, cpu = time.perf_counter(), time.process_time()
        data = self.store.get(upload_key(job_id))
        if data is None:
            raise NotFoundError("the job's photo is gone (the job was deleted or has expired)")
        try:
            report("load", 0.0)
            photo = load_photo(data, max_pixels=spec["max_pixels"])
            rgb = upright(photo.rgb, spec["orientation"])
            options = Options(texture_size=spec["texture_size"], keep_expression=spec["keep_expression"],
                              emotions=dict(spec["emotions"]), single_face=spec["single_face"],
                              hair=hair.from_photo(spec["hair"]), body=spec.get("body", "head"),
                              body_shape=dict(spec.get("body_shape", {})), licence=spec.get("licence", "personal"))
            avatar = reconstruct(rgb, options, lambda stage, share: report(stage, share * EXPORT_START))
            report("export", EXPORT_START)
            t0 = time.perf_counter()
            head = hair.with_hair(avatar, spec["hair"])
            archive = results.zip_bytes(head)
            members = results.zip_members(archive, "avatar.glb", "avatar.vrm", "params.json")
            textures = results.textures_from_zip(archive)
            self._check_wanted(job_id)
            self.store.put(result_key(job_id, "head.npz"), results.head_npz(avatar, textures))
            for name, content in members.items():
                self.store.put(result_key(job_id, name), content)
            self.store.put(result_key(job_id, "avatar.zip"), archive)
            self._check_wanted(job_id)  # deleted while writing: remove what was written
            timings = dict(avatar.params.get("timings_s", {}))
            timings["export"] = round(time.perf_counter() - t0, 4)
            timings["job"] = round(time.perf_counter() - started, 4)
            timings["job_cpu"] = round(time.process_time() - cpu, 4)
        except Exception:
            self.store.delete_prefix(job_id)  # the upload and whatever was written
            raise
        self.store.delete_prefix(upload_prefix(job_id))
        return timings

    def _with_deadline(self, report: Report) -> Report:
        """``report`` that first raises TimedOutError once the job is past its time limit."""
        if self.timeout_s is None:
            return report
        deadline = time.monotonic() + self.timeout_s

        def checked(stage: str, progress: float) -> None:
            if time.monotonic() > deadline:
                raise timed_out(self.timeout_s)
            report(stage, progress)

        return checked

    def _check_wanted(self, job_id: str) -> None:
        """The upload stays until the job ends; without it the job was deleted meanwhile."""
        if not self.store.exists(upload_key(job_id)):
            self.store.delete_prefix(job_id)
            raise NotFoundError("the job was deleted while it ran")
