"""The avatar service behind the web page and the HTTP API.

- :mod:`.config`: settings from the environment (``HEADFORGE_*``);
- :mod:`.jobs`: the SQLite job store (queued -> running -> done | failed, stage, progress);
- :mod:`.storage`: uploads and results by key, on a local folder or in Redis;
- :mod:`.intake`: upload checks and metadata stripping, before anything is stored;
- :mod:`.backends`: the reconstruction back-ends a job can ask for;
- :mod:`.runner`: one job from stored upload to stored results (what every worker runs);
- :mod:`.engine`: who runs the jobs: a local process pool or Celery workers on Redis;
- :mod:`.exports`: re-exports (other emotions, another hairstyle) without re-fitting;
- :mod:`.hair`: the hairstyle catalogue and try-on, when :mod:`headforge.hair` is installed;
- :mod:`.ratelimit`: per-client token buckets;
- :mod:`.service`: :class:`~.service.AvatarService`, what the HTTP routes call.
"""
