"""``benchmarks/search_step.py``: it runs and prints parseable rows (never checked: the figures), and its bare loop
makes exactly the Trainer's steps."""

import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from lightning import Callback, seed_everything

from lightning_nas.datamodules import ArraySearchDataModule

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "search_step.py"
NUMBER = r"[0-9]+(?:\.[0-9]+)?"
ROW = re.compile(
    rf"^(?P<name>(?:nb201|darts)/(?:DARTS|PC-DARTS|beta-DARTS)/o[12]/b[0-9]+) +(?P<ms>{NUMBER}) ms/step +"
    rf"(?P<ips>{NUMBER}) img/s +peak +(?:{NUMBER}|n/a) MiB \| .* (?P<reference>{NUMBER}) x reference.* \| "
    rf"bound +{NUMBER} ms (?:contiguous|channels_last) +(?P<bound>{NUMBER}) x bound \| "
    rf"Trainer +{NUMBER} ms +(?P<trainer>{NUMBER}) x bare \| guard (?P<guard>{NUMBER}) % \| targets (?P<targets>.+)$"
)


@pytest.fixture(scope="module")
def script():
    return runpy.run_path(str(SCRIPT))  # the functions, without running main


# both spaces, the three methods, both orders (all twelve quick rows took ~27 s of the suite; they share this code)
QUICK = "nb201/DARTS/o2,nb201/beta-DARTS/o1,darts/PC-DARTS/o1"


def test_quick_run_prints_one_parseable_row_per_configuration():
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--configs", QUICK],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert lines[0].startswith("device=cpu threads=1 ")
    rows = [ROW.match(line) for line in lines[1:-1]]
    assert all(rows), [line for line, row in zip(lines[1:-1], rows) if not row]
    assert [row["name"] for row in rows] == [f"{name}/b4" for name in QUICK.split(",")]
    for row in rows:
        assert all(float(row[key]) > 0 for key in ("ms", "ips", "reference", "bound", "trainer"))
        checks = row["targets"].split(", ")
        assert all(re.fullmatch(r".+ (met|MISSED)", check) for check in checks), row["targets"]
        assert any(check.startswith("<=1.3x bound") for check in checks)
    assert re.fullmatch(r"total [0-9]+ s", lines[-1])


def test_configs_filter_selects_by_glob_or_substring(script):
    configs = script["all_configs"](quick=False)
    assert len(configs) == 18
    names = [c.name for c in script["select"](configs, "nb201")]
    assert names == [f"nb201/{m}/o{o}/b64" for m in ("DARTS", "PC-DARTS", "beta-DARTS") for o in (1, 2)]
    pc = ["darts/PC-DARTS/o1/b16", "darts/PC-DARTS/o1/b64"]
    assert [c.name for c in script["select"](configs, "darts/PC*/o1")] == pc
    assert len(script["select"](configs, "*/o2/b16, NB201/DARTS/o1")) == 4
    assert len(script["select"](configs, "darts")) == 12  # the DARTS space, not every name holding "DARTS"
    assert script["select"](configs, "nothing") == []


class RecordBatches(Callback):
    def __init__(self):
        self.batches = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.batches.append({k: [t.clone() for t in v] for k, v in batch.items()})


@pytest.mark.parametrize(
    "space,method,order",
    [("nasbench201", "DARTS", 1), ("nasbench201", "DARTS", 2), ("darts", "PC-DARTS", 1), ("darts", "beta-DARTS", 1)],
)
def test_bare_loop_makes_the_trainer_steps(tiny_trainer, script, space, method, order):
    """The bare loop the benchmark times is the module's own step math: same weights and α as through a Trainer."""
    config = script["Config"](space, method, order, 8)
    options = script["space_options"](space, quick=True)
    seed_everything(0)
    trained = script["build_module"](config, options)
    seed_everything(0)
    bare = script["BareLoop"](script["build_module"](config, options))
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(48, 3, 16, 16, generator=g), torch.randperm(48, generator=g) % 10
    recorder = RecordBatches()
    tiny_trainer(limit_val_batches=0, callbacks=[recorder]).fit(
        trained, ArraySearchDataModule(x, y, batch_size=8, augment=False, seed=0)
    )
    assert len(recorder.batches) == 3
    for batch in recorder.batches:
        bare(batch)
    for (name, a), b in zip(trained.named_parameters(), bare.module.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)
    assert str(trained.genotype()) == str(bare.module.genotype())


def test_cpu_peak_memory_is_the_most_live_tensor_memory(script):
    probe = script["Probe"]("cpu")
    x = torch.randn(256, 1024)  # 1 MiB

    def work():
        y = x * 2  # +1 MiB
        z = y + 1  # +1 MiB: 2 MiB live at the peak
        del y, z

    seconds, peak = probe.run(work, memory=True)
    assert seconds > 0 and 2 * 2**20 <= peak < 3 * 2**20
    assert probe.run(work, memory=False)[1] is None


@pytest.mark.parametrize("space,partial_channels", [("nasbench201", 1), ("nasbench201", 4), ("darts", 1), ("darts", 4)])
def test_bound_network_runs_forward_and_backward(script, space, partial_channels):
    from lightning_nas.spaces import get_search_space

    options = script["space_options"](space, quick=True)
    supernet = get_search_space(space, **options, partial_channels=partial_channels).build_supernet(10)
    bound = script["BoundNetwork"](supernet, space, (3, 16, 16))
    x, y = torch.randn(4, 3, 16, 16), torch.randint(0, 10, (4,))
    assert bound(x).shape == (4, 10)
    bound.pass_(x, y)
    cell_params = [p for n, p in bound.named_parameters() if ".sources." in n]
    assert cell_params and all(p.grad is not None and p.grad.abs().sum() > 0 for p in cell_params)
