"""Ready-made models: ``LeNet`` …"""

from fastest.architecture.lenet import LeNet

__all__ = ["LeNet"]
