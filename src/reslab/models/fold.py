"""BatchNorm folding: a model whose convolutions absorb the BN layers that read them alone.

Folding changes no function (up to float32 round-off) and removes the BN arithmetic at
inference; ``reslab export --fold-bn`` verifies it against the original before exporting.
"""

from __future__ import annotations

import copy
from collections import Counter

import torch
from torch import nn

from reslab.checkpoint import unwrap


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """A copy of ``model`` in eval mode with every BatchNorm that directly follows a
    convolution folded into that convolution (which gains a bias).

    Post-activation and plain networks lose every BN. In a pre-activation network a unit's
    first BN reads the unit's input, which the shortcut reads too, and the final BN reads
    the last addition: no convolution feeds them alone, so they stay (see
    :func:`batchnorm_names`).
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    folded = copy.deepcopy(unwrap(model)).eval()
    for conv_name, bn_name in conv_bn_pairs(folded):
        conv, bn = folded.get_submodule(conv_name), folded.get_submodule(bn_name)
        folded.set_submodule(conv_name, fuse_conv_bn_eval(conv, bn))
        folded.set_submodule(bn_name, nn.Identity())
    return folded


def conv_bn_pairs(model: nn.Module) -> list[tuple[str, str]]:
    """Names of (conv, BN) pairs where the BN reads the conv's output and nothing else
    does, found in the forward pass as ``torch.fx`` traces it."""
    graph = torch.fx.symbolic_trace(model).graph
    modules = dict(model.named_modules())
    calls = Counter(node.target for node in graph.nodes if node.op == "call_module")
    pairs = []
    for node in graph.nodes:
        if node.op != "call_module" or not isinstance(modules[node.target], nn.BatchNorm2d):
            continue
        source = node.args[0]
        if (
            isinstance(source, torch.fx.Node)
            and source.op == "call_module"
            and isinstance(modules[source.target], nn.Conv2d)
            and len(source.users) == 1
            and calls[source.target] == calls[node.target] == 1  # no shared modules
        ):
            pairs.append((source.target, node.target))
    return pairs


def batchnorm_names(model: nn.Module) -> list[str]:
    return [name for name, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)]
