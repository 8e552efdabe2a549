# Copyright (c) mmstim contributors. All rights reserved.
from .subnet_test_loop import (SubnetTestLoop, recalibrated_bn,
                               seeded_random_state, subnets_of_rule)

__all__ = [
    'SubnetTestLoop', 'recalibrated_bn', 'seeded_random_state',
    'subnets_of_rule'
]
