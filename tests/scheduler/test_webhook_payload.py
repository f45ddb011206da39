"""The `webhook_payload` hook: a plugin's body for a job's webhook, kjs's own otherwise."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from kjs.core.hookspecs import hookimpl
from kjs.core.plugins import Plugins
from kjs.core.protocols import JobView
from kjs.core.states import JobState
from kjs.scheduler.webhooks import WebhookOrder, event_id, order_for
from kjs.testing.contracts.store import make_job


def _body(plugins: Plugins, **changes: Any) -> dict[str, Any]:
    job = make_job(1, state=JobState.SUCCEEDED, **changes)
    job = msgspec.structs.replace(
        job, spec=msgspec.structs.replace(job.spec, callback_url="https://hooks.example.com/")
    )
    [(_, raw)] = order_for(job, plugins)
    order = msgspec.json.decode(raw, type=WebhookOrder)
    assert order.event_id == event_id(job)  # the event id is kjs's, whatever the body
    body: dict[str, Any] = msgspec.json.decode(order.body)
    return body


class Short:
    @hookimpl
    def webhook_payload(self, job: JobView) -> dict[str, Any] | None:
        return {"id": job.id, "ok": True} if job.spec.labels.get("short") else None


class Broken:
    @hookimpl
    def webhook_payload(self, job: JobView) -> dict[str, Any] | None:
        raise RuntimeError("boom")


def test_kjs_sends_its_own_body_when_no_plugin_has_an_opinion() -> None:
    body = _body(Plugins(builtins=(), autoload=False, extra=[Short()]))
    assert body["event"] == "job.succeeded" and body["job"]["state"] == "succeeded"


def test_a_plugins_body_replaces_kjss() -> None:
    plugins = Plugins(builtins=(), autoload=False, extra=[Short()])
    job = make_job(1)
    labelled = msgspec.structs.replace(job.spec, labels={"short": "yes"})
    body = _body(plugins, id=job.id, spec=labelled)
    assert body == {"id": job.id, "ok": True}


def test_a_failing_plugin_is_logged_and_kjss_body_is_sent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    body = _body(Plugins(builtins=(), autoload=False, extra=[Broken()]))
    assert body["event"] == "job.succeeded"
    assert "plugin Broken failed in webhook_payload" in caplog.text


def test_the_compat_plugin_answers_for_the_originals_jobs_only() -> None:
    plugins = Plugins(builtins=("kjs.plugins.compat",), autoload=False, disabled=[])
    job = make_job(1)
    original = msgspec.structs.replace(job.spec, labels={"job_from": "k8s_job_scheduler"})
    assert _body(plugins, id=job.id, spec=original) == {
        "job_id": job.id,
        "success": True,
        "message": "type=Complete stauts=True cause=,",
    }
    assert _body(plugins)["event"] == "job.succeeded"
