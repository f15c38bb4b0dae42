"""One job, from its stored upload to its stored results: what every worker runs.

A job's ``spec`` (JSON-ready) holds the options it was created with: ``backend``,
``texture_size``, ``keep_expression``, ``emotions``, ``hair``, ``orientation`` (EXIF, applied
after decoding), ``single_face`` and ``max_pixels``. The upload is deleted once the job ends,
whatever the outcome; if the worker dies first it stays, so the job can run again.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable

from headforge.service.backends import check_backend, load_backend
from headforge.service.errors import NotFoundError
from headforge.service.layout import upload_key
from headforge.service.storage import Store

Report = Callable[[str, float], None]
EXPORT_START = 0.92  # progress when the pipeline is done and the files are written


def limit_threads(threads: int) -> None:
    """Cap the compute threads of this process (call before numpy, torch or cv2 are imported),
    so that N workers on N cores do not fight over them."""
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        os.environ[name] = str(threads)


class JobRunner:
    """Holds the loaded back-ends of one worker process and runs jobs with them."""

    def __init__(self, store: Store, threads: int = 1):
        self.store = store
        self.threads = threads
        self._loaded: dict[str, Callable] = {}

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
        from headforge.service.intake import upright
        from headforge.service.layout import result_key, upload_prefix

        reconstruct = self.load(spec["backend"])
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
                              hair=hair.from_photo(spec["hair"]))
            avatar = reconstruct(rgb, options, lambda stage, share: report(stage, share * EXPORT_START))
            report("export", EXPORT_START)
            t0 = time.perf_counter()
            head = hair.with_hair(avatar, spec["hair"])
            archive = results.zip_bytes(head)
            members = results.zip_members(archive, "avatar.glb", "params.json")
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
            return timings
        finally:
            self.store.delete_prefix(upload_prefix(job_id))

    def _check_wanted(self, job_id: str) -> None:
        """The upload stays until the job ends; without it the job was deleted meanwhile."""
        if not self.store.exists(upload_key(job_id)):
            self.store.delete_prefix(job_id)
            raise NotFoundError("the job was deleted while it ran")
