"""The agent's Kubernetes access: the official client's asyncio API, plus raw list+watch."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from typing import Any

MANAGED = "app.kubernetes.io/managed-by=kjs"


async def api_client(kubeconfig: str | None = None, context: str | None = None) -> Any:
    """A kubernetes.aio ApiClient: from the kubeconfig (or its default), or in-cluster."""
    from kubernetes.aio import config

    if kubeconfig is None and context is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        config.load_incluster_config()  # type: ignore[no-untyped-call]
        from kubernetes.aio import client

        return client.ApiClient()
    return await config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=kubeconfig, context=context
    )


def api_error(e: Exception) -> tuple[int, str, str]:
    """(status, reason, message) of a Kubernetes API error; status 0 when it never answered."""
    from kubernetes.aio.client.exceptions import ApiException

    if not isinstance(e, ApiException):
        return 0, e.__class__.__name__, str(e)
    try:
        body = json.loads(e.body or "{}")
    except (TypeError, ValueError):
        body = {}
    return int(e.status or 0), body.get("reason") or str(e.reason), body.get("message") or str(e)


class RefusedError(RuntimeError):
    """The API server answered a list or watch with an error (e.g. 403: RBAC lacks a verb)."""


async def _refused(response: Any) -> RefusedError:
    try:
        body = json.loads(await response.read())
    except ValueError:
        body = {}
    finally:
        response.release()
    reason = body.get("reason") or response.reason
    return RefusedError(f"{response.status} {reason}: {body.get('message', '')}".strip())


async def list_objects(list_call: Any, **kwargs: Any) -> tuple[list[dict[str, Any]], str]:
    """One list (as plain dicts) and the resourceVersion to watch from."""
    response = await list_call(**kwargs)
    if response.status >= 400:
        raise await _refused(response)
    data = json.loads(await response.read())
    return data.get("items") or [], data["metadata"]["resourceVersion"]


async def watch_objects(
    list_call: Any, resource_version: str, **kwargs: Any
) -> AsyncIterator[dict[str, Any]]:
    """Watch events (plain dicts) from `resource_version`, bookmarks included, until the server
    ends the stream. A 410 Gone arrives as an ERROR event: the caller lists again."""
    response = await list_call(
        watch=True,
        resource_version=resource_version,
        allow_watch_bookmarks=True,
        timeout_seconds=240,
        **kwargs,
    )
    if response.status >= 400:
        raise await _refused(response)
    try:
        async for line in response.content:
            if line.strip():
                yield json.loads(line)
    finally:
        response.release()
