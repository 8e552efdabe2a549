# Copyright (c) mmstim contributors. All rights reserved.
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS

NORMALIZATIONS = ('layernorm', 'l2', None)


@MODELS.register_module()
class KLDirectionLoss(nn.Module):
    """KL divergence between a student's and a teacher's logits.

    With ``normalize='layernorm'`` this is the KL- loss of ST++: both logit
    vectors are layer-normalised over the classes (no affine) and multiplied
    by ``amplitude`` before the softmax, so only their direction is aligned;
    ``normalize=None`` gives the plain KL of vanilla stimulative training.
    The loss is ``loss_weight * tau^2 / N * sum_n sum_c p_t log(p_t / p_s)``
    with ``p = softmax(z' / tau)``; the teacher never receives a gradient.

    Args:
        tau (float): Softmax temperature.
        amplitude (float): Scale of the normalised logits.
        normalize (str, optional): ``'layernorm'``, ``'l2'`` or None.
        eps (float): Epsilon of the normalisation.
        loss_weight (float): Weight of the loss.
    """

    def __init__(self, tau: float = 1.0, amplitude: float = 1.0,
                 normalize: Optional[str] = 'layernorm', eps: float = 1e-7,
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
            raise ValueError(f'loss_weight must be >= 0, got {loss_weight}.')
        self.tau = tau
        self.amplitude = amplitude
        self.normalize = normalize
        self.eps = eps
        self.loss_weight = loss_weight

    def normalize_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """Normalise (N, C) logits and scale them by ``amplitude``; without
        ``normalize`` they are returned unchanged."""
        if self.normalize == 'layernorm':
            logits = F.layer_norm(logits, logits.shape[-1:], eps=self.eps)
        elif self.normalize == 'l2':
            logits = F.normalize(logits, p=2, dim=-1, eps=self.eps)
        else:
            return logits
        return logits * self.amplitude

    def forward(self, student_logits: torch.Tensor,
                teacher_logits: torch.Tensor) -> torch.Tensor:
        """The scalar loss of (N, C) logits; the teacher's are detached."""
        if student_logits.shape != teacher_logits.shape:
            raise ValueError(
                f'Student logits {tuple(student_logits.shape)} and teacher '
                f'logits {tuple(teacher_logits.shape)} differ in shape.')
        kl = F.kl_div(
            self._log_probs(student_logits),
            self._log_probs(teacher_logits.detach()),
            reduction='sum', log_target=True)
        batch_size = max(student_logits.shape[0], 1)
        return self.loss_weight * self.tau**2 * kl / batch_size

    def _log_probs(self, logits: torch.Tensor) -> torch.Tensor:
        """Log-softmax of the normalised logits over ``tau``."""
        # Half-precision logits (AMP) are compared in float32; float64 stays.
        if logits.dtype in (torch.float16, torch.bfloat16):
            logits = logits.float()
        return F.log_softmax(self.normalize_logits(logits) / self.tau, dim=-1)
