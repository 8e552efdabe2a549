# Copyright (c) mmstim contributors. All rights reserved.
"""Benchmarks as library code: run bookkeeping, scheduling and studies."""
from .accuracy import (AccuracyBenchmark, is_current, run_config, run_settings,
                       train_and_evaluate)
from .depth_study import DepthStudy, run_study
from .detection import DetectionStudy
from .scheduler import Job, run_jobs
from .summary import summarize

__all__ = [
    'AccuracyBenchmark', 'DepthStudy', 'DetectionStudy', 'Job', 'is_current',
    'run_config', 'run_jobs', 'run_settings', 'run_study', 'summarize',
    'train_and_evaluate'
]
