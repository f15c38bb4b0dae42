"""Where a job's data lives in the store: every key starts with the job id.

``<id>/upload/photo`` (the stripped upload, until the job ends), ``<id>/result/<name>``
(``avatar.zip``, ``avatar.glb``, ``params.json``, ``head.npz``) and
``<id>/exports/<export id>/<name>`` (re-exports).
"""


def upload_key(job_id: str) -> str:
    return f"{job_id}/upload/photo"


def upload_prefix(job_id: str) -> str:
    return f"{job_id}/upload"


def result_key(job_id: str, name: str) -> str:
    return f"{job_id}/result/{name}"


def export_key(job_id: str, export_id: str, name: str) -> str:
    return f"{job_id}/exports/{export_id}/{name}"
