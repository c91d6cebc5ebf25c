"""DARTS on NAS-Bench-201 / CIFAR-10 from a plain Trainer script (the paper's setting by default).

# torchvision's CIFAR-10 (downloaded into --root only with --download)
python examples/search_darts_nb201_cifar10.py --root data --download
# an ImageFolder tree ROOT/train/<class>/*.jpg, e.g. from ../shared/data/cifar10/unpack.py
python examples/search_darts_nb201_cifar10.py --image-folder .data/cifar10 --epochs 50
"""

from __future__ import annotations

import argparse

from lightning import Trainer, seed_everything

from lightning_nas.callbacks import BenchmarkAccuracy, GenotypeExport
from lightning_nas.datamodules import CIFAR10SearchDataModule, ImageFolderSearchDataModule
from lightning_nas.methods import DARTS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default="data", help="torchvision CIFAR-10 folder")
    parser.add_argument("--download", action="store_true")
    parser.add_argument("--image-folder", default=None, help="read an ImageFolder tree instead of torchvision's")
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--order", type=int, default=1, choices=(1, 2))
    parser.add_argument("--table", default=None, help="another NAS-Bench-201 CSV export (default: the built-in table)")
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--devices", default="auto")
    args = parser.parse_args()

    seed_everything(args.seed)
    if args.image_folder:
        datamodule = ImageFolderSearchDataModule(root=args.image_folder, batch_size=args.batch_size, num_workers=4)
    else:
        datamodule = CIFAR10SearchDataModule(
            root=args.root, download=args.download, batch_size=args.batch_size, num_workers=4
        )
    model = DARTS(search_space="nasbench201", space_options={"C": 16, "N": 5}, num_classes=10, order=args.order)
    # the ground-truth accuracy of the current cell, every epoch (the NAS-Bench-201 table ships with the package)
    callbacks = [GenotypeExport(), BenchmarkAccuracy(args.table, datasets=("cifar10", "cifar100", "imagenet16-120"))]
    trainer = Trainer(max_epochs=args.epochs, devices=args.devices, callbacks=callbacks)
    trainer.fit(model, datamodule)
    print(f"Genotype: {model.genotype()}")


if __name__ == "__main__":
    main()
