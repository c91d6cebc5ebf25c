"""Write the pre-fused-cell checkpoints that ``tests/methods/test_old_checkpoints.py`` resumes with the current code.

These files were made at commit 2557aaf, the last commit before the fused search cells (commit bdfc185), so the
checkpoints hold state_dicts of the old per-edge supernet cells. To regenerate them::

    git worktree add /tmp/oldtree 2557aaf
    cd /tmp && PYTHONPATH=/tmp/oldtree OMP_NUM_THREADS=1 \
        python /work/main/tests/data/old_checkpoints/make_checkpoints.py /work/main/tests/data/old_checkpoints
    git -C /work/main worktree remove /tmp/oldtree

Run it from a directory outside the repository (``cd /tmp``): ``python -c``/the current directory would otherwise
put the current code's ``lightning_nas`` first on ``sys.path``. The script refuses to run unless ``lightning_nas``
comes from a tree other than the one holding this file. The editable install maps ``lightning_nas.datamodules`` and
``lightning_nas.callbacks`` to the top-level ``datamodules/`` and ``callbacks/`` of the installed checkout; the
script maps them to the same folders of the old tree instead, so that all the code it runs is the old code.

For each search it writes two files. ``<name>.ckpt.gz`` is the gzip of the file ``trainer.save_checkpoint`` wrote
after one epoch on CPU after ``seed_everything(0)`` (2 batches of 8: the 32 images are split into 16 for the weights
and 16 for the architecture); gzip halves these files, and the test unzips them, byte for byte what the old code
wrote. ``<name>_logits.pt`` is a dict of: the fixed ``input`` (``torch.rand(4, 3, 8, 8)`` from a generator seeded with
1234); the ``logits`` the old model gives on it in eval mode; ``cell_outputs``, the eval-mode output of each
``supernet.cells[i]`` on it (after 2 batches the BatchNorm running statistics are a fifth of the way there, and in eval
mode the last cells of the DARTS-space supernet output negatives only, so the next ReLU zeroes everything and the
eval-mode logits hardly depend on the input: the cell outputs still do); ``train_logits``, the logits in training
mode (batch statistics; on a copy of the model, whose running statistics it updates); and ``optimizer_param_names``,
the parameter names in the order of each optimizer's parameters (what the checkpoint's optimizer states are indexed
by).
"""

from __future__ import annotations

import copy
import gzip
import importlib.abc
import importlib.util
import shutil
import sys
from pathlib import Path

import lightning_nas

ROOT = Path(lightning_nas.__file__).resolve().parents[1]
HERE = Path(__file__).resolve()


class _OldTreeFinder(importlib.abc.MetaPathFinder):
    """Resolve ``lightning_nas.datamodules`` / ``lightning_nas.callbacks`` to the old tree's top-level folders."""

    PACKAGES = {"lightning_nas.datamodules": ROOT / "datamodules", "lightning_nas.callbacks": ROOT / "callbacks"}

    def find_spec(self, fullname, path=None, target=None):
        folder = self.PACKAGES.get(fullname)
        if folder is None:
            return None
        return importlib.util.spec_from_file_location(
            fullname, folder / "__init__.py", submodule_search_locations=[str(folder)]
        )


sys.meta_path.insert(0, _OldTreeFinder())

import torch  # noqa: E402
from lightning import Trainer, seed_everything  # noqa: E402

from lightning_nas.datamodules import ArraySearchDataModule  # noqa: E402
from lightning_nas.methods import DARTS, PCDARTS  # noqa: E402

SEARCHES = {
    "darts_nasbench201": lambda: DARTS(search_space="nasbench201", space_options={"C": 4, "N": 1}, num_classes=4),
    "pcdarts_darts": lambda: PCDARTS(
        search_space="darts", space_options={"C": 8, "layers": 3}, num_classes=4, arch_warmup_epochs=0
    ),
}


def fixed_input() -> torch.Tensor:
    """The input the stored logits are computed on."""
    return torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(1234))


def datamodule() -> ArraySearchDataModule:
    """32 random 8x8 RGB images of 4 classes, batches of 8."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(32, 3, 8, 8, generator=g)
    y = torch.arange(32) % 4
    return ArraySearchDataModule(x, y, num_classes=4, batch_size=8, seed=0)


def main(out: Path) -> None:
    """Fit each search for one epoch and write its checkpoint and its eval-mode logits into ``out``."""
    modules = {
        name: Path(module.__file__).resolve()
        for name, module in sys.modules.items()
        if name.startswith("lightning_nas") and getattr(module, "__file__", None)
    }
    foreign = sorted(name for name, file in modules.items() if ROOT not in file.parents)
    if ROOT in HERE.parents or foreign:
        raise SystemExit(f"lightning_nas must come from the old tree only; root {ROOT}, modules elsewhere: {foreign}")
    print(f"lightning_nas from {ROOT} ({len(modules)} modules)")
    out.mkdir(parents=True, exist_ok=True)
    for name, make in SEARCHES.items():
        seed_everything(0)
        model = make()
        trainer = Trainer(
            accelerator="cpu",
            devices=1,
            max_epochs=1,
            limit_val_batches=1,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            default_root_dir=str(out / "_runs"),
        )
        trainer.fit(model, datamodule())
        raw = out / f"{name}.ckpt"
        trainer.save_checkpoint(raw)
        with raw.open("rb") as source, gzip.GzipFile(out / f"{name}.ckpt.gz", "wb", compresslevel=9, mtime=0) as target:
            shutil.copyfileobj(source, target)
        raw.unlink()
        names = {id(p): n for n, p in model.named_parameters()}
        param_names = [
            [names[id(p)] for group in opt.param_groups for p in group["params"]] for opt in trainer.optimizers
        ]
        model.eval()
        x = fixed_input()
        cell_outputs: list[torch.Tensor] = []
        hooks = [
            cell.register_forward_hook(lambda module, args, output, into=cell_outputs: into.append(output))
            for cell in model.supernet.cells
        ]
        with torch.no_grad():
            logits = model(x)
        for hook in hooks:
            hook.remove()
        with torch.no_grad():
            train_logits = copy.deepcopy(model).train()(x)
        torch.save(
            {
                "input": x,
                "logits": logits,
                "cell_outputs": [output.contiguous() for output in cell_outputs],
                "train_logits": train_logits,
                "optimizer_param_names": param_names,
            },
            out / f"{name}_logits.pt",
        )
        print(name, "epoch", trainer.current_epoch, "step", trainer.global_step, "logits", tuple(logits.shape))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE.parent)
