# Copyright (c) mmstim contributors. All rights reserved.
"""The README and docs/ name only paths that exist in the repository."""
import glob
import os.path as osp
import re
from typing import Dict, Iterator, List, Tuple

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
README = osp.join(REPO, 'README.md')
README_MAX_LINES = 150

# Top-level folders whose paths the documents name from the repository root.
CHECKED_ROOTS = ('configs', 'tools', 'benchmarks', 'docs', 'tests', 'mmstim',
                 'requirements')
# A path starts at one of CHECKED_ROOTS, not inside another path
# (``mmpretrain/tools/train.py``), a package reference
# (``mmpretrain::configs/...``) or a word; it ends at whitespace, a quote,
# a bracket or a table bar.
PATH_PATTERN = re.compile(r'(?<![\w/.:~-])(?:%s)/[^\s`\'"()<>\[\]|]*' %
                          '|'.join(CHECKED_ROOTS))
URL_PATTERN = re.compile(r'\b[a-zA-Z][a-zA-Z0-9+.-]*://\S+')
FENCE_PATTERN = re.compile(r'^(```|~~~).*?^\1', flags=re.M | re.S)
INLINE_CODE_PATTERN = re.compile(r'`[^`\n]*`')
# [text](target) and ![alt](target), with an optional "title".
LINK_PATTERN = re.compile(r'!?\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?'
                          r'(?:\s+"[^"]*")?\s*\)')
BRACES_PATTERN = re.compile(r'\{([^{}]*)\}')
SHELL_VARIABLE_PATTERN = re.compile(r'\$\{\w+\}|\$\w+')
TRAILING_PUNCTUATION = '.,;:!?'


def markdown_files() -> List[str]:
    """The README and every markdown file under docs/, repository-relative.

    Returns:
        list[str]: Paths relative to the repository root, sorted.
    """
    docs = glob.glob(osp.join(REPO, 'docs', '**', '*.md'), recursive=True)
    return ['README.md'] + sorted(osp.relpath(path, REPO) for path in docs)


def read(relpath: str) -> str:
    """The text of a repository file.

    Args:
        relpath (str): Path relative to the repository root.

    Returns:
        str: The file's text.
    """
    with open(osp.join(REPO, relpath), encoding='utf-8') as f:
        return f.read()


def expand_braces(name: str) -> List[str]:
    """Expand shell-style ``{a,b}`` alternatives, nested ones included.

    Args:
        name (str): A path such as ``benchmarks/results/x.{json,md}``.

    Returns:
        list[str]: Every alternative (``name`` itself when it has none).
    """
    match = BRACES_PATTERN.search(name)
    if match is None:
        return [name]
    head, tail = name[:match.start()], name[match.end():]
    names = []
    for choice in match.group(1).split(','):
        names += expand_braces(head + choice + tail)
    return names


def clean_path(token: str) -> str:
    """Drop what follows a path in a command or a sentence.

    ``CONFIG:CHECKPOINT:LABEL`` arguments and ``file.py::test`` node ids keep
    the part before the first colon, a link's ``#anchor`` is dropped, and
    trailing punctuation is stripped.

    Args:
        token (str): A match of :data:`PATH_PATTERN`.

    Returns:
        str: The path alone.
    """
    path = token.split(':', 1)[0].split('#', 1)[0]
    return path.rstrip(TRAILING_PUNCTUATION)


def named_paths(text: str) -> Iterator[str]:
    """Every repository path the text names under :data:`CHECKED_ROOTS`.

    The whole text is searched (prose, inline code, code blocks and link
    targets alike); URLs are removed first.

    Args:
        text (str): Markdown text.

    Yields:
        str: Each path, as named (it may hold ``*`` or ``{a,b}``).
    """
    text = URL_PATTERN.sub(' ', text)
    for match in PATH_PATTERN.finditer(text):
        path = clean_path(match.group(0))
        if path:
            yield path


def path_exists(path: str) -> bool:
    """Whether a named path, or every alternative of it, exists.

    Args:
        path (str): Repository-relative path, possibly with ``{a,b}``,
            glob characters (``*``, ``?``) and shell variables
            (``${NAME}``, ``$NAME``: any name).

    Returns:
        bool: True when every brace alternative exists (matches at least
        one file or folder when it holds a glob character).
    """
    path = SHELL_VARIABLE_PATTERN.sub('*', path)
    for name in expand_braces(path):
        full = osp.join(REPO, name)
        if any(char in name for char in '*?'):
            if not glob.glob(full):
                return False
        elif not osp.exists(full):
            return False
    return True


def relative_links(text: str) -> Iterator[str]:
    """Targets of the markdown links and images of a text that are local.

    Code blocks and inline code are skipped; so are URLs, ``mailto:`` and
    links to an anchor of the same page. A target's ``#anchor`` is dropped.

    Args:
        text (str): Markdown text.

    Yields:
        str: Each local target, relative to the file's folder (or to the
        repository root when it starts with ``/``).
    """
    text = INLINE_CODE_PATTERN.sub(' ', FENCE_PATTERN.sub(' ', text))
    for match in LINK_PATTERN.finditer(text):
        target = match.group(1)
        if re.match(r'[a-zA-Z][a-zA-Z0-9+.-]*:', target):
            continue
        target = target.split('#', 1)[0]
        if target:
            yield target


def resolve_link(doc: str, target: str) -> str:
    """The absolute path a link target of a repository file points at.

    Args:
        doc (str): The file holding the link, repository-relative.
        target (str): The link target.

    Returns:
        str: The absolute path.
    """
    if target.startswith('/'):
        return osp.normpath(osp.join(REPO, target.lstrip('/')))
    return osp.normpath(osp.join(REPO, osp.dirname(doc), target))


def format_missing(missing: Dict[str, List[str]]) -> str:
    """One line per document and the paths it names that do not exist.

    Args:
        missing (dict[str, list[str]]): Missing paths by document.

    Returns:
        str: A readable report.
    """
    return '\n'.join(f'{doc}: {", ".join(paths)}'
                     for doc, paths in sorted(missing.items()))


@pytest.mark.parametrize(
    'name, expected',
    [('benchmarks/results/x.{json,md}',
      ['benchmarks/results/x.json', 'benchmarks/results/x.md']),
     ('configs/{a,b}_{c,d}.py',
      ['configs/a_c.py', 'configs/a_d.py', 'configs/b_c.py',
       'configs/b_d.py']), ('tools/train.py', ['tools/train.py'])])
def test_expand_braces(name: str, expected: List[str]):
    assert expand_braces(name) == expected


def test_named_paths_are_found_and_cleaned():
    text = ('Run `python tools/train.py configs/a.py`, then\n'
            '```shell\n--runs configs/b.py:work_dirs/x.pth:ST++ \\\n```\n'
            'see [the page](docs/en/faq.md#resuming), tools/c.py. and '
            '`tests/x.py::test_y`, `benchmarks/results/r.{json,md}`.\n'
            'Not: `mmpretrain/tools/train.py`, `mmpretrain::configs/d.py`, '
            'https://example.com/configs/e.py, work_dirs/tools/f.py.')
    assert list(named_paths(text)) == [
        'tools/train.py', 'configs/a.py', 'configs/b.py', 'docs/en/faq.md',
        'tools/c.py', 'tests/x.py', 'benchmarks/results/r.{json,md}'
    ]


def test_relative_links_are_found():
    text = ('[a](docs/en/faq.md) ![b](../../x.png "t") [c](#anchor) '
            '[d](https://example.com) [e](get_started.md#data)\n'
            '```python\nx = [y](z)\n```\n`[f](g.md)`')
    assert list(relative_links(text)) == [
        'docs/en/faq.md', '../../x.png', 'get_started.md'
    ]


def test_path_exists_with_globs_braces_and_shell_variables():
    assert path_exists('configs/fashion_mnist/resnet14_{baseline,stpp}_'
                       'fashion-mnist.py')
    assert path_exists('configs/fashion_mnist/${FAMILY}_$METHOD'
                       '_fashion-mnist.py')
    assert not path_exists('configs/fashion_mnist/resnet14_{baseline,none}_'
                           'fashion-mnist.py')
    assert not path_exists('configs/${FAMILY}/missing_*.py')


def test_docs_name_existing_paths():
    """Every path under :data:`CHECKED_ROOTS` the docs name exists."""
    missing: Dict[str, List[str]] = {}
    checked: List[Tuple[str, str]] = []
    for doc in markdown_files():
        for path in named_paths(read(doc)):
            checked.append((doc, path))
            if not path_exists(path):
                missing.setdefault(doc, []).append(path)
    assert checked, 'no repository path found in the docs'
    assert not missing, ('paths named in the docs that do not exist:\n' +
                         format_missing(missing))


def test_docs_links_resolve():
    """Every relative link and image of the README and docs/ exists."""
    missing: Dict[str, List[str]] = {}
    for doc in markdown_files():
        for target in relative_links(read(doc)):
            if not osp.exists(resolve_link(doc, target)):
                missing.setdefault(doc, []).append(target)
    assert not missing, ('links in the docs whose target does not exist:\n' +
                         format_missing(missing))


def test_readme_is_a_front_page():
    """The README stays short; details belong in docs/en/."""
    num_lines = len(read('README.md').splitlines())
    assert num_lines <= README_MAX_LINES, (
        f'README.md has {num_lines} lines, more than {README_MAX_LINES}; '
        'move details to docs/en/')
