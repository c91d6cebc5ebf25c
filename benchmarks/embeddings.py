"""Embedding throughput of the core-set extractors: images per second for Inception-v3 (299²) and ResNet-50 (224²).

The extractors are built with random weights (``weights=None``; no download is possible here). Throughput does not
depend on the weights: the same layers run on the same shapes. Inputs are CIFAR-sized 32x32 images, resized inside
the extractor exactly as in :class:`~lightning_nas.datamodules.CoresetDataModule`, and fed through
:func:`~lightning_nas.embeddings.extract_features` (eval mode, ``torch.no_grad``, batched). Printed per model:
images/s, seconds per batch, and the projected time for CIFAR-10's 50,000 training images.

    python benchmarks/embeddings.py                              # CPU, all threads torch uses
    python benchmarks/embeddings.py --threads 1 --images 64
    python benchmarks/embeddings.py --device cuda --images 2048 --batch-size 256
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.utils.data import DataLoader, TensorDataset

from lightning_nas.embeddings import extract_features, feature_extractor

CIFAR10_TRAIN = 50_000


def measure(name: str, image_size: int | None, args: argparse.Namespace) -> dict[str, float]:
    torch.manual_seed(0)
    net = feature_extractor(name, weights=None, image_size=image_size)
    images = torch.rand(args.images, 3, 32, 32)
    loader = DataLoader(TensorDataset(images), batch_size=args.batch_size)
    warm = DataLoader(TensorDataset(images[: args.batch_size]), batch_size=args.batch_size)
    extract_features(net, warm, device=args.device, progress=False)  # warm-up: allocator, kernels, cudnn
    if args.device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    features = extract_features(net, loader, device=args.device, progress=False)
    if args.device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    rate = args.images / seconds
    return {
        "dim": features.shape[1],
        "size": net.image_size,
        "rate": rate,
        "batch_s": seconds / len(loader),
        "cifar_min": CIFAR10_TRAIN / rate / 60,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--images", type=int, default=64, help="images embedded per model (after one warm-up batch)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument(
        "--models",
        nargs="+",
        default=["inception_v3", "resnet50"],
        help="torchvision names; 'resnet18@32' runs ResNet-18 at 32x32 (no resize)",
    )
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device_name = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {device_name}; {args.images} images of 3x32x32, batch {args.batch_size}, random weights")
    print(f"{'model':<14}{'input':>8}{'dim':>6}{'images/s':>11}{'s/batch':>9}{'CIFAR-10 50k':>15}")
    for spec in args.models:
        name, _, size = spec.partition("@")
        r = measure(name, int(size) if size else None, args)
        label, minutes = f"{int(r['size'])}²", f"{r['cifar_min']:.1f} min"
        print(f"{spec:<14}{label:>8}{int(r['dim']):>6}{r['rate']:>11.1f}{r['batch_s']:>9.2f}{minutes:>15}")


if __name__ == "__main__":
    main()
