"""ImageNet backbones in plain PyTorch with torchvision-compatible parameter names.

* :mod:`.vgg19` — VGG-19 conv stack: SGM's segment descriptors and the style/perceptual loss.
* :mod:`.alexnet` — AlexNet conv stack: the LPIPS backbone (:mod:`..metrics.lpips`).
"""
from .alexnet import AlexNetFeatures
from .vgg19 import SGM_LAYERS, VGG19Features, build_vgg19, imagenet_normalise, load_vgg19

__all__ = ["AlexNetFeatures", "SGM_LAYERS", "VGG19Features", "build_vgg19", "imagenet_normalise", "load_vgg19"]
