"""b) load: 100 uploads from 20 concurrent clients against 2 workers and the default limits
(:mod:`headforge.bench.load`)."""
from __future__ import annotations

import secrets
from collections import Counter

from headforge.bench import load
from headforge.bench.hardening.common import db_attempts
from headforge.bench.hardening.report import Row, verdict
from headforge.bench.serving import (
    load_photos,
    served,
)

LOAD_CLIENTS, LOAD_PER_CLIENT, LOAD_BUDGET_S = 20, 5, 480


def load_rows() -> list[Row]:
    keys = [f"hardening-load-{i:02d}-{secrets.token_hex(8)}" for i in range(LOAD_CLIENTS)]
    photos = load_photos(None, LOAD_CLIENTS * LOAD_PER_CLIENT)
    with served(2, HEADFORGE_API_KEYS=",".join(keys)) as s:
        result = load.burst(s.url, keys, photos, budget_s=LOAD_BUDGET_S)
        attempts = db_attempts(s.data)
    finals = result.pop("finals")
    runs = {job_id: status.get("attempts", attempts.get(job_id)) for job_id, status in finals.items()}
    setup = (f"{LOAD_CLIENTS} clients x {LOAD_PER_CLIENT} uploads (astronaut, 512 px, no hair), each client its own "
             "API key (own rate bucket, default 30/min, burst 10); 2 workers, default queue limit; a refused upload "
             f"is sent again after its Retry-After, for at most {LOAD_BUDGET_S} s")
    r = result
    answered_ok = not r["unexpected_answers"] and not r["refusals_without_retry_after_or_json"]
    runs_seen = dict(sorted(Counter(runs.values()).items(), key=str))
    request, job = r["request_latency_s"], r["job_latency_s"]
    return [
        Row("load", "every request answered 202, or 429/503 with Retry-After and a JSON code",
            verdict(answered_ok and r["accepted"] == r["uploads"]),
            f"{r['requests']} requests for {r['uploads']} uploads: {r['answers']}; {r['accepted']} accepted; "
            f"refusals without Retry-After or JSON code: {r['refusals_without_retry_after_or_json']}. {setup}",
            {"setup": setup}),
        Row("load", "every accepted job ends done (none lost)",
            verdict(r["done"] == r["accepted"] and not r["not_ended"]),
            f"{r['done']}/{r['accepted']} done; failed {r['failed'] or 0}; gone {r['gone']}; "
            f"not ended {len(r['not_ended'])}"),
        Row("load", "no job duplicated (unique ids, each ran once)",
            verdict(r["accepted_unique"] == r["accepted"] == len(attempts) and all(n == 1 for n in runs.values())),
            f"{r['accepted_unique']} unique ids of {r['accepted']} accepted; {len(attempts)} jobs on the server; "
            f"runs per job (job table): {runs_seen}"),
        Row("load", "latency and throughput", verdict(r["done"] > 0),
            f"request (upload to answer) p50 {request['p50']} s, p95 {request['p95']} s; job (accepted to done, "
            f"queue wait included) p50 {job['p50']} s, p95 {job['p95']} s; {r['jobs_per_s']} jobs/s (done jobs over "
            f"first accept to last done); the last upload was accepted {r['uploads_wall_s']} s into the burst", r),
    ]
