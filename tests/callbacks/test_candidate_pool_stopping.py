import pytest
import torch
from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from torch.utils.data import DataLoader, TensorDataset

from lightning_nas.callbacks import CandidatePoolStopping
from lightning_nas.callbacks.candidate_pool_stopping import pool_update_fraction

CAPACITY = 10


def scripted_pools(steps):
    """Pool contents after each optimizer step: full from step 3 on, the churn per step shrinking over time.

    Paths are named by the step they entered; one path is evicted and re-enters a few steps later (a path that was in
    P_t and is in P again counts as unchanged).
    """
    pools = [frozenset()]
    current = []
    for step in range(1, steps + 1):
        if step <= 3:
            current = current + [f"s{step}_{i}" for i in range(4)]
            current = current[:CAPACITY]
        else:
            churn = 3 if step < 10 else (1 if step < 16 else 0)
            if churn:
                current = current[churn:] + [f"s{step}_{i}" for i in range(churn)]
            if step == 12:  # evict a path that is re-inserted at step 14
                current = [p for p in current if p != "s11_0"] + ["extra12"]
            if step == 14:
                current = [p for p in current if p != "extra12"] + ["s11_0"]
        pools.append(frozenset(current))
    return pools


def expected_stop(pools, interval, alpha, warmup=0, min_size=CAPACITY):
    for step in range(1, len(pools)):
        if step - interval < 0 or step < warmup or len(pools[step]) < min_size:
            continue
        if pool_update_fraction(pools[step], pools[step - interval]) <= alpha:
            return step
    return None


class ScriptedPoolModule(LightningModule):
    """A tiny model whose `candidate_pool` follows a script indexed by the optimizer step."""

    def __init__(self, pools, warmup_steps=0, capacity=CAPACITY):
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)
        self.pools = pools
        self.warmup_steps = warmup_steps
        self.candidate_pool_capacity = capacity
        self.candidate_pool = [(float(i), p) for i, p in enumerate(sorted(pools[0]))]

    def training_step(self, batch, batch_idx):
        # the pool as it is once this step's optimizer step is done (what the callback sees at global_step + 1)
        after = min(self.global_step + 1, len(self.pools) - 1)
        self.candidate_pool = [(float(i), p) for i, p in enumerate(sorted(self.pools[after]))]
        return self.layer(batch[0]).sum()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.0)


class RecordFractions(Callback):
    def __init__(self, stopping):
        self.stopping = stopping
        self.fractions = {}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.stopping.fraction is not None:
            self.fractions[trainer.global_step] = self.stopping.fraction


def loader(batches):
    return DataLoader(TensorDataset(torch.zeros(batches, 2)), batch_size=1)


def fit(module, callbacks, max_epochs=1, batches=40, ckpt_path=None, **kwargs):
    trainer = Trainer(
        max_epochs=max_epochs,
        logger=False,
        enable_checkpointing=any(isinstance(c, ModelCheckpoint) for c in callbacks),
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=callbacks,
        **kwargs,
    )
    trainer.fit(module, loader(batches), ckpt_path=ckpt_path)
    return trainer


def test_pool_update_fraction_is_the_share_of_new_paths():
    assert pool_update_fraction({"a", "b"}, {"a", "b"}) == 0.0
    assert pool_update_fraction({"a", "b", "c", "d"}, {"x"}) == 1.0
    assert pool_update_fraction({"a", "b", "c", "d"}, {"a", "b", "c", "x", "y"}) == 0.25
    assert pool_update_fraction(set(), {"a"}) == 1.0


@pytest.mark.parametrize("interval,alpha", [(4, 0.08), (4, 0.3), (2, 0.15), (6, 0.0)])
def test_stops_exactly_at_the_step_where_pi_crosses_alpha(interval, alpha):
    pools = scripted_pools(40)
    expected = expected_stop(pools, interval, alpha)
    assert expected is not None and expected > interval  # the script crosses alpha inside the run
    stopping = CandidatePoolStopping(alpha=alpha, interval=interval)
    record = RecordFractions(stopping)
    trainer = fit(ScriptedPoolModule(pools), [stopping, record])
    assert stopping.stopped_step == expected
    assert trainer.global_step == expected  # training stopped right after that step
    assert stopping.stopped_epoch == 0
    # every checked step before it had pi > alpha, and the recorded pi is the brute-force one
    for step, fraction in record.fractions.items():
        assert fraction == pytest.approx(pool_update_fraction(pools[step], pools[step - interval]))
        if step < expected:
            assert fraction > alpha
    assert record.fractions[expected] <= alpha
    assert trainer.callback_metrics["search/pool_update_fraction"] == pytest.approx(record.fractions[expected])


def test_an_evicted_and_reinserted_path_counts_as_unchanged():
    pools = scripted_pools(40)
    # at step 16 with a window of 4 (P_t = step 12), s11_0 was evicted at 12 and came back at 14
    assert "s11_0" not in pools[12] and "s11_0" in pools[16] and "s11_0" in pools[11]
    stopping = CandidatePoolStopping(alpha=0.0, interval=5)
    record = RecordFractions(stopping)
    fit(ScriptedPoolModule(pools), [stopping, record])
    assert record.fractions[16] == pool_update_fraction(pools[16], pools[11])


def test_not_checked_during_warmup_or_while_the_pool_is_not_full():
    constant = [frozenset(f"p{i}" for i in range(CAPACITY))] * 41  # pi = 0 from the start
    stopping = CandidatePoolStopping(alpha=0.08, interval=3)
    fit(ScriptedPoolModule(constant, warmup_steps=7), [stopping])
    assert stopping.stopped_step == 7  # not before the end of warm-up
    stopping = CandidatePoolStopping(alpha=0.08, interval=3)
    fit(ScriptedPoolModule(constant), [stopping])
    assert stopping.stopped_step == 3  # as soon as a whole window has been watched
    stopping = CandidatePoolStopping(alpha=0.08, interval=3, check_after_warmup=False)
    fit(ScriptedPoolModule(constant, warmup_steps=7), [stopping])
    assert stopping.stopped_step == 3
    half = [frozenset(f"p{i}" for i in range(CAPACITY // 2))] * 41
    stopping = CandidatePoolStopping(alpha=0.08, interval=3)
    trainer = fit(ScriptedPoolModule(half), [stopping])
    assert stopping.stopped_step is None and trainer.global_step == 40  # never full: never stops
    stopping = CandidatePoolStopping(alpha=0.08, interval=3, min_pool_size=5)
    fit(ScriptedPoolModule(half), [stopping])
    assert stopping.stopped_step == 3


def test_default_interval_is_one_epoch_of_steps():
    pools = scripted_pools(40)
    stopping = CandidatePoolStopping(alpha=0.3)
    fit(ScriptedPoolModule(pools), [stopping], max_epochs=5, batches=8)
    assert stopping.window == 8
    assert stopping.stopped_step == expected_stop(pools, 8, 0.3)


def test_resumed_run_stops_at_the_same_step(tmp_path):
    pools = scripted_pools(40)
    full = CandidatePoolStopping(alpha=0.08, interval=4)
    fit(ScriptedPoolModule(pools), [full], max_epochs=6, batches=5)
    assert full.stopped_step == expected_stop(pools, 4, 0.08)

    class StopAfterTwoEpochs(Callback):
        def on_train_epoch_end(self, trainer, pl_module):
            if trainer.current_epoch == 1:
                trainer.should_stop = True

    checkpoint = ModelCheckpoint(dirpath=tmp_path, save_last=True)
    first = CandidatePoolStopping(alpha=0.08, interval=4)
    fit(ScriptedPoolModule(pools), [first, checkpoint, StopAfterTwoEpochs()], max_epochs=6, batches=5)
    assert first.stopped_step is None  # interrupted at step 10, before the stop
    resumed = CandidatePoolStopping(alpha=0.08, interval=4)
    fit(ScriptedPoolModule(pools), [resumed], max_epochs=6, batches=5, ckpt_path=str(tmp_path / "last.ckpt"))
    assert resumed.stopped_step == full.stopped_step
    assert resumed.state_dict()["events"] == full.state_dict()["events"]


def test_state_dict_round_trip():
    pools = scripted_pools(40)
    stopping = CandidatePoolStopping(alpha=0.08, interval=4)
    fit(ScriptedPoolModule(pools), [stopping], batches=12)
    state = stopping.state_dict()
    restored = CandidatePoolStopping(alpha=0.08, interval=4)
    restored.load_state_dict(state)
    assert restored.state_dict() == state
    assert CandidatePoolStopping(alpha=0.1).state_key != CandidatePoolStopping(alpha=0.08).state_key


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"alpha": 1.0}, r"`alpha` must be a number in \[0, 1\)"),
        ({"alpha": -0.1}, r"`alpha` must be a number in \[0, 1\)"),
        ({"interval": 0}, "`interval` must be an integer >= 1 or None"),
        ({"interval": 2.5}, "`interval` must be an integer >= 1 or None"),
        ({"min_pool_size": 0}, "`min_pool_size` must be an integer >= 1 or None"),
        ({"check_after_warmup": "yes"}, "`check_after_warmup` must be a bool"),
    ],
)
def test_bad_arguments_are_rejected(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        CandidatePoolStopping(**kwargs)


def test_module_without_a_pool_is_rejected():
    class NoPool(ScriptedPoolModule):
        def __init__(self):
            super().__init__([frozenset()])
            del self.candidate_pool

    with pytest.raises(TypeError, match="no `candidate_pool`"):
        fit(NoPool(), [CandidatePoolStopping(interval=2)], batches=2)

    class NoCapacity(ScriptedPoolModule):
        def __init__(self):
            super().__init__([frozenset()])
            del self.candidate_pool_capacity

    with pytest.raises(TypeError, match="candidate_pool_capacity"):
        fit(NoCapacity(), [CandidatePoolStopping(interval=2)], batches=2)
    fit(NoCapacity(), [CandidatePoolStopping(interval=2, min_pool_size=3)], batches=2)  # fine with min_pool_size
