from .resnet_cifar_deep import ResNetCIFAR

__all__ = ['ResNetCIFAR']
