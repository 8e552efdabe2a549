# Copyright (c) mmstim contributors. All rights reserved.
import glob
import json
import os.path as osp
from typing import Dict


def logged_train_scalars(work_dir: str) -> Dict[int, dict]:
    """The record MMEngine logged for each training step of a run, by step.

    Reads ``vis_data/scalars.json`` of every timestamped part of the run in
    ``work_dir`` (a resumed run has one part per start), in time order; an
    iteration logged by several parts keeps the last part's record.
    Training lines are those with a learning rate (``lr``).
    """
    records = {}
    for path in sorted(glob.glob(
            osp.join(work_dir, '*', 'vis_data', 'scalars.json'))):
        with open(path) as f:
            for line in f:
                record = json.loads(line)
                if 'lr' in record:
                    records[record['step']] = record
    return records
