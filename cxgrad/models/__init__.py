"""Backbones as pure functions of a parameter dict."""

from cxgrad.models.backbone import HEAD_NAMES, Backbone
from cxgrad.models.conv4 import Conv4Config, conv4_features, conv4_forward, init_conv4
from cxgrad.models.resnet12 import ResNet12Config

__all__ = [
    "HEAD_NAMES",
    "Backbone",
    "Conv4Config",
    "ResNet12Config",
    "conv4_features",
    "conv4_forward",
    "init_conv4",
]
