"""Quick start: DARTS on the NAS-Bench-201 space, searched on scikit-learn's handwritten digits.

Needs no download (the 1,797 real 8x8 digit images ship with scikit-learn) and takes about two minutes on
two CPU cores. Prints the derived genotype, the supernet's accuracy on held-out digits and the genotype's
ground-truth CIFAR-10 accuracy (200 epochs), looked up in the NAS-Bench-201 table that ships with the package
(NATS-Bench's figures; ``--table PATH`` reads another CSV export instead).

    pip install -e ".[demo]" && python examples/quickstart.py
"""

from __future__ import annotations

import argparse
import json
import os

from lightning import Trainer, seed_everything

from lightning_nas.callbacks import BenchmarkAccuracy, GenotypeExport
from lightning_nas.datamodules import DigitsSearchDataModule
from lightning_nas.methods import DARTS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--channels", type=int, default=8, help="NAS-Bench-201 C (paper: 16)")
    parser.add_argument("--cells", type=int, default=1, help="NAS-Bench-201 N, cells per stage (paper: 5)")
    parser.add_argument("--order", type=int, default=1, choices=(1, 2))
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument(
        "--table", default=None, help="NAS-Bench-201 CSV export (default: the table that ships with the package)"
    )
    parser.add_argument("--out", default="lightning_logs/quickstart")
    args = parser.parse_args()

    seed_everything(args.seed)
    datamodule = DigitsSearchDataModule(batch_size=64)
    model = DARTS(
        search_space="nasbench201",
        space_options={"C": args.channels, "N": args.cells, "in_channels": 1},
        num_classes=10,
        order=args.order,
    )
    benchmark = BenchmarkAccuracy(args.table, datasets=("cifar10",))  # args.table=None: the built-in table
    callbacks = [GenotypeExport(dirpath=args.out), benchmark]
    trainer = Trainer(
        max_epochs=args.epochs,
        accelerator="auto",
        devices=1,
        callbacks=callbacks,
        default_root_dir=args.out,
        log_every_n_steps=5,
        enable_model_summary=False,
    )
    trainer.fit(model, datamodule)
    (test,) = trainer.test(model, datamodule, verbose=False)

    genotype = model.genotype()
    print(f"\nGenotype: {genotype}")
    print(f"Supernet accuracy on held-out digits: {100 * test['test/acc']:.2f} %")
    accuracy = benchmark.table.test_accuracy(genotype, "cifar10")  # the table the callback read in setup
    print(f"NAS-Bench-201 CIFAR-10 test accuracy of this cell: {accuracy:.2f} %")
    with open(os.path.join(args.out, "genotype.json")) as f:
        print(f"Per-epoch history in {args.out}/genotype.json ({len(json.load(f)['history'])} epochs)")


if __name__ == "__main__":
    main()
