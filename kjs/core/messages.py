"""Queue messages (CONTRACT §8): msgspec structs carrying their schema version `v`.

Consumers accept their own version and the previous one, for rolling upgrades. Every message is
delivered at least once; every consumer is idempotent.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import msgspec
from msgspec import Struct, field

SCHEMA_VERSION = 1
ACCEPTED_VERSIONS = frozenset({SCHEMA_VERSION, SCHEMA_VERSION - 1})

STATUS_TOPIC = "kjs.status"
LOGS_TOPIC = "kjs.logs"
HEARTBEAT_TOPIC = "kjs.heartbeat"
WEBHOOK_TOPIC = "kjs.webhook"  # outbox only: delivered by the notifier, never published
# Replica -> replicas: "there is work to place" (a submit, or room freed, seen by a follower);
# each replica reads it on a channel of its own that vanishes with it.
WAKE_TOPIC = "kjs.wake"
SERVER_CHANNEL = "server"
AGENT_CHANNEL = "agent"


def dispatch_topic(cluster_id: str) -> str:
    return f"kjs.dispatch.{cluster_id}"


def control_topic(cluster_id: str) -> str:
    return f"kjs.control.{cluster_id}"


class Dispatch(Struct, kw_only=True, tag="dispatch"):
    """Server -> agent: create this object (idempotent: the name is derived from the id)."""

    v: int = SCHEMA_VERSION
    job_id: str
    attempt: int
    kind: Literal["job", "cronjob"] = "job"
    manifest: dict[str, Any]
    log_collect: str = "on_failure"
    replaces: str | None = None  # the previous attempt's object, deleted first
    # Stamped at each publish: an agent creates nothing after it. The server moves a dispatch
    # off a silent cluster only once every copy it published has expired (plus clock skew),
    # so a copy that waited in the broker can never create the job a second time.
    expires_at: dt.datetime | None = None


class Control(Struct, kw_only=True, tag="control"):
    """Server -> agent: act on an existing object.

    `stream_logs`: someone follows this attempt's log; stream its containers now, from the
    start, as `log_collect: always` would, and collect them whole at its end (so the follow ends
    complete). Sent once per follow request: an agent that restarted forgot it, and the next
    follow asks again. An agent older than this action cannot decode it and drops it (logged)."""

    v: int = SCHEMA_VERSION
    action: Literal["cancel", "suspend", "resume", "resend_logs", "stream_logs"]
    job_id: str
    attempt: int
    namespace: str
    k8s_name: str
    kind: Literal["job", "cronjob"] = "job"
    detail: dict[str, Any] = field(default_factory=dict)


class JobRef(Struct, kw_only=True):
    """A job as the server knows it: the attempt its cluster should still have."""

    job_id: str
    attempt: int
    namespace: str
    k8s_name: str
    state: str


class Reconcile(Struct, kw_only=True, tag="reconcile"):
    """Server -> agent: these jobs are active on your cluster as far as the server knows.

    The agent reports each again from its cache; one whose Kubernetes Job is gone from the
    cluster (deleted by its TTL or a user while no agent watched) is reported `failed`, reason
    `JobDeleted` (or `cancelled`, if it was being cancelled): without this a job whose Job
    vanished unseen would stay `running`, or `lost`, for ever. Sent every `[dispatch]
    reconcile_s`, and at once when the cluster has `lost` jobs."""

    v: int = SCHEMA_VERSION
    cluster_id: str
    jobs: list[JobRef] = field(default_factory=list)


class StatusEvent(Struct, kw_only=True, tag="status"):
    """Agent -> server: what an attempt's object looks like now (level-triggered)."""

    v: int = SCHEMA_VERSION
    cluster_id: str
    job_id: str
    attempt: int
    state: str
    at: dt.datetime
    reason: str | None = None
    message: str | None = None
    pod: str | None = None
    exit_codes: dict[str, dict[str, int]] = field(default_factory=dict)
    cron_id: str | None = None
    k8s_name: str | None = None
    namespace: str | None = None  # the object's (an older attempt's may differ from the job's)
    # For a final state: the last log chunk's sequence number per "pod/container".
    last_log_seq: dict[str, int] = field(default_factory=dict)
    # For a final state: the bytes of log sent per "pod/container" (all chunks together).
    log_bytes: dict[str, int] = field(default_factory=dict)


LOG_CHUNK_BYTES = 64 * 1024


class LogChunk(Struct, kw_only=True, tag="log"):
    """Agent -> server: a piece of one container's log.

    Chunk `seq` holds the log's bytes [seq * LOG_CHUNK_BYTES, (seq + 1) * LOG_CHUNK_BYTES): the
    boundaries are fixed, so whoever sends a chunk again (a restarted agent, a new leader) sends
    the same bytes. While a container runs, a chunk may arrive early holding only a prefix of
    those bytes; a longer version of it replaces the shorter one."""

    v: int = SCHEMA_VERSION
    job_id: str
    attempt: int
    pod: str
    container: str
    seq: int
    data: bytes
    truncated: bool = False


class ResourceAmounts(Struct, kw_only=True):
    """CPU, memory and pods: of a cluster's nodes together, or the most on any one node."""

    cpu_millis: int = 0
    memory_bytes: int = 0
    pods: int = 0


class Heartbeat(Struct, kw_only=True, tag="heartbeat"):
    """Agent -> server: the cluster is alive, with its load and capacity.

    The resource figures count the ready, schedulable nodes: `allocatable` theirs, `free` that
    less what the non-terminal pods bound to them request (every pod's, whoever created it;
    never below 0 per node), `largest_free_node` each resource's largest free figure on one
    node. `resources_at` is the moment they are from (the heartbeat's own while the agent's
    watches are in sync; older while one is broken). All absent from an agent before these
    fields, or one that cannot read nodes and pods; `resources_partial`: the agent may not read
    every namespace's pods, so `free` counts only its own namespaces' pods (too high)."""

    v: int = SCHEMA_VERSION
    cluster_id: str
    at: dt.datetime
    labels: dict[str, str] = field(default_factory=dict)
    version: str | None = None
    capacity: int = 0
    running: int = 0
    pending: int = 0
    allocatable: ResourceAmounts | None = None
    free: ResourceAmounts | None = None
    largest_free_node: ResourceAmounts | None = None
    resources_at: dt.datetime | None = None
    resources_partial: bool = False


class Wake(Struct, kw_only=True, tag="wake"):
    """Server replica -> the leader: place pending work now rather than at the next sweep."""

    v: int = SCHEMA_VERSION
    by: str = ""


Message = Dispatch | Control | Reconcile | StatusEvent | LogChunk | Heartbeat | Wake
_decoder = msgspec.json.Decoder(Message)


def encode(message: Message) -> bytes:
    return msgspec.json.encode(message)


class UnsupportedVersion(ValueError):
    """A message from a version this process does not understand."""


def decode(body: bytes) -> Message:
    """Decode any queue message; refuse versions outside ACCEPTED_VERSIONS."""
    try:
        message: Message = _decoder.decode(body)
    except UnicodeDecodeError as e:  # how msgspec before 0.23 said it; one error for all readers
        raise msgspec.DecodeError(f"the message is not UTF-8: {e}") from e
    if message.v not in ACCEPTED_VERSIONS:
        raise UnsupportedVersion(
            f"message schema v{message.v}; this kjs accepts {sorted(ACCEPTED_VERSIONS)}"
        )
    return message
