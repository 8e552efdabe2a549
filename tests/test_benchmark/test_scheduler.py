# Copyright (c) mmstim contributors. All rights reserved.
import os
import subprocess
import sys
import threading

import pytest

from mmstim.benchmark.scheduler import Job, launch, run_jobs, running_elsewhere


def test_jobs_start_by_stage_then_cost_and_new_jobs_are_picked_up():
    done, order = set(), []
    first = [Job('a', (), 'a.log', cost=1, stage=1),
             Job('b', (), 'b.log', cost=5, stage=1),
             Job('c', (), 'c.log', cost=1, stage=0)]
    later = Job('d', (), 'd.log', stage=2)

    def ready():
        # d becomes known once a, b and c have finished
        jobs = first + ([later] if {'a', 'b', 'c'} <= done else [])
        return [job for job in jobs if job.name not in done]

    def runner(job):
        order.append(job.name)
        done.add(job.name)
        return 0

    run_jobs(ready, jobs=1, runner=runner, echo=lambda line: None)
    assert order == ['c', 'b', 'a', 'd']


def test_failed_jobs_are_reported_after_the_others_ran():
    ran = []

    def runner(job):
        ran.append(job.name)
        return 1 if job.name == 'bad' else 0

    jobs = [Job('bad', (), 'bad.log', stage=0), Job('good', (), 'good.log',
                                                    stage=1)]
    with pytest.raises(RuntimeError, match='1 job.*bad.log'):
        run_jobs(lambda: [j for j in jobs if j.name not in ran], 2,
                 runner=runner, echo=lambda line: None)
    assert sorted(ran) == ['bad', 'good']
    with pytest.raises(ValueError, match='jobs must be at least 1, got 0'):
        run_jobs(lambda: [], 0)


def test_launch_logs_output_and_records_the_process_while_it_runs(tmp_path):
    log = str(tmp_path / 'logs' / 'job.log')
    gate = tmp_path / 'gate'
    script = ('import os, sys, time\n'
              f'while not os.path.exists({str(gate)!r}): time.sleep(0.05)\n'
              'print("hello"); sys.exit(3)')
    job = Job('job', (sys.executable, '-c', script), log)
    seen = []
    thread = threading.Thread(target=lambda: seen.append(launch(job)),
                              daemon=True)
    thread.start()
    try:
        while not os.path.exists(log + '.pid'):
            pass
        # another scheduler sees the job running, and waits for it
        assert running_elsewhere(job)
    finally:
        gate.touch()
        thread.join(timeout=60)
    assert seen == [3]
    assert open(log).read() == 'hello\n'
    assert not os.path.exists(log + '.pid') and not running_elsewhere(job)


def test_a_stale_or_reused_process_id_is_not_a_running_job(tmp_path):
    log = str(tmp_path / 'job.log')
    job = Job('job', (sys.executable, 'tools/benchmark/detection.py'), log)
    with open(log + '.pid', 'w') as f:  # this process runs another program
        f.write(str(os.getpid()))
    assert not running_elsewhere(job)
    finished = subprocess.Popen([sys.executable, '-c', 'pass'])
    finished.wait()
    with open(log + '.pid', 'w') as f:  # a process that has ended
        f.write(str(finished.pid))
    assert not running_elsewhere(job)
