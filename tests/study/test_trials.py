"""The Optuna work queue of ``compare``: one claim per trial, duplicates resolved, dead workers' trials re-queued."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import optuna
from optuna.trial import TrialState

from yolo12l.study.trials import claim_waiting, ensure_grid, fail_stale, is_duplicate, is_stale, point_of

GRID = [("a", 0), ("a", 1)]


def new_study() -> optuna.Study:
    return optuna.create_study(storage=optuna.storages.InMemoryStorage(), direction="maximize")


def test_grid_is_queued_once_and_claimed_once():
    study = new_study()
    assert ensure_grid(study, GRID, retry_failed=True) == 2
    assert ensure_grid(study, GRID, retry_failed=True) == 0  # already waiting
    first, second = claim_waiting(study), claim_waiting(study)
    assert claim_waiting(study) is None
    points = {point_of(study._storage.get_trial(t._trial_id)) for t in (first, second)}
    assert points == set(GRID)
    assert all(study._storage.get_trial(t._trial_id).user_attrs["worker"].endswith(f":{os.getpid()}")
               for t in (first, second))


def test_racing_duplicates_run_once():
    study = new_study()
    for _ in range(2):  # two processes queued the same point at the same moment
        study.enqueue_trial({"variant": "a", "seed": 0}, user_attrs={"variant": "a", "seed": 0})
    later = [t for t in study.trials if t.number == 1][0]
    # the later trial is claimed first: the earlier one is still waiting, so the later one must not run
    assert study._storage.set_trial_state_values(later._trial_id, TrialState.RUNNING)
    assert is_duplicate(study, optuna.Trial(study, later._trial_id)) == 0
    earlier = claim_waiting(study)
    assert earlier.number == 0 and is_duplicate(study, earlier) is None


def test_dead_worker_is_stale_and_its_point_requeued():
    study = new_study()
    ensure_grid(study, GRID[:1], retry_failed=True)
    trial = claim_waiting(study)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    study._storage.set_trial_user_attr(trial._trial_id, "worker", f"{socket.gethostname()}:{dead.pid}")
    frozen = study._storage.get_trial(trial._trial_id)
    assert is_stale(frozen, grace_s=3600)  # a dead pid on this host: stale at once
    assert [t.number for t in fail_stale(study, 3600)] == [trial.number]
    assert study._storage.get_trial(trial._trial_id).state == TrialState.FAIL
    assert ensure_grid(study, GRID[:1], retry_failed=False) == 1  # killed, not failed: queued again


def test_silent_remote_worker_is_stale_after_the_grace_period():
    study = new_study()
    ensure_grid(study, GRID[:1], retry_failed=True)
    trial = claim_waiting(study)
    study._storage.set_trial_user_attr(trial._trial_id, "worker", "another-host:1")
    study._storage.set_trial_user_attr(trial._trial_id, "heartbeat", time.time() - 100)
    frozen = study._storage.get_trial(trial._trial_id)
    assert not is_stale(frozen, grace_s=300) and is_stale(frozen, grace_s=60)


def test_failed_fit_is_retried_by_the_next_invocation_only():
    study = new_study()
    ensure_grid(study, GRID[:1], retry_failed=True)
    trial = claim_waiting(study)
    trial.set_user_attr("returncode", 1)
    study.tell(trial, state=TrialState.FAIL)
    assert ensure_grid(study, GRID[:1], retry_failed=False) == 0  # reported, not retried in a loop
    assert ensure_grid(study, GRID[:1], retry_failed=True) == 1
