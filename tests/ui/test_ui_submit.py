"""The Submit page in Chromium (issue 17): a job as YAML, the form and the YAML editor as two
views of one job, server errors at the field they name (nested ones at their closest field), an
edit of a pending job that clears what the user emptied, and a cron job from the same form.

Each test ends by checking the page logged no console error but the 400s it provoked."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
import yaml

from tests.ui.support import ADMIN_TOKEN, FINAL, KjsUi, Tab, expect, sign_in

pytestmark = pytest.mark.k8s


def _open_submit(kjs_ui: KjsUi, page: Any, query: str = "") -> Any:
    sign_in(page, ADMIN_TOKEN)
    page.goto(kjs_ui.url + "/ui/submit" + query)
    form = page.locator("form[data-testid=submit-form]")
    expect(form).to_be_visible()
    return form


def _editor(form: Any) -> Any:
    """Switch to the YAML editor and return its textarea."""
    form.locator("button[data-action=editor]").click()
    document = form.locator("textarea[name=document]")
    expect(document).to_be_visible()
    return document


def _shown_yaml(form: Any) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(form.locator("textarea[name=document]").input_value())
    return data


def _error(form: Any, field: str) -> Any:
    return form.locator(f"[data-error-for='{field}']")


def _jobs_in(kjs_ui: KjsUi, namespace: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = kjs_ui.api(
        "GET", "/api/v1/jobs", params={"namespace": namespace}
    ).json()["items"]
    return items


def _far_ahead() -> str:
    """A start time that keeps a job pending for the whole test."""
    return (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_job_submitted_as_yaml_runs_to_success(
    kjs_ui: KjsUi, page: Any, k8s_namespace: str
) -> None:
    form = _open_submit(kjs_ui, page)
    document = _editor(form)
    document.fill(
        f"name: from-yaml\n"
        f"namespace: {k8s_namespace}\n"
        "image: busybox\n"
        "command: [sh, -c, 'echo \"hello: yaml\"']\n"
        "labels:\n"
        "  team: data\n"
        "env:\n"
        "  GREETING: 'yes'\n"
    )
    form.locator("button[type=submit]").click()

    expect(page).to_have_url(re.compile(r"/ui/jobs/[^/?]+$"))
    job_id = page.url.rsplit("/", 1)[1]
    expect(page.locator("[data-testid=job-detail]")).to_have_attribute("data-job-id", job_id)
    assert kjs_ui.wait_for_state(job_id, *FINAL, timeout=90) == "succeeded"
    job = kjs_ui.api("GET", f"/api/v1/jobs/{job_id}").json()
    assert job["command"] == ["sh", "-c", 'echo "hello: yaml"']
    assert job["labels"] == {"team": "data"}
    assert job["env"] == {"GREETING": "yes"}  # quoted in YAML, so a string, not true
    # The job page's spec is YAML too, and reads back as the job's fields.
    shown = yaml.safe_load(page.locator("[data-testid=job-spec] pre").inner_text())
    assert shown["command"] == job["command"] and shown["env"] == {"GREETING": "yes"}


def test_a_yaml_syntax_error_is_shown_at_the_editor(
    kjs_ui: KjsUi, page: Any, k8s_namespace: str
) -> None:
    form = _open_submit(kjs_ui, page)
    document = _editor(form)
    document.fill(f"name: broken\nnamespace: {k8s_namespace}\n  image: : busybox\n")
    form.locator("button[type=submit]").click()

    error = _error(form, "document")
    expect(error).to_contain_text(re.compile(r"Line 3, column \d+: "))
    expect(document).to_be_visible()
    # Going back to the form refuses too: the document stays, with the same message.
    form.locator("button[data-action=editor]").click()
    expect(document).to_be_visible()
    expect(error).to_contain_text("Line 3")
    expect(page).to_have_url(re.compile(r"/ui/submit$"))
    assert _jobs_in(kjs_ui, k8s_namespace) == []
    # Fixed, the message goes away as one types (no submit needed).
    document.fill(f"name: fixed\nnamespace: {k8s_namespace}\nimage: busybox\n")
    expect(error).to_be_hidden()


def test_the_form_and_the_yaml_are_two_views_of_one_job(kjs_ui: KjsUi, page: Any) -> None:
    form = _open_submit(kjs_ui, page)
    form.locator("[name=name]").fill("round-trip")
    form.locator("[name=namespace]").fill("team-a")
    form.locator("[name=image]").fill("busybox:1.36")
    form.locator("[name=command]").fill("sh -c 'echo \"$GREETING\"'")
    form.locator("[name=log_collect]").select_option("always")
    form.locator("[name=env_key]").fill("GREETING")
    form.locator("[name=env_value]").fill("hello world")
    form.locator("[name=label_key]").fill("team")
    form.locator("[name=label_value]").fill("a")
    form.locator("summary", has_text="More options").click()
    form.locator("[name=cpu_request]").fill("250m")
    form.locator("[name=memory_limit]").fill("128Mi")
    form.locator("[name=parallelism]").fill("2")
    form.locator("[name=backoff_limit]").fill("3")
    form.locator("[name=ttl_seconds_after_finished]").fill("60")
    form.locator("[name=cluster]").fill("c1, c2")
    form.locator("[name=cluster_selector]").fill("region=eu, gpu=true")
    form.locator("[name=image_pull_policy]").select_option("IfNotPresent")
    form.locator("[name=service_account]").fill("runner")
    form.locator("[name=callback_url]").fill("https://hooks.example.com/kjs")

    _editor(form)
    expected = {
        "name": "round-trip",
        "namespace": "team-a",
        "image": "busybox:1.36",
        "command": ["sh", "-c", 'echo "$GREETING"'],
        "env": {"GREETING": "hello world"},
        "resources": {"requests": {"cpu": "250m"}, "limits": {"memory": "128Mi"}},
        "labels": {"team": "a"},
        "parallelism": 2,
        "backoff_limit": 3,
        "ttl_seconds_after_finished": 60,
        "image_pull_policy": "IfNotPresent",
        "service_account": "runner",
        "cluster": ["c1", "c2"],
        "cluster_selector": {"region": "eu", "gpu": "true"},
        "log_collect": "always",
        "callback_url": "https://hooks.example.com/kjs",
    }
    assert _shown_yaml(form) == expected

    # An edit in the YAML shows in the form, and the form gives the same job back.
    edited = {**expected, "labels": {"team": "a", "tier": "batch"}, "cluster": "c2"}
    form.locator("textarea[name=document]").fill(yaml.safe_dump(edited))
    form.locator("button[data-action=editor]").click()
    expect(form.locator("[name=label_key]")).to_have_count(2)
    expect(form.locator("[name=label_key]").nth(1)).to_have_value("tier")
    expect(form.locator("[name=cluster]")).to_have_value("c2")
    expect(form.locator("[name=memory_limit]")).to_have_value("128Mi")
    expect(form.locator("[name=env_value]")).to_have_value("hello world")
    _editor(form)
    assert _shown_yaml(form) == edited


def test_a_nested_field_error_shows_at_its_closest_field(
    kjs_ui: KjsUi, tab: Tab, k8s_namespace: str
) -> None:
    page = tab.page
    tab.allow_console("status of 400")  # Chromium logs the refused POST
    form = _open_submit(kjs_ui, page)
    form.locator("[name=name]").fill("nested-error")
    form.locator("[name=namespace]").fill(k8s_namespace)
    form.locator("[name=image]").fill("busybox")
    form.locator("[name=command]").fill("true")
    form.locator("summary", has_text="More options").click()
    form.locator("[name=cpu_request]").fill("lots")
    form.locator("details.more summary").click()  # closed again: an error must open it
    expect(form.locator("[name=cpu_request]")).to_be_hidden()
    form.locator("button[type=submit]").click()

    error = _error(form, "resources")
    expect(error).to_be_visible()
    expect(error).to_contain_text("requests.cpu")
    expect(form.locator("[name=cpu_request]")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/ui/submit$"))
    assert _jobs_in(kjs_ui, k8s_namespace) == []


def test_an_edit_clears_the_fields_the_user_emptied(
    kjs_ui: KjsUi, page: Any, k8s_namespace: str
) -> None:
    job_id = kjs_ui.submit(
        k8s_namespace,
        "to-edit",
        "true",
        run_at=_far_ahead(),
        callback_url="https://hooks.example.com/kjs",
        env={"KEEP": "1", "DROP": "2"},
        labels={"team": "a", "tier": "batch"},
    )
    before = kjs_ui.api("GET", f"/api/v1/jobs/{job_id}").json()
    form = _open_submit(kjs_ui, page, f"?edit={job_id}")
    expect(form.locator("[name=schedule]")).to_have_count(0)  # an edit stays a job
    callback = form.locator("[name=callback_url]")
    expect(callback).to_be_visible()  # "More options" opened by itself: it has a value
    callback.fill("")
    form.locator(".env-row", has=page.locator("[name=env_key][value=DROP]")).get_by_role(
        "button", name="Remove this variable"
    ).click()
    form.locator(".label-row", has=page.locator("[name=label_key][value=tier]")).get_by_role(
        "button", name="Remove this label"
    ).click()
    form.locator("button[type=submit]").click()

    expect(page).to_have_url(re.compile(rf"/ui/jobs/{job_id}$"))
    job = kjs_ui.api("GET", f"/api/v1/jobs/{job_id}").json()
    assert job["callback_url"] is None
    assert job["env"] == {"KEEP": "1"}
    assert job["labels"] == {"team": "a"}
    assert job["state"] == "pending"
    # What the user left alone is as it was.
    for field in ("run_at", "command", "namespace", "image", "ttl_seconds_after_finished"):
        assert job[field] == before[field], field

    # In the YAML editor, a field taken out is cleared too.
    form = _open_submit(kjs_ui, page, f"?edit={job_id}")
    document = _editor(form)
    shown = _shown_yaml(form)
    assert shown["labels"] == {"team": "a"} and "callback_url" not in shown
    del shown["labels"]
    document.fill(yaml.safe_dump({**shown, "env": {}}))
    form.locator("button[type=submit]").click()
    expect(page).to_have_url(re.compile(rf"/ui/jobs/{job_id}$"))
    job = kjs_ui.api("GET", f"/api/v1/jobs/{job_id}").json()
    assert (job["labels"], job["env"], job["run_at"]) == ({}, {}, before["run_at"])


def test_a_cron_job_from_the_form(kjs_ui: KjsUi, tab: Tab, k8s_namespace: str) -> None:
    page = tab.page
    tab.allow_console("status of 400")
    form = _open_submit(kjs_ui, page)
    form.locator("[name=name]").fill("nightly")
    form.locator("[name=namespace]").fill(k8s_namespace)
    form.locator("[name=image]").fill("busybox")
    form.locator("[name=command]").fill("true")
    form.locator("[name=schedule]").fill("every night")
    submit = form.locator("button[type=submit]")
    expect(submit).to_have_text("Create cron job")
    submit.click()
    expect(_error(form, "schedule")).not_to_be_empty()

    form.locator("[name=schedule]").fill("0 3 1 1 *")
    form.locator("[name=time_zone]").fill("Mars/Olympus_Mons")
    submit.click()
    expect(_error(form, "time_zone")).not_to_be_empty()
    expect(_error(form, "schedule")).to_be_empty()

    form.locator("[name=time_zone]").fill("Europe/Paris")
    submit.click()
    expect(page).to_have_url(re.compile(r"/ui/crons/[^/?]+$"))
    cron_id = page.url.rsplit("/", 1)[1]
    cron = kjs_ui.api("GET", f"/api/v1/cronjobs/{cron_id}").json()
    assert (cron["name"], cron["schedule"], cron["time_zone"]) == (
        "nightly",
        "0 3 1 1 *",
        "Europe/Paris",
    )
    assert _jobs_in(kjs_ui, k8s_namespace) == []  # a cron job, not a job
