import functools
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from lightning import Callback, seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint

from lightning_nas.benchmarks import rank_consistency
from lightning_nas.callbacks import CandidatePoolStopping, GenotypeExport
from lightning_nas.datamodules import ArraySearchDataModule
from lightning_nas.methods import SPOS, GreedyNAS, class_balanced_subset, surrogate_rank_consistency
from lightning_nas.spaces import MobileNetPath

TINY = {"input_size": 16, "width_mult": 0.25, "head_channels": 32}


def _arrays(n=32, classes=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, 16, 16, generator=g), torch.arange(n) % classes


def _data(n=32, batch_size=4, **kwargs):
    x, y = _arrays(n)
    return ArraySearchDataModule(x, y, batch_size=batch_size, paired=False, **kwargs)


def _greedy(**kwargs):
    options = {
        "space_options": TINY,
        "num_classes": 4,
        "num_paths": 4,
        "keep_paths": 2,
        "pool_size": 6,
        "warmup_steps": 2,
        "surrogate_size": 8,
        "seed": 0,
    }
    return GreedyNAS(**{**options, **kwargs})


@pytest.fixture
def tiny_trainer(tiny_trainer):
    """The shared tiny Trainer (tests/conftest.py) on Lightning's choice of device, one validation batch by default."""
    return functools.partial(tiny_trainer, accelerator="auto", devices="auto", limit_val_batches=1)


class Record(Callback):
    """Records, per training step, the trained path, the filtering round count and what training_step returned."""

    def __init__(self):
        self.steps = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.steps.append(
            {
                "step": trainer.global_step - 1,
                "path": pl_module.current_path,
                "rounds": getattr(pl_module, "counters", {}).get("rounds", 0),
                "kept": list(getattr(pl_module, "last_round", {}).get("kept", [])),
                "outputs": outputs,
                "ids": batch[2],
            }
        )


# ------------------------------------------------------------------------------------------------- filtering
def test_filter_round_keeps_exactly_the_k_lowest_loss_paths_of_the_m_sampled():
    torch.manual_seed(0)
    model = _greedy(num_paths=8, keep_paths=3, pool_size=4)
    x, y = _arrays(12, seed=1)
    model.set_surrogate(x, y)
    model.pool.update([model.space.random_path(torch.Generator().manual_seed(9))], [5.0])
    kept = model.filter_paths(epsilon=0.5)
    r = model.last_round
    assert len(r["candidates"]) == 8 and len(kept) == 3
    # the losses are the candidates' cross-entropy on the surrogate batch in eval mode, recomputed here
    model.supernet.eval()
    with torch.no_grad():
        expected = [torch.nn.functional.cross_entropy(model.supernet(x, p), y).item() for p in r["candidates"]]
    model.supernet.train()
    assert r["losses"] == pytest.approx(expected, rel=1e-5)
    lowest = sorted(range(8), key=lambda i: expected[i])[:3]
    assert [str(p) for p in kept] == [str(r["candidates"][i]) for i in lowest]
    assert kept == model.queue  # trained next, best first
    rejected = [r["candidates"][i] for i in range(8) if i not in lowest]
    assert all(p not in model.pool for p in rejected if p not in kept)
    for path, loss in zip(kept, r["kept_losses"]):
        assert model.pool.loss(path) == loss
    assert model.counters["rounds"] == 1
    assert model.counters["surrogate_images"] == len(set(map(str, r["candidates"]))) * 12


def test_sampling_follows_epsilon():
    model = _greedy(pool_size=5)
    g = torch.Generator().manual_seed(3)
    pool_paths = [model.space.random_path(g) for _ in range(5)]
    paths, flags = model.sample_candidates(10, 1.0)
    assert not any(flags)  # an empty pool always gives U(A)
    model.pool.update(pool_paths, [0.1, 0.2, 0.3, 0.4, 0.5])
    n, eps = 4000, 0.3
    paths, flags = model.sample_candidates(n, eps)
    fraction = sum(flags) / n
    assert abs(fraction - eps) < 4 * math.sqrt(eps * (1 - eps) / n)  # binomial: within 4 standard deviations
    assert all((p in model.pool) == f for p, f in zip(paths, flags))  # U(A) practically never hits the pool
    drawn = [str(p) for p, f in zip(paths, flags) if f]
    counts = np.array([drawn.count(str(p)) for p in pool_paths])
    assert (np.abs(counts - len(drawn) / 5) < 5 * math.sqrt(len(drawn) * 0.2 * 0.8)).all()  # U(P)
    assert sum(model.sample_candidates(200, 0.0)[1]) == 0
    assert sum(model.sample_candidates(200, 1.0)[1]) == 200
    with pytest.raises(
        ValueError, match=r"`GreedyNAS.sample_candidates\(epsilon=1.5\)`: `epsilon` must be a number in \[0, 1\]"
    ):
        model.sample_candidates(3, 1.5)


def test_epsilon_ramps_linearly_after_warmup_and_is_held():
    model = _greedy(warmup_steps=10, epsilon_steps=20, epsilon_max=0.8)
    assert [model.epsilon_at(s) for s in (0, 9, 10, 20, 25, 30, 1000)] == pytest.approx(
        [0.0, 0.0, 0.0, 0.4, 0.6, 0.8, 0.8]
    )
    assert _greedy(epsilon_max=0.0, warmup_steps=0, epsilon_steps=5).epsilon_at(100) == 0.0
    with pytest.raises(RuntimeError, match="planned end"):
        _greedy(warmup_steps=0).epsilon_at(3)


def test_fit_warms_up_uniformly_then_trains_the_kept_paths_one_per_step(tiny_trainer):
    seed_everything(0)
    model = _greedy(warmup_steps=3)
    record = Record()
    trainer = tiny_trainer(max_epochs=2, callbacks=[record])
    trainer.fit(model, _data())
    steps = record.steps
    assert len(steps) == 8 and trainer.global_step == 8
    assert all(s["rounds"] == 0 for s in steps[:3])  # warm-up: no filtering, no pool
    # after warm-up: one round per k = 2 steps, each training its kept paths in order (k weight updates per round)
    assert [s["rounds"] for s in steps[3:]] == [1, 1, 2, 2, 3]
    for i, s in enumerate(steps[3:]):
        assert str(s["path"]) == str(s["kept"][i % 2])
    assert 0 < len(model.candidate_pool) <= 6
    losses = [loss for loss, _ in model.candidate_pool]
    assert losses == sorted(losses)
    assert str(model.genotype()) == str(model.candidate_pool[0][1])
    # ε ramps over the planned 8 steps from the end of warm-up (5 steps): read at steps 3, 5 and 7
    assert model.epsilon_at(5) == pytest.approx(0.8 * 2 / 5)
    assert trainer.callback_metrics["search/epsilon"] == pytest.approx(0.8 * 4 / 5)
    for key in (
        "search/pool_size",
        "search/pool_best_loss",
        "search/pool_new_fraction",
        "search/filter_ms",
        "search/surrogate_images",
        "train/loss",
        "train/acc",
        "val/acc",
        "val/loss",
    ):
        assert key in trainer.callback_metrics, key
    # per-sample EL2N records of the training forward, for the data-pruning and cost callbacks
    for s in steps:
        out = s["outputs"]["train"]
        assert torch.equal(out["ids"], s["ids"]) and out["el2n"].shape == s["ids"].shape
        assert ((out["el2n"] >= 0) & (out["el2n"] <= math.sqrt(2) + 1e-6)).all()


def test_parameters_outside_the_trained_path_are_not_updated(tiny_trainer):
    seed_everything(0)
    model = _greedy(warmup_steps=0)

    class Check(Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            self.before = {n: p.detach().clone() for n, p in pl_module.supernet.named_parameters()}

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            used = {id(p) for p in pl_module.supernet.path_parameters(pl_module.current_path)}
            for name, p in pl_module.supernet.named_parameters():
                if id(p) not in used:  # no gradient: no weight decay, no momentum, no change at all
                    assert torch.equal(self.before[name], p.detach()), name

    tiny_trainer(max_steps=3, callbacks=[Check()], limit_val_batches=0).fit(model, _data())


def test_surrogate_batch_is_class_balanced_from_the_architecture_split(tiny_trainer):
    seed_everything(0)
    model = _greedy(surrogate_size=8)
    datamodule = _data()
    tiny_trainer(max_steps=1, limit_val_batches=0).fit(model, datamodule)
    ids = model.surrogate_ids
    assert len(ids) == 8 and set(ids.tolist()) <= set(datamodule.active_ids("val").tolist())
    assert np.bincount(datamodule.labels[ids], minlength=4).tolist() == [2, 2, 2, 2]
    x, y = model.surrogate
    expected = torch.cat([batch[0] for batch in datamodule.pool_dataloader(ids)])
    assert torch.equal(y, torch.as_tensor(datamodule.labels[ids]))
    assert torch.equal(x, expected)  # the eval transform: no augmentation


def test_class_balanced_subset_water_fills_small_classes():
    ids = np.arange(100, 120)
    labels = np.array([0] * 2 + [1] * 8 + [2] * 10)
    chosen = class_balanced_subset(ids, labels, 12, seed=0)
    counts = np.bincount(labels[chosen - 100], minlength=3)
    assert counts.tolist() == [2, 5, 5]  # class 0 gives all it has, the others share the rest
    assert chosen.tolist() == sorted(set(chosen.tolist()))
    assert np.array_equal(chosen, class_balanced_subset(ids, labels, 12, seed=0))
    assert not np.array_equal(chosen, class_balanced_subset(ids, labels, 12, seed=1))
    assert np.bincount(labels[class_balanced_subset(ids, labels, 10, seed=0) - 100]).tolist() == [2, 4, 4]
    with pytest.raises(ValueError, match=r"`size` must be an int in \[1, 20\]"):
        class_balanced_subset(ids, labels, 21, seed=0)
    with pytest.raises(ValueError, match="one label per id"):
        class_balanced_subset(ids, labels[:5], 3, seed=0)


# ---------------------------------------------------------------------------------------------- resume / state
def test_resume_restores_pool_epsilon_queue_and_weights_exactly(tmp_path, tiny_trainer):
    def run(callbacks=(), ckpt_path=None):
        model = _greedy(warmup_steps=2, keep_paths=2)  # 5 batches per epoch: a round spans the epoch boundary
        trainer = tiny_trainer(max_epochs=3, callbacks=list(callbacks), enable_checkpointing=bool(callbacks))
        trainer.fit(model, _data(n=40), ckpt_path=ckpt_path)
        return model, trainer

    class InterruptAfterFirstEpoch(Callback):
        def on_train_epoch_end(self, trainer, pl_module):
            self.queue = [str(p) for p in pl_module.queue]
            trainer.should_stop = True

    seed_everything(7)
    full, full_trainer = run()
    seed_everything(7)
    interrupt = InterruptAfterFirstEpoch()
    run([ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True), interrupt])
    assert len(interrupt.queue) == 1  # a kept path was still waiting when the run stopped
    seed_everything(123)  # another global RNG state must not matter
    resumed, resumed_trainer = run(ckpt_path=str(tmp_path / "ckpt" / "last.ckpt"))
    assert resumed_trainer.global_step == full_trainer.global_step == 15
    assert resumed.candidate_pool == full.candidate_pool
    assert resumed.counters == full.counters
    assert resumed.queue == full.queue
    assert resumed.epsilon == full.epsilon > 0
    assert torch.equal(resumed.path_generator.get_state(), full.path_generator.get_state())
    for a, b in zip(full.supernet.parameters(), resumed.supernet.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    checkpoint = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=True)
    assert set(checkpoint["single_path_search"]) >= {"pool", "queue", "generator", "epsilon", "surrogate_ids"}


def test_pool_stopping_on_a_greedy_supernet(tiny_trainer):
    seed_everything(0)
    model = _greedy(warmup_steps=2, pool_size=2, num_paths=2, keep_paths=2, epsilon_max=1.0, epsilon_steps=1)
    stopping = CandidatePoolStopping(alpha=0.0, interval=2)
    trainer = tiny_trainer(max_epochs=10, callbacks=[stopping], limit_val_batches=0)
    trainer.fit(model, _data())
    # ε = 1: every round re-draws the pool's two paths, so the pool freezes and training stops
    assert stopping.stopped_step is not None and trainer.global_step == stopping.stopped_step < 40


# ------------------------------------------------------------------------------------------------------ SPOS
def test_spos_trains_uniform_paths_and_validates_its_reference_path(tmp_path, tiny_trainer):
    seed_everything(0)
    model = SPOS(space_options=TINY, num_classes=4, seed=5)
    record = Record()
    trainer = tiny_trainer(max_epochs=2, callbacks=[record, GenotypeExport(dirpath=str(tmp_path))])
    trainer.fit(model, _data())
    assert model.candidate_pool == [] and model.candidate_pool_capacity is None
    assert len({str(s["path"]) for s in record.steps}) == len(record.steps)  # a fresh uniform path every step
    assert str(model.genotype()) == str(SPOS(space_options=TINY, num_classes=4, seed=5).genotype())
    assert str(model.genotype()) != str(SPOS(space_options=TINY, num_classes=4, seed=6).genotype())
    assert {"val/acc", "val/loss", "train/loss", "search/lr"} <= set(trainer.callback_metrics)
    saved = json.loads((tmp_path / "genotype.json").read_text())
    assert MobileNetPath.from_string(saved["genotype"]) == model.genotype() and saved["space"] == "mobilenet"
    assert len(saved["history"]) == 2
    # the same seed gives the same paths
    seed_everything(0)
    again = Record()
    tiny_trainer(max_epochs=2, callbacks=[again]).fit(SPOS(space_options=TINY, num_classes=4, seed=5), _data())
    assert [str(s["path"]) for s in again.steps] == [str(s["path"]) for s in record.steps]


def test_genotype_export_writes_the_best_pool_path(tmp_path, tiny_trainer):
    seed_everything(0)
    model = _greedy(warmup_steps=1)
    tiny_trainer(max_epochs=1, callbacks=[GenotypeExport(dirpath=str(tmp_path))]).fit(model, _data())
    saved = json.loads((tmp_path / "genotype.json").read_text())
    assert saved["genotype"] == str(model.candidate_pool[0][1])


# ------------------------------------------------------------------------------------------- rank consistency
def _scores_one_by_one(supernet, paths, batches):
    """Mean cross-entropy and accuracy of every path, one sample at a time in eval mode (the brute force)."""
    samples = [(x[i : i + 1], y[i : i + 1]) for x, y, *_ in batches for i in range(len(y))]
    supernet.eval()
    with torch.no_grad():
        logits = [[supernet(x, path) for x, _ in samples] for path in paths]
    supernet.train()
    losses = [np.mean([F.cross_entropy(z, y).item() for z, (_, y) in zip(row, samples)]) for row in logits]
    accs = [np.mean([int(z.argmax(1) == y) for z, (_, y) in zip(row, samples)]) for row in logits]
    return np.asarray(losses), np.asarray(accs)


def test_surrogate_rank_consistency_is_perfect_when_the_surrogate_is_the_whole_split(tiny_trainer):
    seed_everything(0)
    model = SPOS(space_options=TINY, num_classes=4, seed=0)
    datamodule = _data()
    tiny_trainer(max_steps=4, limit_val_batches=0).fit(model, datamodule)
    whole = surrogate_rank_consistency(model, datamodule, num_paths=6, surrogate_size=16, progress=False)
    assert whole["spearman_loss"] == pytest.approx(1.0) and whole["kendall_loss"] == pytest.approx(1.0)
    assert whole["num_paths"] == 6 and whole["surrogate_size"] == 16 and whole["val_size"] == 16
    part = surrogate_rank_consistency(model, datamodule, num_paths=6, surrogate_size=4, progress=False)
    assert set(part) == set(whole)
    # the same numbers from a sample-by-sample evaluation of the same paths on the same images
    paths = [model.space.random_path(g) for g in [torch.Generator().manual_seed(0)] for _ in range(6)]
    val_ids = np.asarray(datamodule.active_ids("val"))
    surrogate_ids = class_balanced_subset(val_ids, np.asarray(datamodule.labels)[val_ids], 4, seed=model.seed)
    sur_loss, sur_acc = _scores_one_by_one(model.supernet, paths, datamodule.pool_dataloader(surrogate_ids))
    full_loss, full_acc = _scores_one_by_one(model.supernet, paths, datamodule.pool_dataloader(val_ids))
    expected = {
        "": rank_consistency(full_acc, -sur_loss),  # surrogate loss vs full-split accuracy (Table 3)
        "_acc": rank_consistency(full_acc, sur_acc),
        "_loss": rank_consistency(-full_loss, -sur_loss),
    }
    for suffix, coefficients in expected.items():  # NaN when every path has the same accuracy
        for name in ("spearman", "kendall"):
            assert part[name + suffix] == pytest.approx(coefficients[name], abs=1e-6, nan_ok=True)
    assert part["mean_val_acc"] == pytest.approx(full_acc.mean()) and part["surrogate_size"] == 4
    assert part["mean_val_loss"] == pytest.approx(full_loss.mean(), rel=1e-6)
    assert part["mean_surrogate_loss"] == pytest.approx(sur_loss.mean(), rel=1e-6)
    with pytest.raises(ValueError, match="surrogate_size=99"):
        surrogate_rank_consistency(model, datamodule, num_paths=3, surrogate_size=99, progress=False)
    with pytest.raises(ValueError, match=r"consistency\(num_paths=1\)`: `num_paths` must be an integer >= 2"):
        surrogate_rank_consistency(model, datamodule, num_paths=1, progress=False)


# ------------------------------------------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"keep_paths": 5, "num_paths": 4}, "`keep_paths` \\(k\\) must be <= `num_paths`"),
        ({"pool_size": 0}, "`pool_size` must be an integer >= 1"),
        ({"epsilon_max": 1.5}, r"`epsilon_max` must be a number in \[0, 1\]"),
        ({"warmup_steps": -1}, "`warmup_steps` must be an integer >= 0"),
        ({"surrogate_size": 0}, "`surrogate_size` must be an integer >= 1"),
        ({"lr": 0.0}, "`lr` must be a number > 0"),
        ({"label_smoothing": 1.0}, r"`label_smoothing` must be a number in \[0, 1\)"),
        ({"num_classes": 1}, "`num_classes` must be an integer >= 2"),
        ({"space_options": {**TINY, "num_classes": 7}}, "leave it out of `space_options`"),
        ({"search_space": "nasbench201", "space_options": {"C": 4, "N": 1}}, "single-path method"),
    ],
)
def test_bad_arguments_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _greedy(**kwargs)


def test_a_surrogate_larger_than_the_architecture_split_is_rejected(tiny_trainer):
    with pytest.raises(ValueError, match="surrogate_size=99"):
        tiny_trainer().fit(_greedy(surrogate_size=99), _data())


def test_paired_batches_are_rejected(tiny_trainer):
    x, y = _arrays()
    with pytest.raises(ValueError, match="paired=False"):
        tiny_trainer().fit(SPOS(space_options=TINY, num_classes=4), ArraySearchDataModule(x, y, batch_size=4))


# --------------------------------------------------------------------------------------------------------- DDP
class CheckRanks(Callback):
    """In each worker: identical weights on both ranks, no update outside the path; writes the final state."""

    def __init__(self, out_dir):
        self.out_dir = out_dir

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.before = [p.detach().clone() for p in pl_module.supernet.parameters()]

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        flat = torch.cat([p.detach().reshape(-1) for p in pl_module.supernet.parameters()])
        gathered = pl_module.all_gather(flat)
        if not torch.equal(gathered[0], gathered[1]):
            raise AssertionError(f"weights differ between ranks after step {trainer.global_step}")
        ids = pl_module.all_gather(batch[2])
        if torch.equal(ids[0], ids[1]):
            raise AssertionError("both ranks got the same batch: the data was not sharded")
        used = {id(p) for p in pl_module.supernet.path_parameters(pl_module.current_path)}
        for before, p in zip(self.before, pl_module.supernet.parameters()):
            if id(p) not in used and not torch.equal(before, p.detach()):
                raise AssertionError("a parameter outside the trained path was updated")

    def on_train_end(self, trainer, pl_module):
        stopping = next(c for c in trainer.callbacks if isinstance(c, CandidatePoolStopping))
        state = {
            "pool": [[loss, str(path)] for loss, path in pl_module.candidate_pool],
            "global_step": trainer.global_step,
            "stopped_step": stopping.stopped_step,
            "epsilon": pl_module.epsilon,
            "counters": pl_module.counters,
        }
        (self.out_dir / f"rank{trainer.global_rank}.json").write_text(json.dumps(state))


def test_ddp_ranks_hold_the_same_pool_and_stop_together(tmp_path, tiny_trainer):
    """Two CPU processes (gloo), plain DDP (find_unused_parameters=False): same paths, same pool, same stop."""
    seed_everything(0)
    model = _greedy(warmup_steps=2, pool_size=4, epsilon_steps=4)
    trainer = tiny_trainer(
        accelerator="cpu",
        strategy="ddp_spawn",
        devices=2,
        max_epochs=8,
        callbacks=[CandidatePoolStopping(alpha=0.3, interval=2), CheckRanks(tmp_path)],
    )
    trainer.fit(model, _data(n=64))
    rank0 = json.loads((tmp_path / "rank0.json").read_text())
    rank1 = json.loads((tmp_path / "rank1.json").read_text())
    assert rank0 == rank1
    assert len(rank0["pool"]) == 4 and rank0["counters"]["rounds"] > 0
    assert rank0["stopped_step"] is not None and rank0["global_step"] == rank0["stopped_step"] < 32
