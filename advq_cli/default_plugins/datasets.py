"""Built-in datasets, and the schemes for one's own data (a name ending in ':' is a scheme, see datasets/spec.py)."""

from ..datasets.cifar import load_cifar10, load_cifar100
from ..datasets.digits import load_digits
from ..datasets.fashion_mnist import load_fashion_mnist
from ..datasets.huggingface import load_hf
from ..datasets.imagefolder import load_imagefolder
from ..datasets.npz import load_npz
from ..datasets.tiny_imagenet import load_tiny_imagenet
from ..hookspecs import hookimpl


@hookimpl
def advq_register_datasets(register):
    register("digits", load_digits, description="8×8 handwritten digits shipped with scikit-learn (embedded, 1,437 train / 360 test)")
    register("fashion-mnist", load_fashion_mnist, description="Fashion-MNIST 28×28 greyscale, 60,000 / 10,000 (idx files; Debian dataset-fashion-mnist or --download)")
    register("cifar10", load_cifar10, description="CIFAR-10 32×32 colour, 10 classes, 50,000 / 10,000 (torchvision layout; --download)")
    register("cifar100", load_cifar100, description="CIFAR-100 32×32 colour, 100 fine classes, 50,000 / 10,000 (torchvision layout; --download)")
    register("tiny-imagenet", load_tiny_imagenet, description="Tiny-ImageNet 64×64 colour, 200 classes, 100,000 / 10,000 (the tiny-imagenet-200 folder)")
    register("imagefolder:", load_imagefolder, description="imagefolder:PATH, your image folders PATH/train/<class>/… and PATH/test/<class>/… (or val/)")
    register("npz:", load_npz, description="npz:FILE, your .npz with x_train, y_train, x_test, y_test (uint8 images) and optional classes")
    register("hf:", load_hf, description="hf:NAME_OR_PATH, a Hugging Face dataset saved with save_to_disk, or a hub name (extra advq[hf])")
