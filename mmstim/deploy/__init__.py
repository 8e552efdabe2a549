# Copyright (c) mmstim contributors. All rights reserved.
"""Deploying the subnets: export as standalone models, ONNX, latency.

The ONNX and latency modules need the ``deploy`` extra
(``pip install -e .[deploy]``: onnx, onnxruntime, onnxscript) and are
imported on their own (``mmstim.deploy.onnx``, ``mmstim.deploy.latency``).
"""
from .backbone_configs import (exportable_backbones, subnet_backbone_config,
                               subnet_state_dict)
from .export import export_subnet, exported_config, input_shape, parse_subnet

__all__ = [
    'export_subnet', 'exported_config', 'exportable_backbones',
    'input_shape', 'parse_subnet', 'subnet_backbone_config',
    'subnet_state_dict'
]
