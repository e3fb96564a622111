"""Ready-made models: ``LeNet``, ``ResNet9``, ``UNet`` …"""

from fastest._lazy import lazy_submodules
from fastest.architecture.lenet import LeNet
from fastest.architecture.resnet9 import ResNet9
from fastest.architecture.unet import UNet

__all__ = ["LeNet", "ResNet9", "UNet"]
__getattr__ = lazy_submodules(__name__)
