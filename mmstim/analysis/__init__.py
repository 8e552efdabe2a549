# Copyright (c) mmstim contributors. All rights reserved.
from .subnet_eval import (recalibrated_bn, subnet_accuracies,
                          subnets_of_rule, top1_accuracy)

__all__ = [
    'recalibrated_bn', 'subnet_accuracies', 'subnets_of_rule',
    'top1_accuracy'
]
