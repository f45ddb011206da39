"""Configuration: file < environment < flags; one-line errors naming the key."""

from __future__ import annotations

import json
import logging
import tomllib
from pathlib import Path

import msgspec
import pytest

from kjs.core.config import ConfigError, load


def test_defaults_are_the_embedded_mode() -> None:
    s = load(environ={})
    assert (s.store, s.queue, s.balancer, s.log_sink, s.election) == (
        "sqlite",
        "memory",
        "leastload",
        "db",
        "db",
    )
    assert s.dispatch.ack_timeout_s == 30 and s.logs.retention_days == 30
    assert s.logs.cap_bytes_per_container == 10 * 1024 * 1024
    assert s.webhooks.retry_for_s == 86400 and s.webhooks.allow_private is False


def test_file_then_environment_then_flags(tmp_path: Path) -> None:
    config = tmp_path / "kjs.toml"
    config.write_text(
        'store = "mysql"\nport = 9000\n[mysql]\nurl = "mysql+pymysql://a@b/c"\n'
        '[nsq]\nnsqd_tcp = ["127.0.0.1:4150"]\n'
    )
    env = {
        "KJS_PORT": "9100",
        "KJS_NSQ__NSQD_HTTP": '["127.0.0.1:4151"]',
        "KJS_DISPATCH__ACK_TIMEOUT_S": "5",
        "KJS_AGENT__CREATE_NAMESPACES": "true",
        "KJS_URL": "http://client-side-only",
    }
    s = load(config, environ=env, overrides={"port": 9200, "host": None})
    assert s.store == "mysql" and s.mysql.url == "mysql+pymysql://a@b/c"
    assert s.port == 9200  # the flag wins; a flag left unset (None) changes nothing
    assert s.host == "127.0.0.1"
    assert s.nsq.nsqd_tcp == ["127.0.0.1:4150"] and s.nsq.nsqd_http == ["127.0.0.1:4151"]
    assert s.dispatch.ack_timeout_s == 5 and s.agent.create_namespaces is True


def test_unknown_environment_variables_are_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        load(
            environ={
                "KJS_COLOUR": "red",
                "KJS_SHAPE": "round",
                "KJS_TOKEN": "t",
                "KJS_CONFIG": "kjs.toml",
            }
        )
    (record,) = caplog.records
    assert record.getMessage() == (
        "ignoring unknown KJS_* environment variables: KJS_COLOUR, KJS_SHAPE"
    )


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"KJS_PORT": "eighty"}, "port: Expected `int`, got `str`"),
        (
            {"KJS_DISPATCH__ACK_TIMEOUT_S": "soon"},
            "dispatch.ack_timeout_s: Expected `float`, got `str`",
        ),
        ({"KJS_LOGS__BOGUS": "1"}, "logs.bogus: Object contains unknown field `bogus`"),
    ],
)
def test_invalid_values_name_the_key(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as e:
        load(environ=environ)
    assert str(e.value) == message


def test_a_broken_file_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("store = \n")
    with pytest.raises(ConfigError, match=r"^config file .*bad\.toml: "):
        load(config, environ={})


GOOD_SHA = "a" * 64


@pytest.mark.parametrize(
    ("token", "message"),
    [
        (
            {"name": "ci", "sha256": GOOD_SHA, "scopes": ["read", "wrte"]},
            "auth.tokens[0].scopes: unknown scope 'wrte' (read, submit, admin)",
        ),
        (
            {"name": "ci", "sha256": GOOD_SHA, "scopes": []},
            "auth.tokens[0].scopes: empty (read, submit, admin)",
        ),
        (
            {"name": "ci", "sha256": "my-secret-token", "scopes": ["read"]},
            "auth.tokens[0].sha256: must be the token's SHA-256 as 64 hex digits "
            "(got 15 characters; `printf %s TOKEN | sha256sum`)",
        ),
        (
            {"name": "ci", "sha256": "g" * 64, "scopes": ["read"]},
            "auth.tokens[0].sha256: must be the token's SHA-256 as 64 hex digits "
            "(got 64 characters; `printf %s TOKEN | sha256sum`)",
        ),
    ],
)
def test_a_token_that_could_never_work_is_a_configuration_error(
    token: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError) as e:
        load(environ={"KJS_AUTH__TOKENS": json.dumps([token])})
    assert str(e.value) == message
    assert "my-secret-token" not in str(e.value)  # it may be the token itself: never echoed


def test_the_failing_token_is_named_by_its_position(tmp_path: Path) -> None:
    config = tmp_path / "kjs.toml"
    config.write_text(
        "[auth]\ntokens = [\n"
        f'  {{name = "a", sha256 = "{GOOD_SHA}", scopes = ["admin"]}},\n'
        f'  {{name = "b", sha256 = "{GOOD_SHA.upper()}", scopes = ["submit", "Read"]}},\n'
        "]\n"
    )
    with pytest.raises(ConfigError, match=r"^auth\.tokens\[1\]\.scopes: unknown scope 'Read' "):
        load(config, environ={})


def test_tokens_load_from_the_json_list_the_chart_passes() -> None:
    tokens = [{"name": "ci", "sha256": GOOD_SHA.upper(), "scopes": ["read", "submit"]}]
    s = load(environ={"KJS_AUTH__TOKENS": json.dumps(tokens)})  # the chart's KJS_AUTH__TOKENS
    assert [(t.name, t.scopes) for t in s.auth.tokens] == [("ci", ["read", "submit"])]


def test_http_timeouts_default_and_must_be_positive() -> None:
    s = load(environ={})
    assert (s.http.header_timeout_s, s.http.body_timeout_s) == (10, 30)
    s = load(environ={"KJS_HTTP__HEADER_TIMEOUT_S": "1", "KJS_HTTP__BODY_TIMEOUT_S": "2.5"})
    assert (s.http.header_timeout_s, s.http.body_timeout_s) == (1, 2.5)
    with pytest.raises(ConfigError) as e:
        load(environ={"KJS_HTTP__BODY_TIMEOUT_S": "0"})
    assert str(e.value) == "http.body_timeout_s: Expected `float` > 0.0"


# Every key kjs has, each with a value other than its default (CONTRACT §2, contract-notes).
EVERY_KEY = f"""
store = "mysql"
queue = "nsq"
balancer = "spread"
log_sink = "files"
notifier = "none"
election = "lease"
data_dir = "/var/lib/kjs"
host = "0.0.0.0"
port = 9000
insecure = true

[sqlite]
path = "/data/kjs.db"

[mysql]
url = "mysql+pymysql://kjs:pw@db:3306/kjs"
pool_size = 4

[nsq]
nsqd_tcp = ["nsqd:4150"]
nsqd_http = ["nsqd:4151"]
lookupd_http = ["lookupd:4161"]

[webhooks]
secret = "s3cret"
timeout_s = 3.5
retry_for_s = 3600.0
max_backoff_s = 60.0
allow_private = true

[auth]
tokens = [
  {{name = "ci", sha256 = "{GOOD_SHA}", scopes = ["admin"], namespaces = ["ci"], queues = ["gpu"]}},
]

[dispatch]
unreachable_after_s = 10.0
lost_after_s = 100.0
ack_timeout_s = 5.0
clock_skew_s = 1.0
sweep_s = 0.5
reconcile_s = 15.0

[logs]
cap_bytes_per_container = 1024
retention_days = 7.0
final_wait_s = 2.0

[agent]
namespaces = ["batch"]
create_namespaces = true
max_concurrent_jobs = 3
heartbeat_s = 2.0
resync_s = 30.0
labels = {{gpu = "yes"}}
lease_namespace = "kjs"
lease_s = 20.0

[http]
header_timeout_s = 2.0
body_timeout_s = 4.0

[logging]
format = "json"
level = "WARNING"

[scheduling.queues.gpu]
name = "gpu"
weight = 2.5
namespaces = ["ml"]
priority_class = "high"
preemption = false

[scheduling.priority_classes.high]
value = 1000
preemptible = true
description = "interactive work"

[scheduling.queues.gpu.limits]
max_running = 4
max_cpu = "8"
max_memory = "16Gi"
per_cluster = {{max_running = 2, max_cpu = "500m", max_memory = "1Gi"}}

[scheduling.default_requests]
cpu = "250m"
memory = "256Mi"

[scheduling.namespaces.ml]
max_running = 10
max_cpu = "16"
max_memory = "64Gi"
"""


def test_every_key_loads_from_the_file(tmp_path: Path) -> None:
    config = tmp_path / "kjs.toml"
    config.write_text(EVERY_KEY)
    s = load(config, environ={})
    # Equal as a whole: each key is read, and the file leaves none of kjs's keys out.
    assert msgspec.to_builtins(s) == tomllib.loads(EVERY_KEY)


def test_every_key_loads_from_the_environment(caplog: pytest.LogCaptureFixture) -> None:
    environ = {}
    for key, value in tomllib.loads(EVERY_KEY).items():
        for name, leaf in value.items() if isinstance(value, dict) else [(None, value)]:
            variable = f"KJS_{key.upper()}" + (f"__{name.upper()}" if name else "")
            environ[variable] = (
                leaf if isinstance(leaf, str) else json.dumps(leaf)  # true, 3.5, ["a"], [{…}]
            )
    with caplog.at_level(logging.WARNING):
        s = load(environ=environ)
    assert msgspec.to_builtins(s) == tomllib.loads(EVERY_KEY)
    assert caplog.records == []  # every one of them is a key


def test_a_misspelled_section_in_the_file_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "kjs.toml"
    config.write_text("[dispach]\nack_timeout_s = 5\n")
    with pytest.raises(ConfigError) as e:  # kjs's own sections only: no outside plugin's
        load(config, environ={"KJS_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert str(e.value) == (
        "[dispach]: no installed plugin declares this section (installed sections: agent, auth, "
        "compat, dispatch, http, logging, logs, mysql, nsq, scheduling, sqlite, webhooks)"
    )
