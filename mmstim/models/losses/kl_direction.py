# Copyright (c) mmstim contributors. All rights reserved.
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS

NORMALIZATIONS = ('layernorm', 'l2', None)


def _at_least_float32(logits: torch.Tensor) -> torch.Tensor:
    # Half-precision logits (AMP) are compared in float32; float64 stays.
    if logits.dtype in (torch.float16, torch.bfloat16):
        return logits.float()
    return logits


@MODELS.register_module()
class KLDirectionLoss(nn.Module):
    """KL divergence between a student's and a teacher's logits.

    With ``normalize='layernorm'`` this is the KL- loss of ST++: both logit
    vectors are layer-normalised over the classes (zero mean, unit biased
    variance, no affine) and multiplied by ``amplitude`` before the softmax,
    so only their direction is aligned. ``normalize=None`` gives the plain KL
    of vanilla stimulative training.

    The loss is ``loss_weight * tau^2 / N * sum_n sum_c p_t log(p_t / p_s)``
    with ``p = softmax(z' / tau)``: the batch mean of the per-sample KL
    summed over classes. The teacher never receives a gradient.

    Args:
        tau (float): Softmax temperature. Defaults to 1.0.
        amplitude (float): Scale of the normalised logits. Defaults to 1.0.
        normalize (str, optional): ``'layernorm'``, ``'l2'`` or None.
            Defaults to ``'layernorm'``.
        eps (float): Epsilon of the normalisation. Defaults to 1e-7.
        loss_weight (float): Weight of the loss. Defaults to 1.0.

    Examples:
        >>> loss = KLDirectionLoss()
        >>> teacher = torch.tensor([[1., 2., 3.]])
        >>> float(loss(teacher * 5 + 1, teacher)) < 1e-6
        True
    """

    def __init__(self,
                 tau: float = 1.0,
                 amplitude: float = 1.0,
                 normalize: Optional[str] = 'layernorm',
                 eps: float = 1e-7,
                 loss_weight: float = 1.0):
        super().__init__()
        if normalize not in NORMALIZATIONS:
            raise ValueError(f'normalize={normalize!r} is not supported; '
                             f'allowed: {NORMALIZATIONS}.')
        for name, value in (('tau', tau), ('amplitude', amplitude),
                            ('eps', eps)):
            if not value > 0:
                raise ValueError(f'{name} must be positive, got {value}.')
        if loss_weight < 0:
            raise ValueError(
                f'loss_weight must be >= 0, got {loss_weight}.')
        self.tau = tau
        self.amplitude = amplitude
        self.normalize = normalize
        self.eps = eps
        self.loss_weight = loss_weight

    def normalize_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """Apply the configured normalisation and amplitude to logits.

        Args:
            logits (Tensor): Logits of shape (N, C).

        Returns:
            Tensor: Logits of the same shape; unchanged if ``normalize`` is
            None.
        """
        if self.normalize == 'layernorm':
            logits = F.layer_norm(logits, logits.shape[-1:], eps=self.eps)
        elif self.normalize == 'l2':
            logits = F.normalize(logits, p=2, dim=-1, eps=self.eps)
        else:
            return logits
        return logits * self.amplitude

    def forward(self, student_logits: torch.Tensor,
                teacher_logits: torch.Tensor) -> torch.Tensor:
        """Compute the loss.

        Args:
            student_logits (Tensor): Student logits, shape (N, C).
            teacher_logits (Tensor): Teacher logits, shape (N, C); detached.

        Returns:
            Tensor: The scalar loss.
        """
        if student_logits.shape != teacher_logits.shape:
            raise ValueError(
                f'Student logits {tuple(student_logits.shape)} and teacher '
                f'logits {tuple(teacher_logits.shape)} differ in shape.')
        student = self.normalize_logits(_at_least_float32(student_logits))
        teacher = self.normalize_logits(
            _at_least_float32(teacher_logits.detach()))
        log_p_student = F.log_softmax(student / self.tau, dim=-1)
        log_p_teacher = F.log_softmax(teacher / self.tau, dim=-1)
        kl = F.kl_div(
            log_p_student, log_p_teacher, reduction='sum', log_target=True)
        batch_size = max(student_logits.shape[0], 1)
        return self.loss_weight * self.tau**2 * kl / batch_size
