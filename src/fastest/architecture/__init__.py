"""Ready-made models, layer-for-layer FastEstimator 1.7's PyTorch ones: ``LeNet``, ``ResNet9``, ``UNet`` …

FastEstimator's path ``fastestimator.architecture.pytorch`` is this package.
"""

from fastest._lazy import lazy_submodules
from fastest.architecture.attention_unet import AttentionBlock, AttentionUNet
from fastest.architecture.lenet import LeNet
from fastest.architecture.resnet9 import Residual, ResNet9
from fastest.architecture.unet import UNet, UNetDecoderBlock, UNetEncoderBlock
from fastest.architecture.wideresnet import BasicBlock, NetworkBlock, WideResidualNetwork

__all__ = ["AttentionBlock", "AttentionUNet", "BasicBlock", "LeNet", "NetworkBlock", "ResNet9", "Residual", "UNet",
           "UNetDecoderBlock", "UNetEncoderBlock", "WideResidualNetwork"]
__getattr__ = lazy_submodules(__name__)
