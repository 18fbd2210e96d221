"""R models of one architecture run as one module, for training R runs in one pass.

The forward takes the R runs' batches one after another, (R·B, …), and returns (R·B, K):
rows r·B..(r+1)·B−1 go through model r. The models' parameters and buffers are stacked
along a new first dimension and the architecture is applied to each slice with
``torch.vmap`` over ``torch.func.functional_call``. The models never mix, so the
gradient of a sum of per-row losses, with respect to an input row or to model r's
weights, is model r's own: attacks and training methods see an ordinary model.

Batch norm: the running statistics are stacked buffers too, so in train mode each model
normalises by its own rows and updates its own statistics in place (they land in the
stacked buffers), and in eval mode each model uses its own.

The batched kernels (``bmm`` for a linear layer, a grouped convolution) may add in
another order than one model's kernels: a stacked forward matches the lone model's to
within float rounding (about 1e-7), not bit for bit.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn
from torch.func import functional_call


class StackedModels(nn.Module):
    """``models`` (same architecture) as one module over (R·B, …) batches; see the module docstring.

    ``load`` copies the models' weights into the stack and ``unload`` back out, so the
    models stay the source of checkpoints.
    """

    def __init__(self, models: Sequence[nn.Module]) -> None:
        super().__init__()
        if not models:
            raise ValueError("StackedModels needs at least one model")
        self.runs = len(models)
        self.parameter_names = [name for name, _ in models[0].named_parameters()]
        self.buffer_names = [name for name, _ in models[0].named_buffers()]
        first = dict(models[0].named_parameters())
        self.stack = nn.ParameterList(
            nn.Parameter(torch.empty((self.runs, *first[name].shape), dtype=first[name].dtype, device=first[name].device))
            for name in self.parameter_names
        )
        buffers = dict(models[0].named_buffers())
        for i, name in enumerate(self.buffer_names):
            b = buffers[name]
            self.register_buffer(f"stacked_buffer_{i}", torch.empty((self.runs, *b.shape), dtype=b.dtype, device=b.device))
        # the architecture vmap applies: not a submodule (its own weights are never used), so not in parameters()
        object.__setattr__(self, "template", copy.deepcopy(models[0]))
        self.load(models)

    def stacked_buffers(self) -> list[torch.Tensor]:
        return [getattr(self, f"stacked_buffer_{i}") for i in range(len(self.buffer_names))]

    @torch.no_grad()
    def load(self, models: Sequence[nn.Module]) -> None:
        """Copy the weights and buffers of ``models`` (in order) into the stack."""
        self._check(models)
        parameters = [dict(m.named_parameters()) for m in models]
        buffers = [dict(m.named_buffers()) for m in models]
        for name, stacked in zip(self.parameter_names, self.stack):
            stacked.copy_(torch.stack([p[name] for p in parameters]))
        for name, stacked in zip(self.buffer_names, self.stacked_buffers()):
            stacked.copy_(torch.stack([b[name] for b in buffers]))

    @torch.no_grad()
    def unload(self, models: Sequence[nn.Module]) -> None:
        """Copy each model's slice of the stack back into it."""
        self._check(models)
        for r, model in enumerate(models):
            parameters, buffers = dict(model.named_parameters()), dict(model.named_buffers())
            for name, stacked in zip(self.parameter_names, self.stack):
                parameters[name].copy_(stacked[r])
            for name, stacked in zip(self.buffer_names, self.stacked_buffers()):
                buffers[name].copy_(stacked[r])

    def _check(self, models: Sequence[nn.Module]) -> None:
        if len(models) != self.runs:
            raise ValueError(f"{len(models)} models for a stack of {self.runs}")

    def train(self, mode: bool = True) -> StackedModels:
        super().train(mode)
        self.template.train(mode)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] % self.runs:
            raise ValueError(f"a batch of {x.shape[0]} rows cannot be split among {self.runs} stacked models")
        parameters = dict(zip(self.parameter_names, self.stack))
        buffers = dict(zip(self.buffer_names, self.stacked_buffers()))
        per_model = x.reshape(self.runs, -1, *x.shape[1:])
        out = torch.vmap(self._one, randomness="different")(parameters, buffers, per_model)
        return out.flatten(0, 1)

    def _one(self, parameters: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return functional_call(self.template, (parameters, buffers), (x,))
