# Copyright (c) mmstim contributors. All rights reserved.
"""Which mmcv the installer installs, decided from installed versions."""
import shlex
import subprocess
import sys

import pytest
from helpers import REPO, load_tool

mmcv_plan = load_tool('install/mmcv_plan.py')
plan_mmcv = mmcv_plan.plan_mmcv


def plan(mmcv=None,
         mmcv_lite=None,
         ops_load=False,
         with_ops=False,
         cached_wheel=False):
    result = plan_mmcv(mmcv, mmcv_lite, ops_load, with_ops, cached_wheel)
    return result.action, result.remove


@pytest.mark.parametrize('with_ops', [False, True])
@pytest.mark.parametrize('cached_wheel', [False, True])
def test_full_mmcv_with_ops_is_never_replaced(with_ops, cached_wheel):
    # a user's own OpenMMLab environment (e.g. mmcv 2.0.1 from OpenMMLab's
    # wheel index) keeps its mmcv in both stages
    assert plan('2.0.1', None, True, with_ops, cached_wheel) == ('keep', ())
    assert plan('2.1.0', None, True, with_ops, cached_wheel) == ('keep', ())


def test_classification_on_a_fresh_machine_installs_lite():
    assert plan() == ('install-lite', ())
    assert plan(mmcv_lite='2.1.0') == ('keep', ())
    assert plan(mmcv_lite='2.0.0') == ('install-lite', ('mmcv-lite', ))


def test_classification_uses_a_cached_compiled_wheel():
    assert plan(cached_wheel=True) == ('install-wheel', ())
    assert plan(
        mmcv_lite='2.1.0',
        cached_wheel=True) == ('install-wheel', ('mmcv-lite', ))


def test_classification_keeps_a_full_mmcv_whose_ops_do_not_load():
    action, remove = plan('2.1.0', None, ops_load=False)
    assert (action, remove) == ('keep', ())
    reason = plan_mmcv('2.1.0', None, False, False, False).reason
    assert reason == ('mmcv 2.1.0 is installed; its ops do not load, which '
                      'classification does not need')


def test_mmcv_outside_the_range_is_replaced():
    # MMDet 3.3 refuses mmcv >= 2.2.0, whatever its ops
    assert plan('2.2.0', None, True) == ('install-lite', ('mmcv', ))
    assert plan('2.2.0', None, True, with_ops=True) == ('compile', ('mmcv', ))
    assert plan(
        '1.7.2', None, True,
        cached_wheel=True) == ('install-wheel', ('mmcv', ))
    reason = plan_mmcv('2.2.0', None, True, False, False).reason
    assert reason == ('found mmcv 2.2.0, outside >=2.0.0,<2.2.0: installing '
                      'mmcv-lite 2.1.0 (no compiled ops, no compiling)')


def test_detection_compiles_only_without_a_cached_wheel():
    assert plan(with_ops=True) == ('compile', ())
    assert plan(
        mmcv_lite='2.1.0', with_ops=True) == ('compile', ('mmcv-lite', ))
    assert plan(
        mmcv_lite='2.1.0', with_ops=True,
        cached_wheel=True) == ('install-wheel', ('mmcv-lite', ))
    # a full mmcv built against another torch: ops do not load
    assert plan('2.1.0', None, False, with_ops=True) == ('compile', ('mmcv', ))
    # both distributions (they share the files of the mmcv package)
    assert plan(
        '2.1.0', '2.1.0', False, with_ops=True,
        cached_wheel=True) == ('install-wheel', ('mmcv-lite', 'mmcv'))


def test_version_tuple_and_range():
    assert mmcv_plan.version_tuple('2.0.0rc4') == (2, 0, 0)
    assert mmcv_plan.version_tuple('2.14.1+cpu') == (2, 14, 1)
    assert [
        mmcv_plan.in_range(v) for v in ('1.7.2', '2.0.0', '2.1.0', '2.2.0')
    ] == [False, True, True, False]


def test_shell_assignments_round_trip_through_bash():
    plan_ = mmcv_plan.MmcvPlan('install-lite', ('mmcv', ),
                               "found mmcv 2.2.0: it's replaced")
    script = (
        mmcv_plan.shell_assignments(plan_) +
        '\nprintf "%s|%s|%s" "$MMCV_ACTION" "$MMCV_REMOVE" '
        '"$MMCV_REASON"')
    output = subprocess.run(['bash', '-c', script],
                            capture_output=True,
                            text=True,
                            check=True).stdout
    assert output == "install-lite|mmcv|found mmcv 2.2.0: it's replaced"


def test_command_line_reads_this_environment():
    # the test environment has mmcv with its compiled ops (make test runs
    # make setup-det first): kept whatever is asked
    result = subprocess.run(
        [sys.executable, 'install/mmcv_plan.py', '--with-ops'],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True)
    values = dict(
        line.split('=', 1) for line in result.stdout.strip().splitlines())
    assert values['MMCV_ACTION'] == 'keep'
    assert values['MMCV_REMOVE'] == shlex.quote('')
    assert shlex.split(values['MMCV_REASON']) == [
        'mmcv 2.1.0 with its compiled ops is installed'
    ]
