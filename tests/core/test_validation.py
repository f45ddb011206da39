"""Submit-time validation: each rule, and the field and message it reports."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import msgspec
import pytest

from kjs.core.models import CronSpec, JobSpec
from kjs.core.validation import (
    FieldError,
    InvalidInput,
    check_cron,
    check_job,
    decode,
    decode_json,
    problem,
)

NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
BASE = {"name": "backup", "namespace": "ops", "image": "alpine:3.20"}


def errors(**fields: Any) -> dict[str, str]:
    spec = decode(json.dumps({**BASE, **fields}).encode(), JobSpec)
    return {e.field: e.message for e in check_job(spec, now=NOW)}


def decode_error(body: dict[str, Any] | str) -> tuple[str, str]:
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    with pytest.raises(InvalidInput) as e:
        decode(raw, JobSpec)
    (error,) = e.value.errors
    return error.field, error.message


def test_a_valid_job_has_no_errors() -> None:
    assert errors() == {}
    assert (
        errors(
            env={"A": "1", "B": {"secret": {"name": "s", "key": "k"}}},
            labels={"team": "x"},
            resources={"requests": {"cpu": "100m"}, "limits": {"cpu": "1"}},
            cluster=["a", "b"],
            run_at="2027-01-01T00:00:00Z",
            callback_url="https://hooks.example.com/done",
        )
        == {}
    )


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"name": "a", "namespace": "b"}, "image", "Object missing required field `image`"),
        ({**BASE, "bogus": 1}, "bogus", "Object contains unknown field `bogus`"),
        ({**BASE, "parallelism": "3"}, "parallelism", "Expected `int | null`, got `str`"),
        ({**BASE, "backoff_limit": -1}, "backoff_limit", "Expected `int` >= 0"),
        ({**BASE, "backoff_limit": 2**31}, "backoff_limit", "Expected `int` <= 2147483647"),
        ({**BASE, "active_deadline_seconds": 0}, "active_deadline_seconds", "Expected `int` >= 1"),
        ({**BASE, "restart_policy": "Always"}, "restart_policy", "Invalid enum value 'Always'"),
        ({**BASE, "log_collect": "yes"}, "log_collect", "Invalid enum value 'yes'"),
        ({**BASE, "command": ["a", 3]}, "command[1]", "Expected `str`, got `int`"),
        ({**BASE, "env": {"OK": "1", "FOO": 5}}, "env.FOO", "Expected `str | object`, got `int`"),
        (
            {**BASE, "env": {"FOO": {"secret": {"name": "s"}}}},
            "env.FOO.secret.key",
            "Object missing required field `key`",
        ),
        ({**BASE, "labels": {"a": 1}}, "labels.a", "Expected `str`, got `int`"),
        (
            {**BASE, "resources": {"requests": {"gpu": "1"}}},
            "resources.requests.gpu",
            "Object contains unknown field `gpu`",
        ),
        ({**BASE, "run_at": "tomorrow"}, "run_at", "Invalid RFC3339 encoded datetime"),
        ("[1]", "$", "Expected `object`, got `array`"),
    ],
)
def test_shape_errors_name_the_field(body: dict[str, Any] | str, field: str, message: str) -> None:
    assert decode_error(body) == (field, message)


def test_malformed_json() -> None:
    field, message = decode_error("{bad")
    assert field == "$" and message.startswith("invalid JSON")


@pytest.mark.parametrize(
    ("fields", "field", "message_part"),
    [
        ({"name": "Backup"}, "name", "lowercase RFC 1123 label"),
        ({"name": "-x"}, "name", "lowercase RFC 1123 label"),
        ({"name": "a" * 64}, "name", "must be no more than 63 characters"),
        ({"namespace": "ops_team"}, "namespace", "lowercase RFC 1123 label"),
        ({"image": "Alpine:3"}, "image", "valid image reference"),
        ({"image": "alpine latest"}, "image", "valid image reference"),
        ({"image": ""}, "image", "valid image reference"),
        ({"env": {"A=B": "x"}}, "env.A=B", "printable ASCII characters except '='"),
        (
            {
                "env": {
                    "X": {
                        "secret": {"name": "s", "key": "k"},
                        "config_map": {"name": "c", "key": "k"},
                    }
                }
            },
            "env.X",
            "exactly one of secret or config_map",
        ),
        (
            {"env": {"X": {"secret": {"name": "S", "key": "k"}}}},
            "env.X.secret.name",
            "RFC 1123 subdomain",
        ),
        ({"env_from": [{}]}, "env_from[0]", "exactly one of secret or config_map"),
        (
            {"resources": {"requests": {"cpu": "lots"}}},
            "resources.requests.cpu",
            "not a Kubernetes quantity",
        ),
        (
            {"resources": {"requests": {"memory": "8Ei"}}},
            "resources.requests.memory",
            "must be at most 1Pi",
        ),
        (
            {"resources": {"limits": {"cpu": "1e60"}}},
            "resources.limits.cpu",
            "must be at most 1125899906842624m",
        ),
        (
            {"resources": {"requests": {"cpu": "1e400"}}},
            "resources.requests.cpu",
            "exponent is out of range",
        ),
        (
            {"resources": {"requests": {"cpu": "\u0663"}}},
            "resources.requests.cpu",
            "not a Kubernetes quantity",
        ),
        (
            {"resources": {"requests": {"memory": "-1Gi"}}},
            "resources.requests.memory",
            "is negative",
        ),
        (
            {"resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "500m"}}},
            "resources.requests.cpu",
            "less than or equal to cpu limit",
        ),
        ({"labels": {"bad key!": "x"}}, "labels.bad key!", "name part must consist"),
        ({"labels": {"a": "v" * 64}}, "labels.a", "no more than 63 characters"),
        ({"labels": {"a": "-v"}}, "labels.a", "a label value must be empty or consist"),
        ({"labels": {"kjs.io/job-id": "x"}}, "labels.kjs.io/job-id", "reserved"),
        (
            {"labels": {"app.kubernetes.io/managed-by": "me"}},
            "labels.app.kubernetes.io/managed-by",
            "reserved",
        ),
        ({"annotations": {"/x": "1"}}, "annotations./x", "prefix part must be non-empty"),
        ({"completion_mode": "Indexed"}, "completions", "required when completion_mode is Indexed"),
        ({"image_pull_secrets": ["Reg"]}, "image_pull_secrets[0]", "RFC 1123 subdomain"),
        ({"service_account": "a_b"}, "service_account", "RFC 1123 subdomain"),
        ({"node_selector": {"k": "v v"}}, "node_selector.k", "a label value must be empty"),
        (
            {"tolerations": [{"operator": "Equal", "value": "x"}]},
            "tolerations[0].operator",
            "must be Exists when key is empty",
        ),
        (
            {"tolerations": [{"key": "k", "operator": "Exists", "value": "x"}]},
            "tolerations[0].value",
            "must be empty when operator is Exists",
        ),
        (
            {"tolerations": [{"key": "k", "toleration_seconds": 5}]},
            "tolerations[0].effect",
            "must be NoExecute",
        ),
        (
            {"security_context": {"runAsUsr": 1}},
            "security_context.runAsUsr",
            "not a field of a pod security context",
        ),
        ({"run_at": "2027-12-01T00:00:00Z"}, "run_at", "at most 366 days ahead"),
        ({"run_at": "2026-12-01T00:00:00"}, "run_at", "with a UTC offset"),
        ({"cluster": "Prod_1"}, "cluster", "cluster id is a lowercase RFC 1123 label"),
        ({"cluster": ["a", "a"]}, "cluster", "names a cluster twice"),
        ({"cluster": []}, "cluster", "at least one cluster"),
        ({"cluster": ["ok", "x" * 41]}, "cluster[1]", "at most 40 characters"),
        ({"cluster_selector": {"zone": "eu west"}}, "cluster_selector.zone", "label value"),
        ({"callback_url": "ftp://example.com/x"}, "callback_url", "absolute http:// or https://"),
        ({"callback_url": "http://127.0.0.1:9000/hook"}, "callback_url", "private, loopback"),
        ({"callback_url": "http://10.1.2.3/hook"}, "callback_url", "private, loopback"),
        ({"callback_url": "http://[::1]/hook"}, "callback_url", "private, loopback"),
    ],
)
def test_rules_as_kubernetes_judges_them(
    fields: dict[str, Any], field: str, message_part: str
) -> None:
    found = errors(**fields)
    assert field in found, found
    assert message_part in found[field]


def test_a_past_run_at_means_now_and_is_accepted() -> None:
    assert errors(run_at="2020-01-01T00:00:00Z") == {}


def test_private_callbacks_are_allowed_when_configured() -> None:
    spec = decode(json.dumps({**BASE, "callback_url": "http://127.0.0.1/x"}).encode(), JobSpec)
    assert check_job(spec, now=NOW, allow_private_callbacks=True) == []


def cron_errors(**fields: Any) -> dict[str, str]:
    body = {**BASE, "schedule": "*/5 * * * *", **fields}
    spec = decode(json.dumps(body).encode(), CronSpec)
    return {e.field: e.message for e in check_cron(spec, now=NOW)}


def test_cron_rules() -> None:
    assert cron_errors() == {}
    assert cron_errors(schedule="61 * * * *") == {
        "schedule": "end of range (61) above maximum (59): 61"
    }
    assert "time_zone" in cron_errors(time_zone="Nowhere/City")
    assert "cluster" in cron_errors(cluster=["a", "b"])  # native: one cluster
    assert cron_errors(cluster=["a", "b"], mode="managed") == {}
    assert "start_at" in cron_errors(start_at="2028-01-01T00:00:00Z")


def test_problem_details_shape() -> None:
    found = check_job(decode(json.dumps({**BASE, "name": "X"}).encode(), JobSpec), now=NOW)
    body = problem(found)
    assert body["status"] == 400 and body["title"] == "Invalid input"
    assert body["errors"] == [{"field": "name", "message": found[0].message}]
    assert body["detail"].startswith("name: ")


def test_bodies_that_are_not_utf8_read_alike_on_an_older_msgspec(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """msgspec 0.22 raised UnicodeDecodeError where 0.23 raises DecodeError: same 400."""

    def older(body: bytes, **_: Any) -> Any:
        return body.decode()

    monkeypatch.setattr(msgspec.json, "decode", older)
    body = b'{"name": "\xff", "namespace": "ops", "image": "busybox"}'
    expected = [FieldError("$", "invalid JSON: the body is not UTF-8 (byte 0xff at 10)")]
    for read in (lambda: decode(body, JobSpec), lambda: decode_json(body)):
        with pytest.raises(InvalidInput) as refused:
            read()
        assert refused.value.errors == expected
