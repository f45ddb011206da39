"""The server's services: the job and cron-job services behind every route, the status consumer,
and the leader's tasks (placement, relay, webhooks, cron ticks, liveness, reconcile, retention).

Built on `kjs.core`'s contracts only: no HTTP here (that is `kjs.api`), no backend (`kjs.plugins`).
"""
