# Copyright (c) mmstim contributors. All rights reserved.
"""Benchmarks as library code: run bookkeeping, scheduling and studies."""
from .scheduler import Job, run_jobs

__all__ = ['Job', 'run_jobs']
