"""Speed of greedy k-center selection: `k_center_greedy` against straightforward loops, with identical picks.

For every case (features, budget; one seeded random initial row as in the core-set paper) prints:
* seconds of `k_center_greedy` (lazy updates + blocked, screened matrix products, exact picks);
* seconds of the plain NumPy loop (one BLAS matrix-vector product over all features per pick: the
  memory-bandwidth-bound baseline) and the speedup against it;
* bytes of features read per pick by each (the plain loop reads all N x D every pick);
* whether the picks are identical to `k_center_greedy_reference` (the canonical loop the fast one must match
  bit for bit; it is slower than the plain loop, so on the large cases it runs only with --check-reference) and
  to the plain loop (whose BLAS rounding may, rarely, order a near tie differently).

Cases: random float32 features (standard normal), 50,000 x 2,048 -> 5,000 and one class, 5,000 x 2,048 -> 500;
with --features, the same on real embeddings (all rows, and the first class's rows when labels are given).

    python benchmarks/kcenter.py                          # random features, a few minutes (1 BLAS thread)
    python benchmarks/kcenter.py --quick                  # 10,000 x 2,048 -> 1,000 and 2,000 x 2,048 -> 200
    python benchmarks/kcenter.py --features .data/kcenter/resnet50_random.npy --labels .data/kcenter/labels.npy
    # make CIFAR-10 embeddings first (torchvision ResNet; random init unless --weights is given):
    python ../shared/data/cifar10/unpack.py --root .data/kcenter --format npz
    python benchmarks/kcenter.py --make-features .data/kcenter/resnet50_random.npy \\
        --cifar10-npz .data/kcenter/cifar10.npz --arch resnet50
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from lightning_nas.selection import k_center_greedy, k_center_greedy_reference
from lightning_nas.selection.kcenter import _LazyKCenter, _prepare


def plain_numpy_loop(x: np.ndarray, budget: int, initial: np.ndarray) -> np.ndarray:
    """The straightforward loop at memory-bandwidth speed: d = |x|^2 + |c|^2 - 2 X c (BLAS GEMV) per pick."""
    sq = np.einsum("ij,ij->i", x, x)
    nearest = np.full(len(x), np.inf, dtype=x.dtype)
    for c in initial:
        np.minimum(nearest, sq + sq[c] - 2 * (x @ x[c]), out=nearest)
    nearest[initial] = -np.inf
    picks = np.empty(budget, dtype=np.int64)
    for p in range(budget):
        i = int(np.argmax(nearest))
        picks[p] = i
        np.minimum(nearest, sq + sq[i] - 2 * (x @ x[i]), out=nearest)
        nearest[i] = -np.inf
    return picks


def run_case(name: str, x: np.ndarray, budget: int, check_reference: bool, seed: int = 0) -> dict:
    n, d = x.shape
    x = np.ascontiguousarray(x, dtype=np.float32)
    xs, initial, budget = _prepare("benchmark", x, budget, None, seed)

    def timed(fn, *args, **kwargs):
        wall, cpu = time.perf_counter(), time.process_time()
        out = fn(*args, **kwargs)
        return out, time.perf_counter() - wall, time.process_time() - cpu

    # the public function is this class on validated inputs; the class is used here for its work counters
    state = _LazyKCenter(xs, initial, budget)
    fast, t_fast, c_fast = timed(state.run, budget)
    assert np.array_equal(k_center_greedy(x, 1, seed=seed), fast[:1])
    plain, t_plain, c_plain = timed(plain_numpy_loop, xs, budget, initial)
    same_ref, t_ref, c_ref = None, None, None
    if check_reference:
        ref, t_ref, c_ref = timed(k_center_greedy_reference, x, budget, seed=seed)
        same_ref = bool(np.array_equal(fast, ref))

    plain_bytes = n * d * x.itemsize
    fast_bytes = state.stats["bytes_read"] / budget
    first_diff = np.flatnonzero(fast != plain)
    print(f"\n{name}: {n:,} x {d:,} float32 -> {budget:,} picks (1 random initial row, seed {seed})")
    print(f"  {'':22} {'wall s':>8} {'CPU s':>8} {'MiB read per pick':>18}")
    print(f"  {'k_center_greedy':22} {t_fast:8.2f} {c_fast:8.2f} {fast_bytes / 2**20:18.1f}")
    print(f"  {'plain NumPy loop':22} {t_plain:8.2f} {c_plain:8.2f} {plain_bytes / 2**20:18.1f}")
    print(
        f"  -> k_center_greedy is {t_plain / t_fast:.1f}x faster (wall), {c_plain / c_fast:.1f}x (CPU), and reads "
        f"{plain_bytes / fast_bytes:.0f}x fewer bytes than the plain loop"
    )
    if check_reference:
        name = "reference (canonical)"
        print(f"  {name:22} {t_ref:8.2f} {c_ref:8.2f}   picks identical to k_center_greedy: {same_ref}")
    else:
        print("  reference (canonical)  skipped (--check-reference runs it)")
    where = "" if not first_diff.size else f" (first difference at pick {int(first_diff[0])})"
    print(f"  picks identical to the plain loop: {not first_diff.size}{where}")
    s = state.stats
    print(
        f"  work: {s['pairs_screened'] / (n * budget):.1%} of the N x budget distances screened by matrix "
        f"products, {s['pairs_exact']:,} evaluated exactly, {s['rows_refreshed']:,} row updates"
    )
    return {"fast": t_fast, "plain": t_plain, "reference": t_ref, "identical": same_ref}


def make_features(out: Path, cifar10_npz: Path, arch: str, weights: str | None, batch_size: int) -> None:
    """CIFAR-10 training-set embeddings from a torchvision ResNet (global-average-pooled, fc removed)."""
    import torch
    import torchvision

    torch.manual_seed(0)
    data = np.load(cifar10_npz)
    images, labels = data["x_train"], data["y_train"]
    model = getattr(torchvision.models, arch)(weights=None)
    if weights:
        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    else:
        print(f"{arch}: no --weights given, using a RANDOMLY INITIALISED network (seed 0)")
    model.fc = torch.nn.Identity()
    model.eval()
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    chunks, start = [], time.perf_counter()
    with torch.inference_mode():
        for s in range(0, len(images), batch_size):
            batch = torch.from_numpy(images[s : s + batch_size]).permute(0, 3, 1, 2).float().div(255)
            chunks.append(model((batch - mean) / std).numpy())
    elapsed = time.perf_counter() - start
    features = np.concatenate(chunks).astype(np.float32)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.save(out, features)
    np.save(labels_path(out), labels.astype(np.int64))
    print(f"{arch} at 32x32: {features.shape} in {elapsed:.0f} s ({len(images) / elapsed:.0f} images/s) -> {out}")


def labels_path(features: Path) -> Path:
    return features.with_name(features.stem + ".labels.npy")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller random cases")
    parser.add_argument("--features", type=Path, help="(N, D) .npy of real embeddings")
    parser.add_argument("--labels", type=Path, help="(N,) .npy labels (default: FEATURES.labels.npy if present)")
    parser.add_argument("--fraction", type=float, default=0.1, help="budget as a fraction of the rows")
    parser.add_argument("--check-reference", action="store_true", help="also run the canonical loop on large cases")
    parser.add_argument("--skip-random", action="store_true", help="only the --features cases")
    parser.add_argument("--make-features", type=Path, metavar="OUT", help="write CIFAR-10 embeddings to OUT and exit")
    parser.add_argument("--cifar10-npz", type=Path, help="cifar10.npz from ../shared/data/cifar10/unpack.py")
    parser.add_argument("--arch", default="resnet50", help="torchvision ResNet for --make-features")
    parser.add_argument("--weights", help="state_dict file for --arch (default: random initialisation)")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads for every loop (default 1: stable)")
    args = parser.parse_args()

    if args.make_features:
        if not args.cifar10_npz:
            parser.error("--make-features needs --cifar10-npz")
        make_features(args.make_features, args.cifar10_npz, args.arch, args.weights, args.batch_size)
        return

    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)
        threads = f"{args.threads} BLAS thread(s)"
    except ImportError:  # threadpoolctl comes with the dev extra (scikit-learn)
        threads = f"BLAS threads from the environment (OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')})"
    print(f"numpy {np.__version__}, {os.cpu_count()} CPU(s), {threads}, load average {os.getloadavg()[0]:.1f}")
    rng = np.random.default_rng(0)
    if not args.skip_random:
        sizes = [(2_000, 2_048), (10_000, 2_048)] if args.quick else [(5_000, 2_048), (50_000, 2_048)]
        for n, d in sizes:
            x = rng.standard_normal((n, d), dtype=np.float32)
            big = n > 10_000
            run_case(
                "random, " + ("all classes" if big else "one class"),
                x,
                round(args.fraction * n),
                check_reference=args.check_reference or not big,
            )

    if args.features is None:
        print("\nreal embeddings: skipped (pass --features path.npy; see --make-features)")
        return
    features = np.load(args.features, mmap_mode="r")
    labels_file = args.labels or labels_path(args.features)
    if labels_file.is_file():
        labels = np.load(labels_file)
        rows = np.flatnonzero(labels == labels.min())
        x = np.ascontiguousarray(features[rows], dtype=np.float32)
        run_case(f"{args.features.name}, class {int(labels.min())}", x, round(args.fraction * len(x)), True)
    else:
        print(f"\n{args.features.name}: no labels ({labels_file} missing), per-class case skipped")
    x = np.ascontiguousarray(features, dtype=np.float32)
    run_case(f"{args.features.name}, all rows", x, round(args.fraction * len(x)), args.check_reference)


if __name__ == "__main__":
    main()
