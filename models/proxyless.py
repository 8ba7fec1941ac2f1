# SPDX-License-Identifier: Apache-2.0
"""MCUNet and ProxylessNAS networks from their released JSON configs (ProxylessNAS format).

The configs (mit-han-lab/mcunet's model zoo, in ../shared/models/mcunet-configs) give the architecture
only: ``first_conv`` (ConvLayer), ``blocks`` (MobileInvertedResidualBlock: an MBInvertedConvLayer or a
ZeroLayer, plus an IdentityLayer shortcut or none), an optional ``feature_mix_layer``, ``classifier``
(LinearLayer) and ``resolution``. Weights are synthetic (see models/builder.py).

A ZeroLayer block with an identity shortcut computes x + 0 = x, so it adds no ops and no block; the
remaining blocks are numbered consecutively (``b0``, ``b1``, ...), as the patch-stage depth n counts them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.ir.graph import Graph
from harness.paths import MCUNET_CONFIGS_DIR
from models.builder import MBConvNetSpec, MBConvSpec, build_mbconv_network

# Zoo name -> config file. in0..in4 are MCUNet's ImageNet models in the order of its model zoo.
CONFIG_FILES = {
    "mcunet-in0": "mcunet-10fps_imagenet.json",
    "mcunet-in1": "mcunet-5fps_imagenet.json",
    "mcunet-in2": "mcunet-256kb-1mb_imagenet.json",
    "mcunet-in3": "mcunet-320kb-1mb_imagenet.json",
    "mcunet-in4": "mcunet-512kb-2mb_imagenet.json",
    "mcunet-mbv2-w0.35-r144": "mbv2-w0.35-r144_imagenet.json",
    "proxyless-w0.3-r176": "proxyless-w0.3-r176_imagenet.json",
}

_ACTIVATIONS = {"relu6": "RELU6", "relu": "RELU"}


class ConfigError(ValueError):
    """A ProxylessNAS JSON config patchbench cannot build; the message names the file and the field."""


def config_path(name: str) -> Path:
    return MCUNET_CONFIGS_DIR / CONFIG_FILES[name]


def build_from_config(name: str, path: Path | None = None) -> Graph:
    """The zoo network ``name`` built from its JSON config (``path`` overrides the shared config)."""
    path = config_path(name) if path is None else Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"MCUNet config for {name!r} not found at {path}; patchbench expects ../shared/models beside the "
            "repository (or PATCHBENCH_SHARED pointing at a shared/ folder)"
        )
    try:
        config = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path}: not valid JSON ({error})") from None
    return build_mbconv_network(name, spec_from_config(config, str(path)))


def spec_from_config(config: dict[str, Any], where: str) -> MBConvNetSpec:
    first = _field(config, "first_conv", where)
    _expect(first, "name", "ConvLayer", f"{where}: first_conv")
    activation = _activation(first, f"{where}: first_conv")
    for key in ("dilation", "groups"):
        if first.get(key, 1) != 1:
            raise ConfigError(f"{where}: first_conv {key} is {first[key]!r}; patchbench supports 1")
    in_channels = _field(first, "out_channels", f"{where}: first_conv")
    blocks = []
    for index, block in enumerate(_field(config, "blocks", where)):
        block_where = f"{where}: blocks[{index}]"
        spec = _block_spec(block, in_channels, activation, block_where)
        if spec is not None:
            blocks.append(spec)
            in_channels = spec.out_channels
    feature_mix = config.get("feature_mix_layer")
    feature_mix_channels = None
    if feature_mix is not None:
        mix_where = f"{where}: feature_mix_layer"
        _expect(feature_mix, "name", "ConvLayer", mix_where)
        _expect(feature_mix, "kernel_size", 1, mix_where)
        _expect(feature_mix, "in_channels", in_channels, mix_where)
        feature_mix_channels = _field(feature_mix, "out_channels", mix_where)
        in_channels = feature_mix_channels
    classifier = _field(config, "classifier", where)
    _expect(classifier, "name", "LinearLayer", f"{where}: classifier")
    _expect(classifier, "in_features", in_channels, f"{where}: classifier")
    return MBConvNetSpec(
        resolution=int(_field(config, "resolution", where)),
        stem_channels=first["out_channels"],
        blocks=tuple(blocks),
        feature_mix_channels=feature_mix_channels,
        classes=int(_field(classifier, "out_features", f"{where}: classifier")),
        stem_kernel=int(_field(first, "kernel_size", f"{where}: first_conv")),
        stem_stride=int(_field(first, "stride", f"{where}: first_conv")),
        activation=activation,
        input_channels=int(first.get("in_channels", 3)),
    )


def _block_spec(block: dict[str, Any], in_channels: int, activation: str, where: str) -> MBConvSpec | None:
    conv = _field(block, "mobile_inverted_conv", where)
    shortcut = block.get("shortcut")
    if shortcut is not None:
        _expect(shortcut, "name", "IdentityLayer", f"{where}.shortcut")
    if conv.get("name") == "ZeroLayer":
        if shortcut is None:
            raise ConfigError(
                f"{where}: a ZeroLayer without a shortcut outputs zeros; patchbench cannot build it"
            )
        return None  # x + 0: no ops
    conv_where = f"{where}.mobile_inverted_conv"
    _expect(conv, "name", "MBInvertedConvLayer", conv_where)
    _expect(conv, "in_channels", in_channels, conv_where)
    if conv.get("use_se"):
        raise ConfigError(f"{conv_where}: squeeze-and-excitation (use_se) is not supported")
    if _activation(conv, conv_where) != activation:
        raise ConfigError(f"{conv_where}: act_func differs from first_conv's; one activation per network")
    expand_ratio = _field(conv, "expand_ratio", conv_where)
    mid_channels = conv.get("mid_channels")
    if mid_channels is None:
        mid_channels = round(in_channels * expand_ratio)  # ProxylessNAS's rule
    return MBConvSpec(
        out_channels=int(_field(conv, "out_channels", conv_where)),
        kernel=int(_field(conv, "kernel_size", conv_where)),
        stride=int(_field(conv, "stride", conv_where)),
        mid_channels=None if expand_ratio == 1 else int(mid_channels),
        residual=shortcut is not None,
    )


def _field(table: dict[str, Any], key: str, where: str) -> Any:
    if not isinstance(table, dict) or key not in table:
        raise ConfigError(f"{where}: missing field {key!r}")
    return table[key]


def _expect(table: dict[str, Any], key: str, expected: Any, where: str) -> None:
    value = _field(table, key, where)
    if value != expected:
        raise ConfigError(f"{where}: {key} is {value!r}; patchbench supports {expected!r} here")


def _activation(table: dict[str, Any], where: str) -> str:
    name = table.get("act_func")
    if name not in _ACTIVATIONS:
        raise ConfigError(
            f"{where}: act_func {name!r} is not supported; supported: {', '.join(_ACTIVATIONS)}"
        )
    return _ACTIVATIONS[name]
