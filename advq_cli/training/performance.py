"""Speed options of the training loop: bf16 autocast, channels-last, torch.compile.

They change how the model is run, never what is stored: the loop computes with the
module ``fast_forward`` returns and saves the plain model's ``state_dict`` (fp32, the
usual keys), so checkpoints do not depend on these options.
"""

from __future__ import annotations

import torch
from torch import nn


class MixedPrecision(nn.Module):
    """Runs the wrapped model under bf16 autocast and hands back fp32 logits.

    Autocast covers only the ops inside the model: the input stays fp32, so an attack's
    gradient with respect to it arrives in fp32, and losses are computed in fp32 on the
    returned logits. bf16 has fp32's exponent range, so no loss scaling is needed.
    """

    def __init__(self, net: nn.Module, device_type: str) -> None:
        super().__init__()
        self.net = net
        self.device_type = device_type

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(self.device_type, dtype=torch.bfloat16):
            logits = self.net(x)
        return logits.float()


class ChannelsLast(nn.Module):
    """Feeds image batches to the wrapped model in channels-last memory format."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x)


def fast_forward(
    model: nn.Module, device: torch.device, amp: bool = False, channels_last: bool = False, compiled: bool = False
) -> nn.Module:
    """The module the loop calls: ``model`` itself, or wrappers that share its parameters.

    ``channels_last`` also converts ``model``'s 4-D weights in place (values unchanged).
    ``train()``/``eval()`` on the result reach ``model``, as the methods and attacks expect.
    On CUDA, cuDNN may time its convolution algorithms once per input shape and keep the
    fastest: training repeats a handful of shapes thousands of times.
    """
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    net = model
    if channels_last:
        model.to(memory_format=torch.channels_last)
        net = ChannelsLast(net)
    if amp:
        net = MixedPrecision(net, device.type)
    if compiled:
        net = torch.compile(net)
    return net
