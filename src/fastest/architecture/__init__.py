"""Ready-made models: ``LeNet``, ``ResNet9`` …"""

from fastest._lazy import lazy_submodules
from fastest.architecture.lenet import LeNet
from fastest.architecture.resnet9 import ResNet9

__all__ = ["LeNet", "ResNet9"]
__getattr__ = lazy_submodules(__name__)
