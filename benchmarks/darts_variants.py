"""Speed and activation memory of DARTS, PC-DARTS and beta-DARTS on the DARTS cell space.

For the CIFAR supernet (C=16, 8 cells, batch 64, 32x32 inputs) prints, per method: ms per search step (first
order: architecture step + weight step), peak memory (CUDA allocator peak on a GPU, process peak RSS on a CPU),
and the **activation memory**: the bytes autograd saves for the backward pass of one supernet forward, counted
exactly with ``torch.autograd.graph.saved_tensors_hooks`` (device independent, so CPU figures are meaningful).
From the last it derives the batch PC-DARTS fits in DARTS's activation memory.

    python benchmarks/darts_variants.py                    # CPU, a couple of steps
    python benchmarks/darts_variants.py --device cuda --steps 20
"""

from __future__ import annotations

import argparse
import resource

import torch
from lightning import Trainer, seed_everything
from search_step import StepTimer  # the sibling script

from lightning_nas.datamodules import ArraySearchDataModule
from lightning_nas.methods import DARTS, PCDARTS, BetaDARTS


def activation_bytes(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    """Bytes of the distinct tensors autograd saves during one forward pass and loss."""
    seen: dict[tuple[int, int], int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        if t.device.type != "meta":
            storage = t.untyped_storage()
            seen[(storage.data_ptr(), t.device.index or 0)] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = torch.nn.functional.cross_entropy(model(x), y)
    del loss
    return sum(seen.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--C", type=int, default=16)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=1)
    args = parser.parse_args()

    n = 2 * args.batch_size * (args.steps + args.warmup)
    x, y = torch.rand(n, 3, 32, 32), torch.randint(0, 10, (n,))
    options = {"C": args.C, "layers": args.layers}
    methods = {
        "DARTS": lambda: DARTS(search_space="darts", space_options=options),
        "PC-DARTS (K=4)": lambda: PCDARTS(search_space="darts", space_options=options, arch_warmup_epochs=0),
        "beta-DARTS": lambda: BetaDARTS(search_space="darts", space_options=options, lambda_epochs=1),
    }
    print(f"device={args.device} DARTS space C={args.C} layers={args.layers} batch={args.batch_size}")
    activations = {}
    for name, build in methods.items():
        seed_everything(0)
        model = build()
        model.to(args.device).train()
        xb, yb = x[: args.batch_size].to(args.device), y[: args.batch_size].to(args.device)
        activations[name] = activation_bytes(model.supernet, xb, yb)
        model.zero_grad(set_to_none=True)
        if args.device == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        timer = StepTimer(args.warmup, args.device)
        trainer = Trainer(
            accelerator="gpu" if args.device == "cuda" else "cpu",
            devices=1,
            max_epochs=2,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            limit_train_batches=args.steps + args.warmup,
            limit_val_batches=0,
            callbacks=[timer],
        )
        # two epochs so that beta-DARTS's lambda (0 in epoch 0) is active in the timed steps of epoch 1
        trainer.fit(model, ArraySearchDataModule(x, y, batch_size=args.batch_size, augment=False))
        ms = 1000 * sum(timer.times) / len(timer.times)
        if args.device == "cuda":
            peak = f"{torch.cuda.max_memory_allocated() / 2**20:.0f} MiB CUDA peak"
        else:
            peak = f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10:.0f} MiB process peak RSS"
        print(f"{name:16s} {ms:9.1f} ms/step  activations {activations[name] / 2**20:8.1f} MiB/forward  {peak}")
    ratio = activations["PC-DARTS (K=4)"] / activations["DARTS"]
    print(
        f"PC-DARTS / DARTS activation memory: {ratio:.3f}; at DARTS's activation memory for batch {args.batch_size}"
        f" PC-DARTS fits batch {int(args.batch_size / ratio)} ({1 / ratio:.2f}x)"
    )


if __name__ == "__main__":
    main()
