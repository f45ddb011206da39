"""Prometheus metrics of kjs's own work (HTTP metrics: kjs.api.metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

JOBS_SUBMITTED = Counter("kjs_jobs_submitted_total", "Jobs accepted through the API")
STATE_CHANGES = Counter("kjs_job_state_changes_total", "Stored job state changes", ["state"])
DISPATCHES = Counter("kjs_dispatches_total", "Jobs placed on a cluster", ["cluster"])
OUTBOX_PUBLISHED = Counter("kjs_outbox_published_total", "Queue messages sent from the outbox")
CONDITION_MISMATCHES = Counter(
    "kjs_condition_mismatches_total",
    "Final states decided from a Job's pods that its condition later contradicted",
)
QUEUE_MESSAGES = Counter(
    "kjs_queue_messages_total", "Messages consumed from agents", ["topic", "result"]
)

# The agent's
AGENT_LEADER = Gauge("kjs_agent_leader", "1 while this agent leads its cluster", ["cluster"])
AGENT_JOBS_CREATED = Counter(
    "kjs_agent_jobs_created_total", "Kubernetes objects created", ["cluster", "kind"]
)
AGENT_DISPATCHES_DROPPED = Counter(
    "kjs_agent_dispatches_dropped_total",
    "Dispatches not acted on: an expired copy, or an attempt fenced by a cancel",
    ["cluster", "reason"],
)
AGENT_STATUS_SENT = Counter(
    "kjs_agent_status_events_total", "Status events sent", ["cluster", "state"]
)
AGENT_LOG_BYTES = Counter("kjs_agent_log_bytes_total", "Log bytes sent", ["cluster"])
AGENT_WATCH_RESTARTS = Counter(
    "kjs_agent_watch_restarts_total", "Watches listed again", ["cluster", "kind"]
)
AGENT_API_ERRORS = Counter(
    "kjs_agent_api_errors_total", "Kubernetes API calls that failed", ["cluster", "status"]
)
LEADER_TASK_ERRORS = Counter(
    "kjs_leader_task_errors_total",
    "Failures in the leader's work (a whole pass, or one item of it), per task",
    ["task"],
)
