# Copyright (c) mmstim contributors. All rights reserved.
import math

import pytest
import torch

from mmstim.models import KLDirectionLoss


def hand_kl(student, teacher, tau=1.0, normalize='layernorm', amplitude=1.0,
            eps=1e-7):
    """Reference computation written out element by element."""
    total = 0.0
    for s_row, t_row in zip(student.tolist(), teacher.tolist()):
        if normalize == 'layernorm':
            rows = []
            for row in (s_row, t_row):
                mean = sum(row) / len(row)
                var = sum((v - mean)**2 for v in row) / len(row)
                rows.append([(v - mean) / math.sqrt(var + eps) * amplitude
                             for v in row])
            s_row, t_row = rows
        s_exp = [math.exp(v / tau) for v in s_row]
        t_exp = [math.exp(v / tau) for v in t_row]
        p_s = [v / sum(s_exp) for v in s_exp]
        p_t = [v / sum(t_exp) for v in t_exp]
        total += sum(pt * math.log(pt / ps) for pt, ps in zip(p_t, p_s))
    return tau**2 * total / len(student)


@pytest.mark.parametrize('normalize', ['layernorm', None])
@pytest.mark.parametrize('tau', [1.0, 2.5])
def test_equals_hand_computation(normalize, tau):
    torch.manual_seed(0)
    student = torch.randn(4, 7, dtype=torch.float64)
    teacher = torch.randn(4, 7, dtype=torch.float64)
    loss = KLDirectionLoss(tau=tau, normalize=normalize)(student, teacher)
    expected = hand_kl(student, teacher, tau=tau, normalize=normalize)
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_batch_mean_of_class_sum_not_elementwise_mean():
    student = torch.tensor([[0.0, 0.0, 0.0, 0.0]])
    teacher = torch.tensor([[4.0, 0.0, 0.0, 0.0]])
    loss = KLDirectionLoss(normalize=None)(student, teacher)
    p_t = torch.softmax(teacher, -1)[0]
    expected = float((p_t * (p_t.log() - math.log(0.25))).sum())
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_layernorm_invariant_to_scale_and_shift():
    torch.manual_seed(1)
    student = torch.randn(3, 10, dtype=torch.float64)
    teacher = torch.randn(3, 10, dtype=torch.float64)
    loss_fn = KLDirectionLoss(eps=1e-12)
    base = loss_fn(student, teacher)
    assert loss_fn(student * 3.7 + 2.0, teacher).item() == pytest.approx(
        base.item(), rel=1e-9)
    assert loss_fn(student, teacher * 0.2 - 5.0).item() == pytest.approx(
        base.item(), rel=1e-9)


def test_zero_for_same_direction():
    teacher = torch.tensor([[1.0, -2.0, 0.5, 3.0]], dtype=torch.float64)
    loss = KLDirectionLoss(eps=1e-12)(teacher * 10 + 1, teacher)
    assert abs(loss.item()) < 1e-12
    # without normalisation the same pair is not aligned
    plain = KLDirectionLoss(normalize=None)(teacher * 10 + 1, teacher)
    assert plain.item() > 0.1


def test_tau_squared_scaling_and_amplitude():
    torch.manual_seed(2)
    student, teacher = torch.randn(2, 5), torch.randn(2, 5)
    loss = KLDirectionLoss(tau=2.0, normalize=None, loss_weight=0.5)(
        student, teacher)
    expected = 0.5 * hand_kl(student, teacher, tau=2.0, normalize=None)
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    amp = KLDirectionLoss(amplitude=3.0)(student, teacher)
    assert amp.item() == pytest.approx(
        hand_kl(student, teacher, amplitude=3.0), rel=1e-5)


def test_l2_normalisation():
    student = torch.tensor([[3.0, 4.0]])
    teacher = torch.tensor([[6.0, 8.0]])
    loss_fn = KLDirectionLoss(normalize='l2')
    assert torch.allclose(
        loss_fn.normalize_logits(student), torch.tensor([[0.6, 0.8]]))
    assert loss_fn(student, teacher).item() == pytest.approx(0.0, abs=1e-7)


def test_no_gradient_to_teacher():
    student = torch.randn(2, 4, requires_grad=True)
    teacher = torch.randn(2, 4, requires_grad=True)
    KLDirectionLoss()(student, teacher).backward()
    assert teacher.grad is None
    assert student.grad is not None and student.grad.abs().sum() > 0


def test_gradient_matches_closed_form():
    # d/dz_s of KL(p_t || softmax(z_s)) = (p_s - p_t) / N for tau = 1
    student = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
    teacher = torch.randn(3, 6, dtype=torch.float64)
    KLDirectionLoss(normalize=None)(student, teacher).backward()
    expected = (torch.softmax(student.detach(), -1) -
                torch.softmax(teacher, -1)) / 3
    assert torch.allclose(student.grad, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize('kwargs, message', [
    (dict(normalize='batchnorm'), 'normalize'),
    (dict(tau=0.0), 'tau'),
    (dict(amplitude=-1.0), 'amplitude'),
    (dict(loss_weight=-0.5), 'loss_weight'),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        KLDirectionLoss(**kwargs)


def test_shape_mismatch():
    with pytest.raises(ValueError, match='shape'):
        KLDirectionLoss()(torch.zeros(2, 3), torch.zeros(2, 4))
