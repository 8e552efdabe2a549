# Copyright (c) mmstim contributors. All rights reserved.
"""Latency of exported models that says when it cannot be trusted.

Each setting (backend, batch size, threads) is warmed up and then timed
call by call; the report gives the median and the spread (quartiles). The
CPU time the machine spent on other processes during the timed calls is
read from ``/proc/stat`` (all busy CPU time minus this process's own):
when other processes competed, the figures are marked unreliable, in the
JSON and in the table.
"""
import os
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn

from mmstim.utils.report import markdown_table

#: Average cores other processes may use during a measurement before its
#: figures are marked unreliable.
MAX_OTHER_CORES = 0.1


def busy_cpu_seconds() -> Optional[float]:
    """CPU seconds all processes spent busy since boot (None off Linux)."""
    try:
        with open('/proc/stat') as f:
            fields = f.readline().split()
    except OSError:
        return None
    ticks = [int(v) for v in fields[1:]]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    return (sum(ticks[:8]) - idle) / os.sysconf('SC_CLK_TCK')


def own_cpu_seconds() -> float:
    """CPU seconds of this process, all threads (user and system)."""
    times = os.times()
    return times.user + times.system


class LoadProbe:
    """The competing load around a measurement.

    ``start()`` before and ``stop()`` after: ``other_cores`` is the average
    number of cores that other processes kept busy in between.
    """

    def start(self) -> None:
        self.load_before = os.getloadavg()[0]
        self._busy = busy_cpu_seconds()
        self._own = own_cpu_seconds()
        self._wall = time.perf_counter()

    def stop(self) -> Dict[str, Optional[float]]:
        """The load figures of the interval since ``start()``."""
        wall = time.perf_counter() - self._wall
        own = own_cpu_seconds() - self._own
        busy = busy_cpu_seconds()
        other = (None if busy is None or self._busy is None else
                 max(busy - self._busy - own, 0.0) / max(wall, 1e-9))
        return dict(load_before=self.load_before,
                    load_after=os.getloadavg()[0], other_cores=other,
                    own_cores=own / max(wall, 1e-9))


def time_calls(call: Callable[[], object],
               runs: int,
               warmup: int,
               min_seconds: float = 0.0) -> List[float]:
    """Seconds of each timed call after ``warmup`` untimed ones.

    At least ``runs`` calls are timed, and more until ``min_seconds`` have
    passed (so that the load check, which counts CPU time in 10 ms ticks,
    sees a long enough interval).
    """
    if runs < 1 or warmup < 0:
        raise ValueError(f'runs must be >= 1 and warmup >= 0; got {runs} '
                         f'and {warmup}.')
    for _ in range(warmup):
        call()
    times = []
    end = time.perf_counter() + min_seconds
    while len(times) < runs or time.perf_counter() < end:
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


def summarize(times: Sequence[float]) -> Dict[str, float]:
    """Median, quartiles and relative spread (IQR / median) in ms."""
    q1, median, q3 = np.percentile(np.asarray(times) * 1e3, [25, 50, 75])
    return dict(median_ms=float(median), q1_ms=float(q1), q3_ms=float(q3),
                min_ms=1e3 * min(times), spread=float((q3 - q1) / median),
                runs=len(times))


def torch_call(model: nn.Module, inputs: torch.Tensor,
               threads: int) -> Callable[[], object]:
    """One eager forward of a classifier's logits on ``threads`` threads."""
    model.eval()

    def call():
        with torch.no_grad():
            return model(inputs, mode='tensor')

    torch.set_num_threads(threads)
    return call


def onnxruntime_call(path: str, inputs: torch.Tensor,
                     threads: int) -> Callable[[], object]:
    """One onnxruntime run of an ONNX file on ``threads`` threads."""
    from .onnx_export import ort_session
    session = ort_session(path, threads)
    feed = {'inputs': inputs.numpy()}
    return lambda: session.run(None, feed)


def measure(name: str,
            model: nn.Module,
            onnx_path: Optional[str],
            shape: Tuple[int, int, int],
            batches: Sequence[int] = (1, 64),
            threads: Sequence[int] = (1, 0),
            runs: int = 50,
            warmup: int = 10,
            min_seconds: float = 1.0) -> List[dict]:
    """Latency of one model in every setting.

    Args:
        name (str): The model's name in the rows.
        model (nn.Module): The classifier (PyTorch eager).
        onnx_path (str, optional): Its ONNX export (onnxruntime); None
            measures PyTorch only.
        shape (tuple): ``(C, H, W)`` of the preprocessed inputs.
        batches (Sequence[int]): Batch sizes. Defaults to (1, 64).
        threads (Sequence[int]): Thread counts; 0 means every core.
            Defaults to (1, 0).
        runs (int): Timed calls per setting, at least. Defaults to 50.
        warmup (int): Untimed calls before them. Defaults to 10.
        min_seconds (float): Time calls for at least this long (the load
            check needs a long enough interval). Defaults to 1.0.

    Returns:
        list[dict]: One row per setting: ``model``, ``backend``, ``batch``,
        ``threads``, the :func:`summarize` figures, the load figures of
        :class:`LoadProbe` and ``reliable``.
    """
    rows = []
    torch_threads = torch.get_num_threads()
    backends = ['onnxruntime'] * (onnx_path is not None) + ['pytorch']
    try:
        for backend in backends:
            for batch in batches:
                inputs = torch.rand(batch, *shape,
                                    generator=torch.Generator().manual_seed(0))
                for count in threads:
                    count = count or os.cpu_count()
                    call = (onnxruntime_call(onnx_path, inputs, count)
                            if backend == 'onnxruntime' else torch_call(
                                model, inputs, count))
                    probe = LoadProbe()
                    probe.start()
                    times = time_calls(call, runs, warmup, min_seconds)
                    load = probe.stop()
                    rows.append(
                        dict(model=name, backend=backend, batch=batch,
                             threads=count, **summarize(times), **load,
                             reliable=is_reliable(load)))
    finally:
        torch.set_num_threads(torch_threads)
    return rows


def is_reliable(load: dict) -> bool:
    """Whether other processes left the machine alone (see
    :data:`MAX_OTHER_CORES`)."""
    return load['other_cores'] is not None and (load['other_cores'] <=
                                                MAX_OTHER_CORES)


def latency_table(rows: Sequence[dict]) -> str:
    """The rows as a markdown table; unreliable figures are marked."""
    return markdown_table(
        ['model', 'backend', 'batch', 'threads', 'median (ms)',
         'quartiles (ms)', 'other processes (cores)', 'reliable'],
        [[r['model'], r['backend'], r['batch'], r['threads'],
          f'{r["median_ms"]:.3f}', f'{r["q1_ms"]:.3f}-{r["q3_ms"]:.3f}',
          'n/a' if r['other_cores'] is None else f'{r["other_cores"]:.2f}',
          'yes' if r['reliable'] else 'NO: other processes competed']
         for r in rows])


def median_ratios(rows: Sequence[dict], reference: str) -> List[dict]:
    """Each model's median over the reference model's, per setting."""
    base = {(r['backend'], r['batch'], r['threads']): r['median_ms']
            for r in rows if r['model'] == reference}
    return [dict(model=r['model'], backend=r['backend'], batch=r['batch'],
                 threads=r['threads'],
                 ratio=r['median_ms'] / base[(r['backend'], r['batch'],
                                              r['threads'])])
            for r in rows
            if (r['backend'], r['batch'], r['threads']) in base]


def subnet_latency(config: str,
                   checkpoint: str,
                   subnets: Sequence[Optional[str]],
                   out_dir: str,
                   shape: Tuple[int, int, int],
                   **settings) -> dict:
    """Export the full network and subnets to ONNX and time them all.

    Args:
        config (str): Config of the trained network.
        checkpoint (str): Its checkpoint.
        subnets (Sequence[str | None]): Subnets as ``export_subnet`` takes
            them; None is the full network, the reference of the ratios.
        out_dir (str): Folder of the exported models (overwritten).
        shape (tuple): ``(C, H, W)`` of the preprocessed inputs.
        **settings: ``batches``, ``threads``, ``runs``, ``warmup`` of
            :func:`measure`.

    Returns:
        dict: ``processor``, ``cores``, ``rows``, ``ratios`` (medians over
        the full network's), ``reliable`` (all rows) and ``table``.
    """
    from mmpretrain.apis import get_model

    from mmstim.analysis.cost import processor_name
    from .export import export_subnet
    from .onnx_export import export_onnx
    rows = []
    for subnet in [None] + [s for s in subnets if s is not None]:
        paths = export_subnet(config, checkpoint, subnet, out_dir,
                              recalibration_images=0, force=True,
                              shape=shape)
        model = get_model(paths[0], pretrained=paths[1], device='cpu')
        onnx = export_onnx(model, shape,
                           os.path.splitext(paths[1])[0] + '.onnx')
        rows += measure(subnet or 'full', model, onnx['path'], shape,
                        **settings)
    return dict(processor=processor_name(), cores=os.cpu_count(),
                torch=torch.__version__, rows=rows,
                ratios=median_ratios(rows, 'full'),
                reliable=all(r['reliable'] for r in rows),
                table=latency_table(rows))


def frontier_with_latency(frontier: dict, report: dict,
                          backend: str = 'onnxruntime',
                          threads: int = 1) -> List[dict]:
    """A frontier's runs with the latencies of a :func:`subnet_latency`
    report in place of their own, and their Pareto flags redone.

    Latency depends on the architecture, not on the weights, so one
    report measured on any checkpoint of the network serves every run of
    the frontier (``tools/analysis/eval_subnets.py --frontier``).

    Args:
        frontier (dict): The frontier JSON: ``runs``, each with
            ``subnets`` that have ``depths``.
        report (dict): The latency report, models named by their kept
            depths (``1,1,1``) or ``full``.
        backend (str): ``'onnxruntime'`` or ``'pytorch'``.
        threads (int): The thread count whose figures are used.

    Returns:
        list[dict]: The runs, each subnet's ``latency`` the report's
        median per batch size.

    Raises:
        KeyError: A subnet of the frontier is not in the report.
    """
    import copy

    from mmstim.analysis.cost import mark_pareto_optimal
    medians = {}
    for row in report['rows']:
        if row['backend'] == backend and row['threads'] == threads:
            medians.setdefault(row['model'], []).append(
                dict(batch_size=row['batch'],
                     median_s=row['median_ms'] / 1e3))
    runs = copy.deepcopy(frontier['runs'])
    for run in runs:
        for entry in run['subnets']:
            name = 'full' if entry['full'] else ','.join(
                map(str, entry['depths']))
            if name not in medians:
                raise KeyError(f'{name}: not in the latency report, which '
                               f'has {sorted(medians)}')
            entry['latency'] = medians[name]
        run['pareto_accuracy'] = mark_pareto_optimal(run['subnets'])
    return runs


def write_frontier_plot(frontier: dict, report: dict, path: str) -> None:
    """Plot a frontier's accuracies against the report's onnxruntime
    latency at batch 1, one thread (:func:`frontier_with_latency`)."""
    from mmstim.analysis.plot import plot_subnets
    fig = plot_subnets(frontier_with_latency(frontier, report), x='latency')
    fig.axes[0].set_xlabel(
        f'onnxruntime latency at batch 1, one thread (ms), '
        f'{report["processor"]}')
    fig.tight_layout()
    fig.savefig(path, dpi=120)
