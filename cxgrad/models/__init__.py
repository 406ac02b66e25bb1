"""Backbones as pure functions of a parameter dict."""

from cxgrad.models.conv4 import Conv4Config, conv4_features, conv4_forward, init_conv4

__all__ = ["Conv4Config", "conv4_features", "conv4_forward", "init_conv4"]
