"""The agent's Kubernetes access: the official client's asyncio API, plus raw list+watch."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from typing import Any, TypeVar

from kjs.agent.records import Decoder

MANAGED = "app.kubernetes.io/managed-by=kjs"
# Objects per list page: a list of tens of thousands of pods is never one body in memory.
PAGE = 500
T = TypeVar("T")


_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


async def api_client(kubeconfig: str | None = None, context: str | None = None) -> Any:
    """A kubernetes.aio ApiClient: from the kubeconfig (or its default), or in-cluster."""
    from kubernetes.aio import config

    if kubeconfig is None and context is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        config.load_incluster_config()  # type: ignore[no-untyped-call]
        from kubernetes.aio import client

        api = client.ApiClient()
    else:
        api = await config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=kubeconfig, context=context
        )
    if not any(os.environ.get(v) or os.environ.get(v.upper()) for v in _PROXY_VARIABLES):
        # No proxy to find: aiohttp would still look for one (and for a netrc) in a worker
        # thread before every request, a thread hop per create.
        session = dict(getattr(api.configuration, "client_session_kwargs", None) or {})
        api.configuration.client_session_kwargs = {"trust_env": False, **session}
    return api


async def create(api: Any, path: str, body: dict[str, Any]) -> None:
    """POST `body` (a plain dict) to `path`, as the generated client's create methods do but
    without their models: the agent reads nothing of the answer, and building and checking a
    whole Job model each way costs more than the request. Raises ApiException as they do."""
    from kubernetes.aio.client.exceptions import ApiException

    method, url, headers, data, form = await api.param_serialize(
        method="POST",
        resource_path=path,
        header_params={"Accept": "application/json", "Content-Type": "application/json"},
        body=body,
        auth_settings=["BearerToken"],
    )
    response = await api.call_api(method, url, header_params=headers, body=data, post_params=form)
    answer = await response.read()
    if not 200 <= response.status < 300:
        raise ApiException(
            status=response.status, reason=response.reason, body=answer.decode(errors="replace")
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

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


async def _refused(response: Any) -> RefusedError:
    try:
        body = json.loads(await response.read())
    except ValueError:
        body = {}
    finally:
        response.release()
    reason = body.get("reason") or response.reason
    message = f"{response.status} {reason}: {body.get('message', '')}".strip()
    return RefusedError(message, int(response.status))


async def list_objects(list_call: Any, decoder: Decoder[T], **kwargs: Any) -> tuple[list[T], str]:
    """One list (page by page, all from one snapshot) and the resourceVersion to watch from."""
    items: list[T] = []
    token: str | None = None
    while True:
        page = {"limit": PAGE, **({"_continue": token} if token else {})}
        response = await list_call(**page, **kwargs)
        if response.status >= 400:
            raise await _refused(response)
        try:
            data = decoder.list.decode(await response.read())
        finally:
            response.release()
        items.extend(data.items or ())
        token = data.metadata.continue_
        if not token:
            return items, data.metadata.resource_version


async def watch_objects(
    list_call: Any, decoder: Decoder[T], resource_version: str, **kwargs: Any
) -> AsyncIterator[tuple[str, T | dict[str, Any]]]:
    """Watch events as (type, record) from `resource_version`, bookmarks included, until the
    server ends the stream. A 410 Gone arrives as an ERROR event (its Status as a dict): the
    caller lists again."""
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
                yield decoder.event(line)
    finally:
        response.release()
