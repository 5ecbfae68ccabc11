from .g_ghost_regnet import GGhostRegNet
from .resnet_cifar_deep import ResNetCIFAR

__all__ = ['GGhostRegNet', 'ResNetCIFAR']
