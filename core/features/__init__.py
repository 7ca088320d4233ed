"""ImageNet backbones in plain PyTorch with torchvision-compatible parameter names.

* :mod:`.vgg19` — VGG-19 conv stack (the original's): SGM's segment descriptors and the style loss;
  also the shared :class:`VGGFeatures` base;
* :mod:`.vgg16` — VGG-16 conv stack, a named alternative for matching and the style loss;
* :mod:`.networks` — one loader that tells the two apart by a file's layers;
* :mod:`.alexnet` — AlexNet conv stack: the LPIPS backbone (:mod:`..metrics.lpips`).
"""
from .alexnet import AlexNetFeatures
from .networks import load_feature_network
from .vgg16 import VGG16Features, build_vgg16, load_vgg16
from .vgg19 import SGM_LAYERS, VGG19Features, VGGFeatures, build_vgg19, imagenet_normalise, load_vgg19

__all__ = [
    "SGM_LAYERS",
    "AlexNetFeatures",
    "VGG16Features",
    "VGG19Features",
    "VGGFeatures",
    "build_vgg16",
    "build_vgg19",
    "imagenet_normalise",
    "load_feature_network",
    "load_vgg16",
    "load_vgg19",
]
