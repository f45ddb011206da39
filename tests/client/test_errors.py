"""What the SDK raises: the server's problem details, typed by status; a server that cannot
be reached; an answer it cannot read."""

from __future__ import annotations

import pickle

import httpx
import pytest

from kjs.client import (
    ApiError,
    Client,
    Conflict,
    FieldError,
    Forbidden,
    InvalidRequest,
    KjsError,
    NotFound,
    ServerUnreachable,
    Unauthorized,
    UnexpectedResponse,
)
from kjs.testing.procs import free_port
from tests.client.conftest import NAMESPACE, TOKENS, job
from tests.live import LiveServer


def test_bad_input_is_invalid_request_naming_each_field(kjs: Client) -> None:
    with pytest.raises(InvalidRequest) as caught:
        kjs.submit(
            {"name": "Bad_Name", "namespace": NAMESPACE, "image": "", "labels": {"bad key!": "v"}}
        )
    error = caught.value
    assert (error.status, error.title) == (400, "Invalid input")
    assert [e.field for e in error.errors] == ["name", "image", "labels.bad key!"]
    assert all(isinstance(e, FieldError) and e.message for e in error.errors)
    assert str(error) == "400: " + "; ".join(f"{e.field}: {e.message}" for e in error.errors)
    assert isinstance(error, ApiError) and isinstance(error, KjsError)


def test_a_job_without_an_image_names_the_missing_field(kjs: Client) -> None:
    with pytest.raises(InvalidRequest) as caught:
        kjs.submit({"name": "hello", "namespace": NAMESPACE})
    assert [e.field for e in caught.value.errors] == ["image"]
    assert str(caught.value).startswith("400: image: ")


def test_a_bad_query_parameter_is_named_too(kjs: Client) -> None:
    with pytest.raises(InvalidRequest) as caught:
        kjs.list(limit=0)
    assert [e.field for e in caught.value.errors] == ["limit"]


def test_not_found_and_conflict_carry_the_detail(kjs: Client) -> None:
    with pytest.raises(NotFound) as missing:
        kjs.get("00000000-0000-4000-8000-000000000000")
    assert missing.value.status == 404 and missing.value.errors == []
    assert str(missing.value) == f"404: {missing.value.detail}"
    assert "00000000-0000-4000-8000-000000000000" in missing.value.detail
    submitted = kjs.submit(job("final"))
    kjs.cancel(submitted.id)
    with pytest.raises(Conflict) as conflict:
        kjs.update(submitted.id, {"image": "alpine"})
    assert conflict.value.status == 409 and conflict.value.detail


def test_other_statuses_are_plain_api_errors(kjs: Client) -> None:
    with pytest.raises(ApiError) as caught:
        kjs.submit(job("huge", env={"BIG": "x" * (2 * 1024 * 1024)}))  # over the 1 MiB limit
    assert type(caught.value) is ApiError and caught.value.status == 413


def test_tokens_401_and_403(auth_server: LiveServer) -> None:
    with Client(auth_server.url) as anonymous, pytest.raises(Unauthorized) as no_token:
        anonymous.list()
    assert no_token.value.status == 401
    with Client(auth_server.url, "guess") as wrong, pytest.raises(Unauthorized) as bad_token:
        wrong.list()
    assert str(bad_token.value) == "401: invalid token"
    with Client(auth_server.url, TOKENS["reader"]) as reader:
        assert reader.list().items == []
        with pytest.raises(Forbidden) as refused:
            reader.submit(job())
    assert str(refused.value) == "403: token 'reader' lacks the 'submit' scope"
    with Client(auth_server.url, TOKENS["ops-team"]) as ops:
        assert ops.submit(job()).namespace == NAMESPACE
        with pytest.raises(Forbidden, match="may not use namespace 'prod'"):
            ops.submit({**job(), "namespace": "prod"})
        with pytest.raises(Forbidden):
            ops.submit_many([job(), {**job(), "namespace": "prod"}])


def test_an_unreachable_server_wraps_the_httpx_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with Client(url) as kjs, pytest.raises(ServerUnreachable) as caught:
        kjs.get("x")
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert caught.value.url == url and str(caught.value).startswith(
        f"kjs server at {url} unreachable"
    )
    assert isinstance(caught.value, KjsError) and not isinstance(caught.value, ApiError)
    assert str(pickle.loads(pickle.dumps(caught.value))) == str(caught.value)


def test_an_answer_that_is_not_problem_details(server: LiveServer) -> None:
    def proxy_page(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text="<html><body>Bad gateway</body></html>")

    with (
        Client(server.url, transport=httpx.MockTransport(proxy_page)) as kjs,
        pytest.raises(ApiError) as caught,
    ):
        kjs.get("x")
    assert (caught.value.status, caught.value.title) == (502, "Bad Gateway")
    assert str(caught.value) == "502: <html><body>Bad gateway</body></html>"

    def not_kjs(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"hello": "world"})

    with (
        Client(server.url, transport=httpx.MockTransport(not_kjs)) as kjs,
        pytest.raises(UnexpectedResponse, match="GET /jobs/x: unreadable answer"),
    ):
        kjs.get("x")


def test_errors_survive_pickling(kjs: Client) -> None:
    """(What multiprocessing and some task queues do with an exception.)"""
    with pytest.raises(InvalidRequest) as caught:
        kjs.submit({"name": "x", "namespace": NAMESPACE, "image": ""})
    copy = pickle.loads(pickle.dumps(caught.value))
    assert type(copy) is InvalidRequest
    assert (copy.status, copy.errors, str(copy)) == (400, caught.value.errors, str(caught.value))
