# Copyright (c) mmstim contributors. All rights reserved.
"""Run benchmark processes several at a time, each with its own log."""
import os
import os.path as osp
import subprocess
import time
from concurrent.futures import (FIRST_COMPLETED, Future, ThreadPoolExecutor,
                                wait)
from dataclasses import dataclass, field
from typing import Callable, Dict, Optional, Sequence

from mmstim.utils.report import dump_atomic


@dataclass(frozen=True)
class Job:
    """One benchmark process, its output appended to ``log``.

    Attributes:
        name: Unique name, e.g. ``test_stpp_1.0_seed0``.
        cost: Relative cost; costlier jobs start first within a ``stage``.
        stage: Jobs of a lower stage start first.
    """
    name: str
    command: tuple
    log: str
    cost: float = 1.0
    stage: int = 0
    cwd: Optional[str] = field(default=None, compare=False)


def pid_file(job: Job) -> str:
    """The file that holds a running job's process id."""
    return job.log + '.pid'


def running_elsewhere(job: Job) -> bool:
    """Whether a live process started by another scheduler (or by hand,
    with a pid file) is running the job."""
    try:
        with open(pid_file(job)) as f:
            pid = int(f.read().split()[0])
        with open(f'/proc/{pid}/cmdline', 'rb') as f:
            command = f.read().split(b'\0')
    except (OSError, ValueError, IndexError):
        return False
    # the same program: a reused process id does not count
    program = osp.basename(job.command[1]).encode()
    return program in map(osp.basename, command)


def launch(job: Job) -> int:
    """Run one job to its end, its process id in :func:`pid_file` while it
    runs; return its exit code."""
    os.makedirs(osp.dirname(osp.abspath(job.log)), exist_ok=True)
    with open(job.log, 'a') as log:
        process = subprocess.Popen(list(job.command), stdout=log,
                                   stderr=subprocess.STDOUT, cwd=job.cwd)
        # written whole, so that a reader never sees an empty file
        dump_atomic(str(process.pid), pid_file(job))
        try:
            return process.wait()
        finally:
            os.remove(pid_file(job))


def run_jobs(ready: Callable[[], Sequence[Job]], jobs: int,
             runner: Callable[[Job], int] = launch,
             echo: Callable[[str], None] = print,
             poll_seconds: float = 60) -> None:
    """Run the unfinished jobs, ``jobs`` at a time, until none is left.

    Args:
        ready (callable): Returns the jobs that still have to run (a
            finished job it returns runs again); asked again whenever a job
            ends, so that jobs known meanwhile start at once.
        runner (callable): Runs one job, returns its exit code.
        echo (callable): Receives a line when a job starts or ends.

    Raises:
        ValueError: ``jobs`` is below 1.
        RuntimeError: Some jobs failed (the others still ran); the message
            names their logs.
    """
    if jobs < 1:
        raise ValueError(f'jobs must be at least 1, got {jobs}')

    def execute(job: Job) -> int:
        start = time.time()
        echo(f'started {job.name} (log: {job.log})')
        code = runner(job)
        echo(f'{"finished" if code == 0 else "FAILED"} {job.name} after '
             f'{(time.time() - start) / 60:.1f} min')
        return code

    running: Dict[Future, Job] = {}
    failed: Dict[str, Job] = {}
    with ThreadPoolExecutor(jobs) as pool:
        while True:
            busy = {job.name for job in running.values()}
            todo = [job for job in ready()
                    if job.name not in failed and job.name not in busy]
            elsewhere = [job for job in todo if running_elsewhere(job)]
            todo = sorted((job for job in todo if job not in elsewhere),
                          key=lambda job: (job.stage, -job.cost))
            for job in todo[:max(0, jobs - len(running) - len(elsewhere))]:
                running[pool.submit(execute, job)] = job
            if not running and not elsewhere:
                break
            if not running:
                time.sleep(poll_seconds)
                continue
            done, _ = wait(running, timeout=poll_seconds,
                           return_when=FIRST_COMPLETED)
            for future in done:
                job = running.pop(future)
                if future.result() != 0:
                    failed[job.name] = job
    if failed:
        raise RuntimeError(
            f'{len(failed)} job(s) failed; see their logs: ' +
            ', '.join(job.log for job in failed.values()))
