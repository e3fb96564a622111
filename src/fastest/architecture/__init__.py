"""Ready-made models: ``LeNet`` …"""

from fastest._lazy import lazy_submodules
from fastest.architecture.lenet import LeNet

__all__ = ["LeNet"]
__getattr__ = lazy_submodules(__name__)
