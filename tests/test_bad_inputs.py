"""A search never goes on silently wrong: every public constructor refuses a bad argument up front.

One table: a number given as a string, a value out of range, a string where a dict or a bool belongs. Each case
checks the exception type and that the message names the argument (```Owner(arg=value)`: `arg` must be ...``);
the command-line cases check the exit status (1: a bad value, one ``error:`` line naming it; 2: a command line that
does not parse). Constructors only: nothing is fitted, so the whole file runs in seconds.
"""

import re
from pathlib import Path

import numpy as np
import pytest

from lightning_nas.callbacks import (
    CandidatePoolStopping,
    CollapseMonitor,
    GenotypeExport,
    HessianMonitor,
    SearchCost,
    VoEPruning,
)
from lightning_nas.cli import ENV_TRACEBACK, main
from lightning_nas.datamodules import (
    ArraySearchDataModule,
    CoresetDataModule,
    DigitsSearchDataModule,
    EntropyProxyDataModule,
    RandomSubsetDataModule,
    ReducedDataModule,
)
from lightning_nas.methods import DARTS, PCDARTS, PDARTS, SPOS, ArchitectureTraining, BetaDARTS, GreedyNAS
from lightning_nas.search import HierarchicalEvolution, RegularizedEvolution

REPO = Path(__file__).resolve().parents[1]
NB201 = {"C": 4, "N": 1}
GENOTYPE = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|skip_connect~1|avg_pool_3x3~2|"
EVOLUTION = {
    "data": {"class_path": "fake", "init_args": {}},
    "search_space": "nasbench201",
    "setting": "c4r4s0e6",
    "progress": False,
}


def _arrays(**kwargs):
    x, y = np.zeros((8, 3, 8, 8), dtype=np.uint8), np.arange(8) % 2
    return ArraySearchDataModule(x, y, **{"batch_size": 4, **kwargs})


def _darts(cls=DARTS, **kwargs):
    return cls(**{"search_space": "nasbench201", "space_options": NB201, **kwargs})


def _hierarchical(**kwargs):
    return HierarchicalEvolution("unused", **{**EVOLUTION, "stage_epochs": 2, **kwargs})


def _regularized(**kwargs):
    return RegularizedEvolution("unused", **{**EVOLUTION, "population_size": 10, "sample_size": 3, **kwargs})


def _fit(*args):
    """A ``lightning-nas fit`` command line of a tiny DARTS search on the digits, plus ``args``."""
    model = ["--model", "DARTS", "--model.space_options", '{"C": 4, "N": 1}']
    return ["fit", *model, "--data", "DigitsSearchDataModule", *args]


def _evolve(*args):
    config = REPO / "examples" / "configs" / "econas_nb201_tiny.yaml"
    return ["evolve", "--config", str(config), "--searcher.init_args.workdir={tmp}/run", *args]


# id: (what to call, the exception type or the CLI's exit status, what the message must contain)
CASES = {
    # ---------------------------------------------------------------------------------------------- DARTS (issue)
    "DARTS-weight_lr-str": (lambda: _darts(weight_lr="0.1"), TypeError, r"`DARTS\(weight_lr='0.1'\)`: `weight_lr`"),
    "DARTS-space_options-str": (lambda: DARTS(space_options="C=4"), TypeError, "`space_options` must be a dict"),
    "DARTS-arch_betas-1.5": (lambda: _darts(arch_betas=(1.5, 0.999)), ValueError, r"`arch_betas` .*\[0, 1\)"),
    "DARTS-weight_momentum-1.5": (lambda: _darts(weight_momentum=1.5), ValueError, r"`weight_momentum` .*\[0, 1\]"),
    "DARTS-num_classes-str": (lambda: _darts(num_classes="10"), TypeError, "`num_classes`"),
    "DARTS-order-True": (lambda: _darts(order=True), ValueError, "`order` must be 1 or 2"),
    "DARTS-arch_betas-str": (lambda: _darts(arch_betas="0.5,0.999"), ValueError, "`arch_betas`"),
    "DARTS-arch_warmup_epochs-float": (lambda: _darts(arch_warmup_epochs=1.5), TypeError, "`arch_warmup_epochs`"),
    "DARTS-weight_nesterov-str": (lambda: _darts(weight_nesterov="yes"), TypeError, "`weight_nesterov`"),
    "DARTS-grad_clip-negative": (lambda: _darts(grad_clip=-1.0), ValueError, "`grad_clip`"),
    "DARTS-weight_decay-nan": (lambda: _darts(weight_decay=float("nan")), ValueError, "`weight_decay`"),
    "DARTS-step_order-unknown": (lambda: _darts(step_order="both"), ValueError, "`step_order`"),
    # ---------------------------------------------------------------------------------------- the DARTS variants
    "PCDARTS-partial_channels-str": (lambda: _darts(PCDARTS, partial_channels="4"), TypeError, "`partial_channels`"),
    "PCDARTS-partial_channels-0": (lambda: _darts(PCDARTS, partial_channels=0), ValueError, "`partial_channels`"),
    "PCDARTS-edge_normalization-str": (
        lambda: _darts(PCDARTS, edge_normalization="yes"),
        TypeError,
        "`edge_normalization` must be a bool",
    ),
    "PCDARTS-weight_lr-str": (lambda: _darts(PCDARTS, weight_lr="0.1"), TypeError, r"`PCDARTS\(weight_lr='0.1'\)`"),
    "BetaDARTS-lambda_max-str": (lambda: _darts(BetaDARTS, lambda_max="50"), TypeError, "`lambda_max`"),
    "BetaDARTS-lambda_epochs-0": (lambda: _darts(BetaDARTS, lambda_epochs=0), ValueError, "`lambda_epochs`"),
    "BetaDARTS-lambda_epochs-float": (lambda: _darts(BetaDARTS, lambda_epochs=2.5), TypeError, "`lambda_epochs`"),
    "PDARTS-stage_epochs-int": (lambda: _darts(PDARTS, stage_epochs=25), TypeError, "`stage_epochs` must be a"),
    "PDARTS-skip_dropout-1.2": (
        lambda: _darts(PDARTS, skip_dropout=(0.1, 0.4, 1.2)),
        ValueError,
        r"`skip_dropout` must be a non-empty list of numbers in \[0, 1\)",
    ),
    "PDARTS-stage_ops-increasing": (lambda: PDARTS(stage_ops=(8, 9, 3)), ValueError, "`stage_ops`"),
    "PDARTS-max_skip_connects-negative": (lambda: PDARTS(max_skip_connects=-1), ValueError, "`max_skip_connects`"),
    "PDARTS-skip_dropout_decay-str": (lambda: PDARTS(skip_dropout_decay="0.2"), TypeError, "`skip_dropout_decay`"),
    # ----------------------------------------------------------------------------------------------- single path
    "SPOS-lr-str": (lambda: SPOS(lr="0.1"), TypeError, r"`SPOS\(lr='0.1'\)`: `lr` must be a number > 0"),
    "SPOS-momentum-1.5": (lambda: SPOS(momentum=1.5), ValueError, r"`momentum` must be a number in \[0, 1\]"),
    "SPOS-nesterov-str": (lambda: SPOS(nesterov="yes"), TypeError, "`nesterov` must be a bool"),
    "SPOS-seed-str": (lambda: SPOS(seed="0"), TypeError, "`seed` must be an integer or None"),
    "SPOS-space_options-str": (lambda: SPOS(space_options="C=4"), TypeError, "`space_options` must be a dict"),
    "SPOS-label_smoothing-1": (lambda: SPOS(label_smoothing=1.0), ValueError, "`label_smoothing`"),
    "GreedyNAS-num_paths-str": (lambda: GreedyNAS(num_paths="10"), TypeError, "`num_paths` must be an integer"),
    "GreedyNAS-keep_paths-above": (lambda: GreedyNAS(num_paths=4, keep_paths=5), ValueError, "`keep_paths`"),
    "GreedyNAS-epsilon_max-1.5": (lambda: GreedyNAS(epsilon_max=1.5), ValueError, "`epsilon_max`"),
    "GreedyNAS-pool_size-0": (lambda: GreedyNAS(pool_size=0), ValueError, "`pool_size` must be an integer >= 1"),
    "GreedyNAS-epsilon_steps-0": (lambda: GreedyNAS(epsilon_steps=0), ValueError, "`epsilon_steps`"),
    # -------------------------------------------------------------------------------------- architecture training
    "ArchitectureTraining-lr-str": (lambda: ArchitectureTraining(GENOTYPE, lr="0.025"), TypeError, "`lr`"),
    "ArchitectureTraining-momentum-1.5": (
        lambda: ArchitectureTraining(GENOTYPE, momentum=1.5),
        ValueError,
        r"`momentum` must be a number in \[0, 1\]",
    ),
    "ArchitectureTraining-drop_path_prob-1": (
        lambda: ArchitectureTraining(GENOTYPE, drop_path_prob=1.0),
        ValueError,
        r"`drop_path_prob` must be a number in \[0, 1\)",
    ),
    "ArchitectureTraining-cutout-float": (lambda: ArchitectureTraining(GENOTYPE, cutout=2.5), TypeError, "`cutout`"),
    "ArchitectureTraining-schedule_epochs-0": (
        lambda: ArchitectureTraining(GENOTYPE, schedule_epochs=0),
        ValueError,
        "`schedule_epochs`",
    ),
    "ArchitectureTraining-genotype-int": (lambda: ArchitectureTraining(3), TypeError, "`genotype`"),
    "ArchitectureTraining-space_options-str": (
        lambda: ArchitectureTraining(GENOTYPE, space_options="C=4"),
        TypeError,
        "`space_options`",
    ),
    # -------------------------------------------------------------------------------------------- search data
    "SearchDataModule-batch_size-str": (lambda: _arrays(batch_size="64"), TypeError, "`batch_size`"),
    "SearchDataModule-val_fraction-1": (lambda: _arrays(val_fraction=1.0), ValueError, r"`val_fraction` .*\(0, 1\)"),
    "SearchDataModule-num_workers-negative": (lambda: _arrays(num_workers=-1), ValueError, "`num_workers`"),
    "SearchDataModule-seed-float": (lambda: _arrays(seed=1.5), TypeError, "`seed`"),
    "SearchDataModule-paired-str": (lambda: _arrays(paired="yes"), TypeError, "`paired` must be a bool"),
    "SearchDataModule-split-unknown": (lambda: _arrays(split="kfold"), ValueError, "`split`"),
    "ArraySearchDataModule-num_classes-0": (lambda: _arrays(num_classes=0), ValueError, "`num_classes`"),
    "ArraySearchDataModule-augment-int": (lambda: _arrays(augment=1), TypeError, "`augment` must be a bool"),
    "ArraySearchDataModule-crop_padding-negative": (lambda: _arrays(crop_padding=-1), ValueError, "`crop_padding`"),
    "DigitsSearchDataModule-test_fraction-1": (
        lambda: DigitsSearchDataModule(test_fraction=1.0),
        ValueError,
        "`test_fraction`",
    ),
    "ReducedDataModule-fraction-0": (lambda: ReducedDataModule(_arrays(), fraction=0), ValueError, "`fraction`"),
    "ReducedDataModule-resolution-float": (
        lambda: ReducedDataModule(_arrays(), resolution=8.0),
        TypeError,
        "`resolution`",
    ),
    "RandomSubsetDataModule-fraction-str": (
        lambda: RandomSubsetDataModule(_arrays(), fraction="0.1"),
        TypeError,
        "`fraction` must be a number",
    ),
    "RandomSubsetDataModule-class_balanced-str": (
        lambda: RandomSubsetDataModule(_arrays(), class_balanced="yes"),
        TypeError,
        "`class_balanced`",
    ),
    "RandomSubsetDataModule-seed-str": (lambda: RandomSubsetDataModule(_arrays(), seed="1"), TypeError, "`seed`"),
    "CoresetDataModule-count-0": (lambda: CoresetDataModule(_arrays(), count=0), ValueError, "`count`"),
    "CoresetDataModule-image_size-0": (lambda: CoresetDataModule(_arrays(), image_size=0), ValueError, "`image_size`"),
    "CoresetDataModule-cache_dir-int": (lambda: CoresetDataModule(_arrays(), cache_dir=3), TypeError, "`cache_dir`"),
    "EntropyProxyDataModule-beta-1": (
        lambda: EntropyProxyDataModule(_arrays(), bin_width=0.5, beta=1.0),
        ValueError,
        r"`beta` must be a number in \(0, 1\)",
    ),
    "EntropyProxyDataModule-bin_width-str": (
        lambda: EntropyProxyDataModule(_arrays(), bin_width="0.5"),
        TypeError,
        "`bin_width`",
    ),
    "EntropyProxyDataModule-baseline_epochs-0": (
        lambda: EntropyProxyDataModule(_arrays(), bin_width=0.5, baseline_epochs=0),
        ValueError,
        "`baseline_epochs`",
    ),
    # ------------------------------------------------------------------------------------------------- callbacks
    "VoEPruning-interval-1": (lambda: VoEPruning(interval=1), ValueError, "`interval` must be an integer >= 2"),
    "VoEPruning-train_ratio-str": (lambda: VoEPruning(train_ratio="0.1"), TypeError, "`train_ratio`"),
    "VoEPruning-num_prunings-float": (lambda: VoEPruning(num_prunings=1.5), TypeError, "`num_prunings`"),
    "VoEPruning-dirpath-int": (lambda: VoEPruning(dirpath=3), TypeError, "`dirpath` must be a path or None"),
    "GenotypeExport-filename-path": (lambda: GenotypeExport(filename="a/b.json"), ValueError, "`filename`"),
    "GenotypeExport-dirpath-int": (lambda: GenotypeExport(dirpath=3), TypeError, "`dirpath`"),
    "SearchCost-dirpath-int": (lambda: SearchCost(dirpath=3), TypeError, "`dirpath`"),
    "CollapseMonitor-threshold-0": (lambda: CollapseMonitor(threshold=0), ValueError, "`threshold`"),
    "CollapseMonitor-stop-str": (lambda: CollapseMonitor(stop="yes"), TypeError, "`stop` must be a bool"),
    "HessianMonitor-tol-str": (lambda: HessianMonitor(tol="0.001"), TypeError, "`tol` must be a number >= 0"),
    "HessianMonitor-num_iters-0": (lambda: HessianMonitor(num_iters=0), ValueError, "`num_iters`"),
    "CandidatePoolStopping-alpha-1": (lambda: CandidatePoolStopping(alpha=1.0), ValueError, "`alpha`"),
    "CandidatePoolStopping-interval-str": (lambda: CandidatePoolStopping(interval="5"), TypeError, "`interval`"),
    # ------------------------------------------------------------------------------------ EcoNAS / evolution
    "HierarchicalEvolution-num_init-0": (lambda: _hierarchical(num_init=0), ValueError, "`num_init`"),
    "HierarchicalEvolution-draws-short": (lambda: _hierarchical(draws=(6, 5)), ValueError, "`draws`"),
    "HierarchicalEvolution-cycles-str": (lambda: _hierarchical(cycles="100"), TypeError, "`cycles`"),
    "HierarchicalEvolution-progress-str": (lambda: _hierarchical(progress="no"), TypeError, "`progress`"),
    "HierarchicalEvolution-data-str": (lambda: _hierarchical(data="x"), TypeError, "`data` must be a dict"),
    "RegularizedEvolution-sample_size-0": (lambda: _regularized(sample_size=0), ValueError, "`sample_size`"),
    "RegularizedEvolution-batch_size-float": (lambda: _regularized(batch_size=1.5), TypeError, "`batch_size`"),
    # ----------------------------------------------------------------------------------------------------- CLI
    "cli-fit-weight_momentum-1.5": (_fit("--model.weight_momentum", "1.5"), 1, "`weight_momentum`"),
    "cli-fit-arch_betas-1.5": (_fit("--model.arch_betas", "[1.5, 0.999]"), 1, "`arch_betas`"),
    "cli-fit-val_fraction-1.5": (_fit("--data.val_fraction", "1.5"), 1, "`val_fraction`"),
    "cli-fit-batch_size-0": (_fit("--data.batch_size", "0"), 1, "`batch_size`"),
    "cli-fit-weight_lr-not-a-number": (_fit("--model.weight_lr", "abc"), 2, r"(?s)weight_lr.*abc"),
    "cli-fit-space_options-not-a-dict": (_fit("--model.space_options", "C=4"), 2, r"(?s)space_options.*C=4"),
    "cli-evolve-cycles-negative": (_evolve("--searcher.init_args.cycles=-1"), 1, "`cycles`"),
    "cli-evolve-unknown-argument": (_evolve("--searcher.init_args.bogus=1"), 2, "bogus"),
    "cli-unknown-command": (["nonsense"], 2, "nonsense"),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_a_bad_argument_is_refused_naming_it(case, tmp_path, capsys, monkeypatch):
    make, expected, match = CASES[case]
    if callable(make):
        with pytest.raises(expected, match=match):
            make()
        return
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(ENV_TRACEBACK, raising=False)
    status = main([arg.replace("{tmp}", str(tmp_path)) for arg in make])
    err = capsys.readouterr().err
    assert status == expected, err[-3000:]
    if expected == 1:  # one line, `lightning-nas CMD: error: Type: reason`, naming the argument
        errors = [line for line in err.splitlines() if "error:" in line]
        assert len(errors) == 1, err[-3000:]
        assert re.match(rf"lightning-nas {make[0]}: error: (ValueError|TypeError): ", errors[0]), errors[0]
        assert re.search(match, errors[0]), errors[0]
    else:  # the parser's usage, then its message: naming the argument
        assert "error:" in err, err[-3000:]
        assert re.search(match, err[err.index("error:") :]), err[-3000:]


def test_the_table_covers_at_least_sixty_cases():
    assert len(CASES) >= 60
