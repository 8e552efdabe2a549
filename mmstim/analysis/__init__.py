# Copyright (c) mmstim contributors. All rights reserved.
from .lesion import (block_name, droppable_blocks, lesion_mask, lesion_study,
                     random_block_sets)
from .subnet_eval import (LoadedRun, RunSpec, annotate_macs, build_dataloader,
                          data_root_options, input_shape, load_classifier,
                          load_run, load_state_dict, mean_subnet_accuracy,
                          parse_run_spec, recalibrated_bn, subnet_accuracies,
                          subnet_macs, subnets_of_rule, top1_accuracy)

__all__ = [
    'LoadedRun', 'RunSpec', 'annotate_macs', 'block_name', 'build_dataloader',
    'data_root_options', 'droppable_blocks', 'input_shape', 'lesion_mask',
    'lesion_study', 'load_classifier', 'load_run', 'load_state_dict',
    'mean_subnet_accuracy', 'parse_run_spec', 'random_block_sets',
    'recalibrated_bn', 'subnet_accuracies', 'subnet_macs', 'subnets_of_rule',
    'top1_accuracy'
]
