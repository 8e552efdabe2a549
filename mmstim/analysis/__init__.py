# Copyright (c) mmstim contributors. All rights reserved.
from .lesion import (block_name, droppable_blocks, lesion_mask, lesion_study,
                     random_block_sets)
from .subnet_eval import (TOP1, RunSpec, evaluate_subnets,
                          mean_subnet_accuracy, parse_run_spec,
                          subnet_test_config)

__all__ = [
    'TOP1', 'RunSpec', 'block_name', 'droppable_blocks', 'evaluate_subnets',
    'lesion_mask', 'lesion_study', 'mean_subnet_accuracy', 'parse_run_spec',
    'random_block_sets', 'subnet_test_config'
]
