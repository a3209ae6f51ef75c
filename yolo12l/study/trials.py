"""Trials of a study in an Optuna storage: shared work between processes and machines, stale-trial recovery.

* Storage (``--storage``): default ``<out>/optuna.journal`` (Optuna's ``JournalFileBackend``: a file, locked, safe
  for several processes of one machine and, on a shared disk, of several machines); a URL (``sqlite:///x.db``,
  ``postgresql://…``) is an ``RDBStorage``; any other value is a journal file path.
* Claiming: a process takes a WAITING trial by switching it to RUNNING (``storage.set_trial_state_values``, which
  succeeds for exactly one process — Optuna's own queue pop), so no trial runs twice.
* Liveness: the process running a trial writes the user attributes ``worker`` (host:pid) and ``heartbeat`` (unix
  time, every ``heartbeat_s``). A RUNNING trial is stale when its worker runs on this host and that pid is gone
  (a ``kill -9``), or its heartbeat is older than ``grace_s``; :func:`fail_stale` marks it FAIL (``stale``) so its
  work can be queued again. A worker whose trial was failed that way stops its fit (:class:`Heartbeat.lost`).
"""
from __future__ import annotations

import argparse
import os
import socket
import threading
import time
from pathlib import Path

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from .runner import RunFolder, log_tail, record_failure, run_fit

optuna.logging.set_verbosity(optuna.logging.WARNING)

ACTIVE = (TrialState.WAITING, TrialState.RUNNING, TrialState.COMPLETE)


def add_trial_options(parser: argparse.ArgumentParser, study_name: str) -> None:
    """``--storage``, ``--study-name``, ``--heartbeat`` and ``--grace``: how the processes of ``compare`` and ``tune``
    share the trials of one storage."""
    parser.add_argument("--storage", default=None, help="Optuna storage: a journal file or an RDB URL shared by the "
                        "processes / machines that split the work (default <out>/optuna.journal)")
    parser.add_argument("--study-name", default=study_name,
                        help=f"Optuna study name in the storage (default {study_name})")
    parser.add_argument("--heartbeat", type=float, default=10.0, help="seconds between a running trial's heartbeats")
    parser.add_argument("--grace", type=float, default=300.0, help="a trial without a heartbeat for this long "
                        "(a process on another machine) is failed and its work taken over (default 300 s)")


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def open_storage(spec: str | None, out: Path) -> optuna.storages.BaseStorage:
    """The Optuna storage named by ``--storage`` (see the module docstring)."""
    if spec and "://" in spec:
        return optuna.storages.RDBStorage(spec)
    path = Path(spec) if spec else Path(out) / "optuna.journal"
    path.parent.mkdir(parents=True, exist_ok=True)
    from optuna.storages.journal import JournalFileBackend

    return optuna.storages.JournalStorage(JournalFileBackend(str(path)))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_stale(trial: FrozenTrial, grace_s: float, now: float | None = None) -> bool:
    """Whether a RUNNING trial's worker is gone (see the module docstring)."""
    now = time.time() if now is None else now
    worker = str(trial.user_attrs.get("worker", ""))
    host, _, pid = worker.rpartition(":")
    if host == socket.gethostname() and pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
        return True
    beat = trial.user_attrs.get("heartbeat")
    if beat is None:
        start = trial.datetime_start.timestamp() if trial.datetime_start else now
        return now - start > grace_s
    return now - float(beat) > grace_s


def fail_stale(study: optuna.Study, grace_s: float) -> list[FrozenTrial]:
    """Marks the stale RUNNING trials FAIL (user attribute ``stale``); returns those this process failed."""
    failed = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if not is_stale(t, grace_s):
            continue
        try:
            study._storage.set_trial_user_attr(t._trial_id, "stale", True)
            if study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL):
                failed.append(t)
        except UpdateFinishedTrialError:  # another process got there first
            pass
    return failed


def claim_waiting(study: optuna.Study) -> optuna.Trial | None:
    """Takes one WAITING trial for this process (RUNNING, ``worker`` set), or None when none is left."""
    storage = study._storage
    for t in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        try:
            if not storage.set_trial_state_values(t._trial_id, TrialState.RUNNING):
                continue
        except UpdateFinishedTrialError:
            continue
        storage.set_trial_user_attr(t._trial_id, "worker", worker_id())
        storage.set_trial_user_attr(t._trial_id, "heartbeat", time.time())
        return optuna.Trial(study, t._trial_id)
    return None


def mark_running(trial: optuna.Trial) -> None:
    """Sets ``worker`` / ``heartbeat`` of a trial this process created itself (``study.ask()``)."""
    trial.set_user_attr("worker", worker_id())
    trial.set_user_attr("heartbeat", time.time())


class Heartbeat:
    """Writes ``heartbeat`` of a RUNNING trial every ``interval_s`` in a daemon thread (a context manager).
    ``lost`` turns True when the trial was finished by another process (it was failed as stale)."""

    def __init__(self, study: optuna.Study, trial_id: int, interval_s: float):
        self.study, self.trial_id, self.interval_s = study, trial_id, interval_s
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.study._storage.set_trial_user_attr(self.trial_id, "heartbeat", time.time())
            except UpdateFinishedTrialError:
                self.lost = True
                return
            except Exception:  # a storage hiccup (locked SQLite, network): try again at the next beat
                continue

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def point_of(t: FrozenTrial) -> tuple[str, int] | None:
    """The (variant, seed) a compare trial runs, from its user attributes."""
    if "variant" in t.user_attrs and "seed" in t.user_attrs:
        return str(t.user_attrs["variant"]), int(t.user_attrs["seed"])
    return None


def ensure_grid(study: optuna.Study, grid: list[tuple[str, int]], retry_failed: bool) -> int:
    """Queues every (variant, seed) of ``grid`` that has no WAITING, RUNNING or COMPLETE trial: always those whose
    trials all went stale (killed workers), and those whose fit failed when ``retry_failed`` (a new invocation).
    Returns how many were queued. Two processes racing here may queue a point twice; :func:`is_duplicate` then
    lets only one of them run it."""
    by_point: dict[tuple[str, int], list[FrozenTrial]] = {}
    for t in study.get_trials(deepcopy=False):
        p = point_of(t)
        if p is not None:
            by_point.setdefault(p, []).append(t)
    queued = 0
    for variant, seed in grid:
        trials = by_point.get((variant, seed), [])
        if any(t.state in ACTIVE for t in trials):
            continue
        if not retry_failed and any(not t.user_attrs.get("stale") and not t.user_attrs.get("duplicate_of")
                                    for t in trials):
            continue  # its fit failed in this invocation: reported, retried by the next one
        study.enqueue_trial({"variant": variant, "seed": seed}, user_attrs={"variant": variant, "seed": seed})
        queued += 1
    return queued


def is_duplicate(study: optuna.Study, trial: optuna.Trial) -> int | None:
    """The number of an earlier trial of the same (variant, seed) that is WAITING, RUNNING or COMPLETE, if any: the
    lowest-numbered live trial of a point runs it, so of two racing duplicates exactly one runs."""
    me = study._storage.get_trial(trial._trial_id)
    point = point_of(me)
    for t in study.get_trials(deepcopy=False, states=ACTIVE):
        if t.number < me.number and point_of(t) == point:
            return t.number
    return None


def fit_trial(study: optuna.Study, trial: optuna.Trial, folder: RunFolder, heartbeat_s: float, label: str) -> bool:
    """Runs the trial's fit in ``folder`` (``run_fit``) with a :class:`Heartbeat`; True when it finished with a
    validation record. Otherwise False, and printed as ``<label>: …``: taken over by another process (a missed
    heartbeat; the trial is that process's now) or failed (recorded in ``folder``, the trial told FAIL)."""
    with Heartbeat(study, trial._trial_id, heartbeat_s) as beat:
        rc = run_fit(folder, keep_going=lambda: not beat.lost)
    if beat.lost:
        print(f"{label}: taken over by another process (this one missed its heartbeats)", flush=True)
        return False
    if rc != 0 or not folder.val_records():
        record_failure(folder, rc)
        trial.set_user_attr("returncode", rc)
        study.tell(trial, state=TrialState.FAIL)
        print(f"{label}: FAILED (exit status {rc}), see {folder.log_file}:\n{log_tail(folder, 8)}", flush=True)
        return False
    return True
