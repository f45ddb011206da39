"""What a job asks of a cluster: CPU and memory requested, and pods, in total.

A job's total request is its pod's request (`resources.requests`, else `resources.limits` — as
Kubernetes does, a limit without a request is the request — else `[scheduling]
default_requests`) times the pods it runs at once (`parallelism`, 1 when unset, never more than
`completions`). Pure: computed once per spec by the store, kept beside the job
(`request_cpu_millis`, `request_memory_bytes`) so that usage is a sum over an index, and by
placement to check a cluster's free figures.
"""

from __future__ import annotations

from collections.abc import Callable

from msgspec import Struct

from kjs.core.models import JobSpec
from kjs.core.quantity import MAX_TOTAL, QuantityError, cpu_millicores, memory_bytes

DEFAULT_CPU = "100m"
DEFAULT_MEMORY = "128Mi"


class Requests(Struct, frozen=True):
    """CPU (millicores) and memory (bytes) requested, and pods: of one pod, or of a whole job."""

    cpu_millis: int
    memory_bytes: int
    pods: int = 1


DEFAULT_REQUESTS = Requests(cpu_millicores(DEFAULT_CPU), memory_bytes(DEFAULT_MEMORY))


def default_requests(cpu: str = DEFAULT_CPU, memory: str = DEFAULT_MEMORY) -> Requests:
    """One pod's request when its spec names none (raises QuantityError on a bad quantity)."""
    return Requests(cpu_millicores(cpu), memory_bytes(memory))


def _amount(
    requested: str | None, limit: str | None, parse: Callable[[str], int], default: int
) -> int:
    for text in (requested, limit):
        if text is not None:
            try:
                return parse(text)
            except QuantityError:
                break  # validated at submit; a row written otherwise counts as the default
    return default


def pods_of(spec: JobSpec) -> int:
    """How many pods the job runs at once."""
    pods = 1 if spec.parallelism is None else spec.parallelism
    return pods if spec.completions is None else min(pods, spec.completions)


def pod_requests(spec: JobSpec, defaults: Requests = DEFAULT_REQUESTS) -> Requests:
    """One pod's request."""
    resources = spec.resources
    requests = resources.requests if resources is not None else None
    limits = resources.limits if resources is not None else None
    return Requests(
        cpu_millis=_amount(
            requests.cpu if requests else None,
            limits.cpu if limits else None,
            cpu_millicores,
            defaults.cpu_millis,
        ),
        memory_bytes=_amount(
            requests.memory if requests else None,
            limits.memory if limits else None,
            memory_bytes,
            defaults.memory_bytes,
        ),
    )


def job_requests(spec: JobSpec, defaults: Requests = DEFAULT_REQUESTS) -> Requests:
    """The job's total request: one pod's times the pods it runs at once, clamped to `MAX_TOTAL`
    (so the stored figure fits a BIGINT and sums of many jobs stay exact)."""
    pods = pods_of(spec)
    if spec.resources is None and pods == 1:
        return defaults  # most jobs: nothing to parse (placement asks this of every job)
    pod = pod_requests(spec, defaults)
    return Requests(
        min(pod.cpu_millis * pods, MAX_TOTAL), min(pod.memory_bytes * pods, MAX_TOTAL), pods
    )


def cpu_text(millis: int) -> str:
    """Millicores as a person reads them: `1.5 CPU`, `250m CPU`."""
    if millis % 1000 == 0:
        return f"{millis // 1000} CPU"
    if millis >= 1000:
        return f"{millis / 1000:.1f} CPU"
    return f"{millis}m CPU"


def memory_text(amount: int) -> str:
    """Bytes as a person reads them: `4Gi`, `900Mi`, `1.5Gi`."""
    for unit, size in (("Ti", 1 << 40), ("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)):
        if amount >= size:
            value = amount / size
            return f"{value:.0f}{unit}" if value == int(value) else f"{value:.1f}{unit}"
    return f"{amount}B"
