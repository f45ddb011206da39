"""The per-attempt state machine: monotonic, idempotent, attempt-aware."""

from __future__ import annotations

import itertools

import pytest

from kjs.core.states import FINAL_STATES, JobState, next_state

S = JobState
PATH = [S.PENDING, S.DISPATCHED, S.CREATED, S.RUNNING, S.SUCCEEDED]


def replay(events: list[JobState], start: JobState = S.PENDING) -> JobState:
    state = start
    for event in events:
        state = next_state(state, 1, event, 1) or state
    return state


def test_the_normal_path_and_a_fast_job_that_skips_running() -> None:
    assert replay(PATH[1:]) == S.SUCCEEDED
    assert replay([S.DISPATCHED, S.CREATED, S.FAILED]) == S.FAILED


@pytest.mark.parametrize("order", list(itertools.permutations(PATH[1:])))
def test_any_order_of_delivery_ends_in_the_final_state(order: tuple[JobState, ...]) -> None:
    assert replay(list(order)) == S.SUCCEEDED


def test_duplicates_change_nothing() -> None:
    assert next_state(S.RUNNING, 1, S.RUNNING, 1) is None
    assert next_state(S.SUCCEEDED, 1, S.SUCCEEDED, 1) is None


def test_a_late_event_never_moves_a_job_backwards() -> None:
    assert next_state(S.RUNNING, 1, S.CREATED, 1) is None
    assert next_state(S.RUNNING, 1, S.DISPATCHED, 1) is None


@pytest.mark.parametrize("final", sorted(FINAL_STATES))
@pytest.mark.parametrize("event", list(JobState))
def test_final_states_are_final(final: JobState, event: JobState) -> None:
    assert next_state(final, 1, event, 1) is None


def test_events_of_another_attempt_are_ignored() -> None:
    assert next_state(S.RUNNING, 2, S.FAILED, 1) is None
    assert next_state(S.PENDING, 2, S.SUCCEEDED, 1) is None
    assert next_state(S.RUNNING, 2, S.SUCCEEDED, 2) == S.SUCCEEDED


def test_cancelling_ends_cancelled_or_in_the_true_final_state() -> None:
    for state in (S.PENDING, S.DISPATCHED, S.CREATED, S.RUNNING, S.LOST):
        assert next_state(state, 1, S.CANCELLING, 1) == S.CANCELLING
    assert next_state(S.CANCELLING, 1, S.RUNNING, 1) is None
    assert next_state(S.CANCELLING, 1, S.CANCELLED, 1) == S.CANCELLED
    assert next_state(S.CANCELLING, 1, S.SUCCEEDED, 1) == S.SUCCEEDED


def test_lost_resolves_to_what_the_returning_cluster_reports() -> None:
    assert next_state(S.RUNNING, 1, S.LOST, 1) == S.LOST
    assert next_state(S.PENDING, 1, S.LOST, 1) is None  # never sent anywhere: cannot be lost
    assert next_state(S.LOST, 1, S.RUNNING, 1) == S.RUNNING
    assert next_state(S.LOST, 1, S.FAILED, 1) == S.FAILED
    assert next_state(S.LOST, 1, S.DISPATCHED, 1) is None
