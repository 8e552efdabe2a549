# Copyright (c) mmstim contributors. All rights reserved.
from .cost import (block_macs, block_params, count_macs, device_name,
                   expected_cost_ratio, input_shape, measure_latency,
                   pareto_optimal, processor_name, subnet_macs, subnet_params)
from .frontier import evaluate_frontier
from .lesion import (block_name, droppable_blocks, lesion_mask, lesion_study,
                     random_block_sets)
from .logs import logged_train_scalars
from .plot import plot_gains, plot_subnets
from .stats import format_mean_std, mean_std, paired_difference
from .subnet_eval import (TOP1, RunSpec, evaluate_subnets,
                          mean_subnet_accuracy, parse_run_spec,
                          subnet_test_config, subnet_test_runner, test_subnets)

__all__ = [
    'TOP1', 'RunSpec', 'block_macs', 'block_name', 'block_params',
    'count_macs', 'device_name', 'droppable_blocks', 'evaluate_frontier',
    'evaluate_subnets', 'expected_cost_ratio', 'format_mean_std',
    'input_shape', 'lesion_mask', 'lesion_study', 'logged_train_scalars',
    'mean_std', 'mean_subnet_accuracy', 'measure_latency',
    'paired_difference', 'pareto_optimal', 'parse_run_spec', 'plot_gains',
    'plot_subnets', 'processor_name', 'random_block_sets', 'subnet_macs',
    'subnet_params', 'subnet_test_config', 'subnet_test_runner',
    'test_subnets'
]
