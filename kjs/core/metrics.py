"""Prometheus metrics of kjs's own work (HTTP metrics come from Litestar's middleware)."""

from __future__ import annotations

from prometheus_client import Counter

JOBS_SUBMITTED = Counter("kjs_jobs_submitted_total", "Jobs accepted through the API")
STATE_CHANGES = Counter("kjs_job_state_changes_total", "Stored job state changes", ["state"])
DISPATCHES = Counter("kjs_dispatches_total", "Jobs placed on a cluster", ["cluster"])
OUTBOX_PUBLISHED = Counter("kjs_outbox_published_total", "Queue messages sent from the outbox")
QUEUE_MESSAGES = Counter(
    "kjs_queue_messages_total", "Messages consumed from agents", ["topic", "result"]
)
