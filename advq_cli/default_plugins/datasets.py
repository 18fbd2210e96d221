"""Built-in datasets."""

from ..datasets.cifar import load_cifar10, load_cifar100
from ..datasets.digits import load_digits
from ..datasets.fashion_mnist import load_fashion_mnist
from ..datasets.tiny_imagenet import load_tiny_imagenet
from ..hookspecs import hookimpl


@hookimpl
def advq_register_datasets(register):
    register("digits", load_digits, description="8×8 handwritten digits shipped with scikit-learn (embedded, 1,437 train / 360 test)")
    register("fashion-mnist", load_fashion_mnist, description="Fashion-MNIST 28×28 greyscale, 60,000 / 10,000 (idx files; Debian dataset-fashion-mnist or --download)")
    register("cifar10", load_cifar10, description="CIFAR-10 32×32 colour, 10 classes, 50,000 / 10,000 (torchvision layout; --download)")
    register("cifar100", load_cifar100, description="CIFAR-100 32×32 colour, 100 fine classes, 50,000 / 10,000 (torchvision layout; --download)")
    register("tiny-imagenet", load_tiny_imagenet, description="Tiny-ImageNet 64×64 colour, 200 classes, 100,000 / 10,000 (the tiny-imagenet-200 folder)")
