"""Prometheus metrics of kjs's own work (HTTP metrics: kjs.api.metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

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

# Figures the leader computes from the store every few seconds (kjs.scheduler.gauges); cleared
# on a replica that stops leading, so that only the leader's are current.
JOBS = Gauge(
    "kjs_jobs", 'Jobs kept, by state and cluster ("": placed nowhere)', ["state", "cluster"]
)
WEBHOOKS_PENDING = Gauge(
    "kjs_webhook_deliveries_pending",
    "Webhook deliveries in the outbox: due now, or waiting to be retried",
    ["state"],
)
OUTBOX_DEPTH = Gauge(
    "kjs_outbox_depth",
    "Queue messages in the outbox: due now, or waiting (a dispatch, until acknowledged)",
    ["state"],
)
CLUSTER_CAPACITY = Gauge("kjs_cluster_capacity", "Jobs a cluster may run at once", ["cluster"])
CLUSTER_RUNNING = Gauge(
    "kjs_cluster_running",
    "Jobs the store knows occupy a cluster (created, running, …)",
    ["cluster"],
)
CLUSTER_FREE = Gauge(
    "kjs_cluster_free",
    "Slots left for placement: capacity less occupied and in flight",
    ["cluster"],
)
CLUSTER_HEARTBEAT_AGE = Gauge(
    "kjs_cluster_heartbeat_age_seconds", "Time since the cluster's agent last reported", ["cluster"]
)
# The agent's last resource figures (ready, schedulable nodes): no series for a cluster whose
# agent reports none.
CLUSTER_CPU_ALLOCATABLE = Gauge(
    "kjs_cluster_cpu_allocatable_millicores",
    "CPU the cluster's ready, schedulable nodes can give pods",
    ["cluster"],
)
CLUSTER_CPU_FREE = Gauge(
    "kjs_cluster_cpu_free_millicores",
    "CPU allocatable less every non-terminal pod's requests, as the agent last reported",
    ["cluster"],
)
CLUSTER_MEMORY_ALLOCATABLE = Gauge(
    "kjs_cluster_memory_allocatable_bytes",
    "Memory the cluster's ready, schedulable nodes can give pods",
    ["cluster"],
)
CLUSTER_MEMORY_FREE = Gauge(
    "kjs_cluster_memory_free_bytes",
    "Memory allocatable less every non-terminal pod's requests, as the agent last reported",
    ["cluster"],
)
CLUSTER_PODS_FREE = Gauge(
    "kjs_cluster_pods_free",
    "Pods the cluster's ready, schedulable nodes can still hold",
    ["cluster"],
)
CLUSTER_RESOURCES_AGE = Gauge(
    "kjs_cluster_resources_age_seconds",
    "Age of the cluster's resource figures (since the moment they are from)",
    ["cluster"],
)
CLUSTER_RESOURCE_GAUGES = (
    CLUSTER_CPU_ALLOCATABLE,
    CLUSTER_CPU_FREE,
    CLUSTER_MEMORY_ALLOCATABLE,
    CLUSTER_MEMORY_FREE,
    CLUSTER_PODS_FREE,
    CLUSTER_RESOURCES_AGE,
)
# Per queue (docs/queues.md): what waits and what holds a place, and what the latter request.
QUEUE_JOBS = Gauge(
    "kjs_queue_jobs",
    "A queue's jobs: pending, or running (placed and not final: dispatched … lost)",
    ["queue", "state"],
)
QUEUE_REQUESTED_CPU = Gauge(
    "kjs_queue_requested_cpu_millicores",
    "CPU requested by a queue's placed, unfinished jobs (requests x parallelism)",
    ["queue"],
)
QUEUE_REQUESTED_MEMORY = Gauge(
    "kjs_queue_requested_memory_bytes",
    "Memory requested by a queue's placed, unfinished jobs (requests x parallelism)",
    ["queue"],
)
# Fair share (docs/queues.md "Fair share"): what placement compares the queues by.
QUEUE_SHARE = Gauge(
    "kjs_queue_share",
    "A queue's dominant share of the ready clusters: what its placed, unfinished jobs request "
    "of their CPU or memory, whichever is larger (of their job slots without figures)",
    ["queue"],
)
QUEUE_WEIGHTED_SHARE = Gauge(
    "kjs_queue_weighted_share",
    "A queue's share divided by its weight: placement places next from the lowest",
    ["queue"],
)
QUEUE_GAUGES = (
    QUEUE_JOBS,
    QUEUE_REQUESTED_CPU,
    QUEUE_REQUESTED_MEMORY,
    QUEUE_SHARE,
    QUEUE_WEIGHTED_SHARE,
)
# Counted by placement's preemption (issue 19): each job of the queue cancelled to make room.
QUEUE_PREEMPTIONS = Counter(
    "kjs_queue_preemptions_total",
    "Jobs of a queue preempted (cancelled, then started again) to make room for a higher "
    "priority job",
    ["queue"],
)
CLUSTER_GAUGES = (
    CLUSTER_CAPACITY,
    CLUSTER_RUNNING,
    CLUSTER_FREE,
    CLUSTER_HEARTBEAT_AGE,
    *CLUSTER_RESOURCE_GAUGES,
)
LEADER_GAUGES = (JOBS, WEBHOOKS_PENDING, OUTBOX_DEPTH, *QUEUE_GAUGES, *CLUSTER_GAUGES)
# Every replica: 1 while it leads.
LEADER = Gauge(
    "kjs_leader", "1 while this replica leads (runs placement, webhooks, …)", ["replica"]
)

# Latencies as a user feels them (observed by whichever replica stores the news).
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, float("inf"))
ACCEPTED_TO_CREATED = Histogram(
    "kjs_job_accepted_to_created_seconds",
    "From a job being due (accepted, or its run_at) to its Kubernetes object's creation",
    buckets=LATENCY_BUCKETS,
)
TERMINATED_TO_STORED = Histogram(
    "kjs_job_terminated_to_stored_seconds",
    "From the agent seeing a job end to its final state being stored (logs included)",
    buckets=LATENCY_BUCKETS,
)
WEBHOOK_DELIVERIES = Counter(
    "kjs_webhook_deliveries_total",
    "Webhook delivery attempts, by outcome (delivered, retry, gave_up, unreadable)",
    ["outcome"],
)
for _outcome in ("delivered", "retry", "gave_up", "unreadable"):
    WEBHOOK_DELIVERIES.labels(outcome=_outcome)  # 0 until the first: a rate of 0, not no data
QUEUE_PUBLISH_ERRORS = Counter(
    "kjs_queue_publish_errors_total", "Outbox messages the queue refused to take"
)

# The agent's latency
AGENT_CREATE_LATENCY = Histogram(
    "kjs_agent_create_seconds",
    "From a dispatch's arrival to its Kubernetes object being created",
    ["cluster"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, float("inf")),
)
