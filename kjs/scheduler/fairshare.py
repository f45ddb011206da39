"""Each queue's fair share now, as placement measures it (docs/queues.md "Fair share"): the
figures the leader's gauges export and `GET /api/v1/queues` answers. The measure is
`kjs.core.shares`; what it is of — the ready clusters, without resource figures older than
`[dispatch] unreachable_after_s` — and each queue's weight are placement's, taken from the same
functions so that what is shown is what placement compares."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from kjs.core import queues, shares
from kjs.core.components import Components
from kjs.core.queues import QueueDefinition, QueueRecord
from kjs.core.records import ClusterRecord
from kjs.core.shares import Totals
from kjs.core.usage import QueueUsageSummary
from kjs.scheduler.placement import without_stale_figures


class Share(NamedTuple):
    share: float  # dominant share of the ready clusters, 0..1 (more when a cluster shrank)
    weighted: float  # share ÷ weight: placement places next from the queue lowest in it


@dataclass(frozen=True)
class FairShare:
    """Which clusters the shares are of, and the queues' weights, as placement has them."""

    cluster_state: Callable[[ClusterRecord, dt.datetime], str]
    figures_max_age: dt.timedelta
    configured: Mapping[str, QueueDefinition]

    @classmethod
    def of(cls, components: Components) -> FairShare:
        return cls(
            cluster_state=components.cluster_state,
            figures_max_age=dt.timedelta(seconds=components.settings.dispatch.unreachable_after_s),
            configured=queues.configured(components.settings.scheduling.queues),
        )

    def totals(self, clusters: Iterable[ClusterRecord], at: dt.datetime) -> Totals:
        """What the ready clusters have (the figures of a silent agent left out)."""
        return shares.totals(
            without_stale_figures(c, at, self.figures_max_age)
            for c in clusters
            if self.cluster_state(c, at) == "ready"
        )

    def weights(self, stored: Iterable[QueueRecord]) -> dict[str, float]:
        """Every queue's weight: the store's, the configuration's where both name one."""
        found = {r.name: r.definition.weight for r in stored}
        return found | {name: d.weight for name, d in self.configured.items()}


def share_of(usage: QueueUsageSummary | None, weight: float, of: Totals) -> Share:
    """A queue's share of `of` from what its placed, unfinished jobs hold (`usage`), and that
    ÷ its weight."""
    if usage is None:
        return Share(0.0, 0.0)
    share = shares.dominant_share(usage.running, usage.cpu_millis, usage.memory_bytes, of)
    return Share(share, share / weight)
