# Copyright (c) mmstim contributors. All rights reserved.
"""Writers of the reports: markdown tables and files written whole."""
import os
from typing import Sequence, Union

from mmengine.fileio import dump, put_text


def markdown_table(header: Sequence[str],
                   rows: Sequence[Sequence[object]]) -> str:
    """A markdown table of cells as ``str()`` writes them, without a
    trailing newline.

    Examples:
        >>> print(markdown_table(['a', 'b'], [[1, 2]]))
        | a | b |
        |---|---|
        | 1 | 2 |
    """
    lines = ['| ' + ' | '.join(map(str, row)) + ' |'
             for row in [list(header)] + [list(row) for row in rows]]
    return '\n'.join(lines[:1] + ['|' + '---|' * len(header)] + lines[1:])


def dump_atomic(obj: Union[dict, str], path: str) -> None:
    """Write a dict as JSON, or text, to a temporary file; rename it.

    A reader never sees a half-written file, even when the writer dies.
    """
    if isinstance(obj, str):
        put_text(obj, f'{path}.tmp')
    else:
        dump(obj, f'{path}.tmp', file_format='json', indent=2)
    os.replace(f'{path}.tmp', path)
