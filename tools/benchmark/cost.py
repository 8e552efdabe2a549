# Copyright (c) mmstim contributors. All rights reserved.
"""Time per iteration and peak memory of ST / ST++ against a plain step.

    python tools/benchmark/cost.py [--depth 50 | --config CONFIG]
        [--batch-size 8] [--image-size 160] [--iters 3] [--warmup 1]
        [--num-subnets 6] [--rule paper] [--device cpu|cuda] [--cold-shapes]
        [--out cost.json]

Each variant runs in a fresh subprocess (peak memory never goes down within
one process): ``plain`` (MMPretrain's ImageClassifier step), ``st`` (vanilla
ST: plain KL, one subnet, default rule, full-size inputs), ``stpp`` (ST++:
KL-, ``--num-subnets`` subnets of ``--rule``, inputs resized to 0.43-1.0)
and ``stpp_sum`` (ST++ with every loss summed before a single backward, the
memory-hungry alternative). ``--config`` measures the
``StimulativeClassifier`` of an mmstim config instead of ResNet-``--depth``:
``stpp`` is the config's model (its backbone, head, subnet resize and
losses; rule and number of subnets from its ``SubnetSamplingHook``),
``plain`` the same model as an ImageClassifier, ``st`` the same with plain
KL and full-size inputs. Next to the measured ratios it prints the
theoretical compute ratio from the model's MACs, the rule's expected kept
depth and the resize distribution's expected area. On CUDA it uses AMP and
channels_last and reports the peak allocated GPU memory; on the CPU the
peak resident set size.

Every input side the timed ST++ steps will use is run forward and backward
once before timing: the first step at a new shape pays a one-off setup
(cuDNN execution plans, oneDNN primitives) that a long training run pays
only once per side, and timing it would measure start-up instead of the
steady state. ``--cold-shapes`` leaves that out and times the cold steps.
"""
import argparse
import copy
import json
import os.path as osp
import resource
import subprocess
import sys
import time
from typing import Tuple

import torch
from mmengine.config import Config
from mmengine.optim import AmpOptimWrapper, OptimWrapper
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import mmstim  # noqa: F401
from mmstim.analysis.cost import expected_cost_ratio
from mmstim.models.subnets import SubnetSampler, find_residual_stages

VARIANTS = ('plain', 'st', 'stpp', 'stpp_sum')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--depth', type=int, default=50)
    parser.add_argument(
        '--config',
        help='measure the StimulativeClassifier of this config instead of '
        'ResNet-DEPTH')
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--image-size', type=int, default=160)
    parser.add_argument('--iters', type=int, default=3)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument(
        '--num-subnets', type=int,
        help="default: the config's SubnetSamplingHook, else 6")
    parser.add_argument(
        '--rule', help="default: the config's SubnetSamplingHook, else "
        "'paper'")
    parser.add_argument('--device', default='cpu', choices=('cpu', 'cuda'))
    parser.add_argument(
        '--cold-shapes', action='store_true',
        help='do not run the resize sides once before timing')
    parser.add_argument('--variant', choices=VARIANTS,
                        help='run one variant in this process (internal)')
    parser.add_argument('--out', help='write the figures as JSON')
    args = parser.parse_args(argv)
    hook = config_model(args.config)[1] if args.config else {}
    if args.rule is None:
        args.rule = hook.get('rule', 'default') if args.config else 'paper'
    if args.num_subnets is None:
        args.num_subnets = hook.get('num_subnets', 6)
    return args


def config_model(path: str) -> Tuple[dict, dict]:
    """The model of an mmstim config and its ``SubnetSamplingHook``.

    Args:
        path (str): The config file.

    Returns:
        tuple[dict, dict]: The ``StimulativeClassifier`` dict, with the
        config's top-level ``data_preprocessor`` when the model has none,
        and the hook's dict (empty without a hook).

    Raises:
        ValueError: The config's model is not a ``StimulativeClassifier``.
    """
    cfg = Config.fromfile(path)
    model = copy.deepcopy(cfg.model.to_dict())
    if model.get('type') != 'StimulativeClassifier':
        raise ValueError(
            f'{path}: the model is {model.get("type")!r}, not a '
            'StimulativeClassifier; give an ST / ST++ config.')
    if model.get('data_preprocessor') is None:
        model['data_preprocessor'] = cfg.get('data_preprocessor')
    hooks = [
        dict(h) for h in cfg.get('custom_hooks') or []
        if h.get('type') == 'SubnetSamplingHook'
    ]
    return model, (hooks[0] if hooks else {})


def build_model(args, variant: str) -> torch.nn.Module:
    """The plain ImageClassifier or the StimulativeClassifier of a variant."""
    stpp = variant in ('stpp', 'stpp_sum')
    if args.config:
        return MODELS.build(config_variant(args.config, variant))
    cfg = dict(
        type='ImageClassifier',
        backbone=dict(type='ResNet', depth=args.depth),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=1000,
                  in_channels=512 if args.depth < 50 else 2048),
        data_preprocessor=dict(type='ClsDataPreprocessor',
                               mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375]))
    if variant != 'plain':
        cfg.update(
            type='StimulativeClassifier',
            distill_loss=dict(type='KLDirectionLoss',
                              normalize='layernorm' if stpp else None),
            subnet_resize=dict(type='RandomSubnetResize') if stpp else None,
            normalize_main_logits=stpp)
    return MODELS.build(cfg)


def config_variant(path: str, variant: str) -> dict:
    """A variant of a config's model: ``stpp`` and ``stpp_sum`` as given,
    ``st`` with plain KL, no resize and the plain main loss, ``plain`` as
    MMPretrain's ImageClassifier."""
    cfg = config_model(path)[0]
    if variant == 'plain':
        for key in ('distill_loss', 'subnet_resize', 'normalize_main_logits'):
            cfg.pop(key, None)
        cfg['type'] = 'ImageClassifier'
    elif variant == 'st':
        cfg.update(
            distill_loss=dict(type='KLDirectionLoss', normalize=None),
            subnet_resize=None, normalize_main_logits=False)
    return cfg


def variant_settings(args, variant: str):
    if variant == 'plain':
        return 'default', 0
    if variant == 'st':
        return 'default', 1
    return args.rule, args.num_subnets


def sum_then_backward_step(model, batch, optim_wrapper, draws) -> None:
    """ST++ with every graph kept alive until one backward."""
    with optim_wrapper.optim_context(model):
        data = model.data_preprocessor(batch, True)
        inputs = data['inputs']
        logits = model.logits(inputs)
        loss = model.head._get_loss(
            model.distill_loss.normalize_logits(logits),
            data['data_samples'])['loss']
        teacher = logits.detach()
        sides = model.subnet_sides(draws, inputs.shape[-2])
        for draw, side in zip(draws, sides):
            student = model.subnet_logits(inputs, draw.mask, side)
            loss = loss + model.distill_loss(student, teacher)
    optim_wrapper.update_params(loss)


def random_batch(batch_size: int, side: int,
                 num_classes: int = 1000) -> dict:
    """Random uint8 RGB images and labels, as a data loader yields them."""
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (batch_size, 3, side, side),
                           generator=generator, dtype=torch.uint8)
    labels = torch.randint(0, num_classes, (batch_size, ),
                           generator=generator)
    return dict(inputs=list(images),
                data_samples=[DataSample().set_gt_label(int(label))
                              for label in labels])


def warm_input_sides(model, batch, optim_wrapper, sides) -> None:
    """Run the full network forward and backward once at every side.

    Subnet passes use a subset of the full network's blocks at the same
    spatial sizes, so this sets up every shape the timed steps will meet.
    Gradients are discarded and no optimizer step is taken.
    """
    inputs = model.data_preprocessor(batch, True)['inputs']
    for side in sorted(set(sides)):
        with optim_wrapper.optim_context(model):
            logits = model.logits(model.subnet_resize(inputs, side))
        logits.float().sum().backward()
    model.zero_grad(set_to_none=True)


def run_variant(args) -> dict:
    """Measure one variant in this process."""
    torch.manual_seed(0)
    variant = args.variant
    device = torch.device(args.device)
    model = build_model(args, variant).to(device)
    if device.type == 'cuda':
        model = model.to(memory_format=torch.channels_last)
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    wrapper = (AmpOptimWrapper(optimizer=optimizer)
               if device.type == 'cuda' else OptimWrapper(optimizer))
    rule, num_subnets = variant_settings(args, variant)
    sampler = SubnetSampler(find_residual_stages(model.backbone), rule,
                            num_subnets)
    batch = random_batch(args.batch_size, args.image_size,
                         model.head.num_classes)
    num_iters = args.warmup + args.iters
    draws = [sampler.draws(i) for i in range(num_iters)]
    warmed_sides = []
    if getattr(model, 'subnet_resize', None) is not None and \
            not args.cold_shapes:
        warmed_sides = sorted({
            side for subnets in draws
            for side in model.subnet_sides(subnets, args.image_size)})
        warm_input_sides(model, batch, wrapper, warmed_sides)
    times = []
    for iteration in range(num_iters):
        if variant != 'plain':
            model.set_subnets(draws[iteration])
        if device.type == 'cuda':
            torch.cuda.synchronize()
        start = time.perf_counter()
        if variant == 'stpp_sum':
            sum_then_backward_step(model, batch, wrapper, draws[iteration])
        else:
            model.train_step(batch, wrapper)
        if device.type == 'cuda':
            torch.cuda.synchronize()
        if iteration >= args.warmup:
            times.append(time.perf_counter() - start)
    if device.type == 'cuda':
        peak_mb = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return dict(variant=variant, rule=rule, num_subnets=num_subnets,
                seconds_per_iter=sum(times) / len(times), peak_mb=peak_mb,
                warmed_sides=len(warmed_sides))


def theoretical_ratios(args) -> dict:
    ratios = {}
    for variant in VARIANTS:
        rule, num_subnets = variant_settings(args, variant)
        if num_subnets == 0:
            ratios[variant] = 1.0
            continue
        model = build_model(args, variant)
        result = expected_cost_ratio(
            model, SubnetSampler(model.residual_stages, rule), num_subnets,
            args.image_size, model.subnet_resize)
        ratios[variant] = result['ratio']
    return ratios


def main(argv=None) -> int:
    try:
        args = parse_args(argv)
    except (ValueError, FileNotFoundError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    if args.variant:
        print(json.dumps(run_variant(args)))
        return 0
    if args.device == 'cuda' and not torch.cuda.is_available():
        print('error: --device cuda but no CUDA GPU is available',
              file=sys.stderr)
        return 2
    forwarded = [a for a in (argv if argv is not None else sys.argv[1:])]
    results = {}
    for variant in VARIANTS:
        child = subprocess.run(
            [sys.executable, osp.abspath(__file__), *forwarded, '--variant',
             variant], capture_output=True, text=True)
        if child.returncode != 0:
            print(f'error: variant {variant} failed:\n{child.stderr[-2000:]}',
                  file=sys.stderr)
            return 1
        out = child.stdout
        results[variant] = json.loads(out.strip().splitlines()[-1])
        print(f'{variant}: {results[variant]}', file=sys.stderr)
    theory = theoretical_ratios(args)
    plain = results['plain']
    memory = 'peak GPU MB' if args.device == 'cuda' else 'peak RSS MB'
    name = (osp.basename(args.config) if args.config else
            f'ResNet-{args.depth}')
    print(f'\n{name}, batch {args.batch_size}, '
          f'{args.image_size} px, {args.device}, {args.iters} timed iters, '
          f'input sides {"cold" if args.cold_shapes else "warmed"}')
    print(f'| variant | s/iter | time ratio | theory ratio | time / theory '
          f'| {memory} | memory ratio |')
    print('|---|---|---|---|---|---|---|')
    for variant in VARIANTS:
        r = results[variant]
        time_ratio = r['seconds_per_iter'] / plain['seconds_per_iter']
        r.update(time_ratio=time_ratio, theory_ratio=theory[variant],
                 overhead=time_ratio / theory[variant],
                 memory_ratio=r['peak_mb'] / plain['peak_mb'])
        print(f'| {variant} | {r["seconds_per_iter"]:.3f} | '
              f'{time_ratio:.2f} | {theory[variant]:.2f} | '
              f'{r["overhead"]:.2f} | {r["peak_mb"]:.0f} | '
              f'{r["memory_ratio"]:.2f} |')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(dict(settings=vars(args), results=results), f,
                      indent=2)
    return 0


if __name__ == '__main__':
    sys.exit(main())
