"""Cost-aware early stopping (EfficiencyPruner, report_epoch, targets): each stated guarantee."""

from __future__ import annotations

import math

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from effobj import EfficiencySpec
from effobj import record as K
from effobj.errors import InputError
from effobj.optuna import EfficiencyObjective, EfficiencyPruner, report_epoch
from effobj.optuna._early_stop import make_pruner, rungs
from effobj.optuna._sampler import EfficiencySampler, _StudyState
from effobj.record import Status, TrialRecord
from effobj.targets import perf_to_be_nondominated, perf_to_beat

optuna.logging.set_verbosity(optuna.logging.WARNING)

EPOCHS = 16
SPEC = EfficiencySpec(beta2=1.0, perf_ref=1.0, cost_ref=100.0, cost_max=90.0, cost_name="cost")


def _curve(final: float, tau: float, rng: np.random.Generator, epochs: int = EPOCHS) -> list[float]:
    e = np.arange(1, epochs + 1)
    y = 0.1 + (final - 0.1) * (1 - np.exp(-e / tau)) + rng.normal(0, 0.005, epochs)
    return [float(v) for v in np.clip(y, 0.0, 1.0)]


class Table:
    """Synthetic candidates: a cost and a learning curve each (final accuracies spread)."""

    def __init__(self, n: int = 60, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.cost = rng.uniform(5.0, 60.0, n)
        self.final = np.clip(0.55 + 0.35 * rng.beta(2, 2, n) + 0.002 * self.cost, 0, 0.99)
        self.tau = rng.uniform(1.5, 4.0, n)
        self.curves = [_curve(f, t, rng) for f, t in zip(self.final, self.tau, strict=True)]
        self.epochs_run: dict[int, int] = {}

    def objective(self, mode: str = "single") -> EfficiencyObjective:
        def build(trial):
            return trial.suggest_int("i", 0, len(self.cost) - 1)

        def evaluate(i, trial, report):
            report.max_epochs = EPOCHS
            for epoch, v in enumerate(self.curves[i]):
                self.epochs_run[i] = epoch + 1
                report(epoch, v)
            return self.curves[i][-1]

        return EfficiencyObjective(SPEC, build, evaluate, measure=lambda i: {
            "cost": float(self.cost[i])}, mode=mode, skip_hopeless=False)

    def run(self, pruner, order, mode: str = "single") -> optuna.Study:
        obj = self.objective(mode)
        study = obj.create_study(storage=":memory:", sampler="random", seed=0, pruner=pruner)
        for i in order:
            study.enqueue_trial({"i": int(i)})
        study.optimize(obj, n_trials=len(order))
        return study


# ------------------------------------------------------------------------- targets
def test_the_target_is_where_e_beta_meets_the_incumbent_and_cheaper_needs_less():
    from effobj.metric import e_beta

    for c in (0.05, 0.2, 0.4):
        a = perf_to_beat(0.7, c, beta2=2.0)
        assert e_beta(a, c, beta2=2.0) == pytest.approx(0.7)
    assert perf_to_beat(0.7, 0.05) < perf_to_beat(0.7, 0.4)
    assert perf_to_beat(0.7, 0.05, a_min=0.9) == 0.9  # the gate binds
    assert perf_to_beat(0.7, 0.95) == math.inf  # (1 + b2)(1 - C) = 0.1 < 0.7
    assert perf_to_beat(0.5, 0.3, c_max=0.2) == math.inf  # over budget


def test_the_multi_objective_target_is_the_staircase():
    front = [(0.9, (5.0, 1.0)), (0.95, (9.0, 3.0))]
    assert perf_to_be_nondominated((9.0, 3.0), front) == 0.95
    assert perf_to_be_nondominated((6.0, 2.0), front) == 0.9
    assert perf_to_be_nondominated((6.0, 0.5), front) == 0.0  # cheaper in one: anything


# ---------------------------------------------------------------------- rungs, args
def test_rungs_are_geometric_and_below_the_last_epoch():
    assert rungs(1, 2, 16) == [1, 2, 4, 8]
    assert rungs(2, 3, 40) == [2, 6, 18]
    assert EfficiencyPruner(min_epochs=4, reduction_factor=2).rungs(4) == []


@pytest.mark.parametrize("kwargs, match", [
    ({"min_epochs": 0}, "min_epochs"),
    ({"reduction_factor": 1.0}, "reduction_factor"),
    ({"p_min": 1.0}, "p_min"),
    ({"min_epochs": 8, "max_epochs": 8}, "no rung would fit"),
    ({"beta2_range": (2.0, 1.0)}, "beta2_range"),
    ({"beta2_range": 3}, "pair"),
])
def test_bad_arguments_name_the_parameter(kwargs, match):
    with pytest.raises(InputError, match=match):
        EfficiencyPruner(SPEC, **kwargs)


def test_optunas_pruners_are_refused_in_a_multi_objective_study():
    with pytest.raises(InputError, match="'pruner'.*multi-objective"):
        make_pruner("median", SPEC, mode="multi")
    assert isinstance(make_pruner("effobj", SPEC, mode="multi"), EfficiencyPruner)
    assert isinstance(make_pruner("hyperband", SPEC), optuna.pruners.HyperbandPruner)


# ------------------------------------------------------------------- the guarantees
def _judge(pruner, finished_curves, curve, c, *, finals_e=None, name=None):
    """decide() on a study holding ``finished_curves`` as trained, complete trials."""
    study = optuna.create_study(direction="maximize", pruner=pruner, study_name=name)
    for k, fc in enumerate(finished_curves):
        e = finals_e[k] if finals_e else float(SPEC.score(fc[-1], {"cost": 50.0}))
        rec = TrialRecord(C=0.5, A=fc[-1], perf=fc[-1], e_beta=e, trained=True,
                          status=Status.TRAINED, curve=list(fc), costs={"cost": 50.0})
        study.add_trial(optuna.trial.create_trial(value=e, user_attrs=rec.to_user_attrs()))
    rec = TrialRecord(C=c, costs={"cost": c * 100}, trained=True, status=Status.TRAINING)
    return pruner.decide(study, len(finished_curves), curve, rec, EPOCHS)


def _flat_curves(n, final, rng):
    return [_curve(final + rng.normal(0, 0.01), 2.0, rng) for _ in range(n)]


def test_never_before_the_first_rung_nor_off_a_rung():
    rng = np.random.default_rng(1)
    done = _flat_curves(20, 0.95, rng)
    pruner = EfficiencyPruner(SPEC, min_epochs=2)
    bad = [0.1] * EPOCHS
    assert _judge(pruner, done, bad[:1], 0.5).rung is None  # epoch 1 < first rung 2
    assert _judge(pruner, done, bad[:3], 0.5).rung is None  # 3 is not a rung
    d = _judge(pruner, done, bad[:2], 0.5)
    assert d.rung == 2 and d.stop


def test_never_without_a_target_nor_at_or_above_it():
    rng = np.random.default_rng(2)
    pruner = EfficiencyPruner(SPEC)
    assert not _judge(pruner, [], [0.1] * 2, 0.5).stop  # nothing trained: no target
    done = _flat_curves(20, 0.8, rng)
    d = _judge(pruner, done, [0.2, 0.99], 0.5)  # already above its target
    assert not d.stop and d.reason == "at or above its target"


def test_never_on_too_few_comparable_curves():
    rng = np.random.default_rng(3)
    done = _flat_curves(4, 0.95, rng)
    d = _judge(EfficiencyPruner(SPEC, min_curves=5), done, [0.1, 0.1], 0.5)
    assert not d.stop and d.n_curves < 5
    # four curves none of which would reach the target: the count's prior keeps P at
    # 0.5 / 5 = 0.1, so only a p_min above it stops
    d = _judge(EfficiencyPruner(SPEC, min_curves=3), done, [0.1, 0.1], 0.5)
    assert not d.stop and d.probability == pytest.approx(0.1)
    assert _judge(EfficiencyPruner(SPEC, min_curves=3, p_min=0.2), done, [0.1, 0.1], 0.5).stop


def test_stopped_exactly_when_the_chance_is_below_p_min():
    rng = np.random.default_rng(4)
    done = _flat_curves(30, 0.9, rng)
    curve = [v - 0.2 for v in _curve(0.9, 2.0, rng)][:4]  # 0.2 behind every finished curve
    d = _judge(EfficiencyPruner(SPEC, p_min=0.05), done, curve, 0.5)
    assert d.probability is not None and d.stop == (d.probability < 0.05)
    assert d.stop and d.prediction < d.target
    keep = _judge(EfficiencyPruner(SPEC, p_min=d.probability / 2), done, curve, 0.5)
    assert not keep.stop and keep.probability == pytest.approx(d.probability)


def test_a_cheaper_candidate_with_the_same_curve_is_kept_a_costlier_one_stopped():
    rng = np.random.default_rng(5)
    done = _flat_curves(30, 0.9, rng)
    curve = _curve(0.86, 2.0, np.random.default_rng(6))[:4]
    costly = _judge(EfficiencyPruner(SPEC), done, curve, 0.5)   # same cost: must beat 0.9
    cheap = _judge(EfficiencyPruner(SPEC), done, curve, 0.05)   # much cheaper: needs ~0.70
    assert costly.target > cheap.target
    assert costly.stop and not cheap.stop


# ------------------------------------------------------ a whole search, single objective
def test_the_pruner_stops_the_losers_keeps_the_winners_and_an_inverted_one_would_not():
    """Each candidate, seen in one fixed order, either ends above the target it had when
    it started (a winner of its time) or below. The pruner must stop most losers and
    almost no winner; the inverted rule (stop when the chance is high) or a coin would
    fail one of the two."""
    def tally(pruner_type, seed):
        table = Table(n=60, seed=seed)
        order = np.random.default_rng(seed).permutation(60)
        study = table.run(pruner_type(SPEC), order)
        out = np.zeros(4, dtype=int)  # losers, winners, stopped losers, stopped winners
        for t in study.trials:
            target = TrialRecord.from_trial(t).target_perf
            if target is None:
                continue
            would_win = table.curves[t.params["i"]][-1] >= target
            pruned = t.state == TrialState.PRUNED
            out += [not would_win, would_win, pruned and not would_win, pruned and would_win]
        return out, sum(table.epochs_run.values())

    class Inverted(EfficiencyPruner):
        def decide(self, *a, **k):
            d = super().decide(*a, **k)
            flip = d.probability is not None and d.n_curves >= self.min_curves \
                and d.probability > 1 - self.p_min
            return type(d)(flip, d.rung, d.target, d.probability, d.prediction, d.n_curves,
                           d.reason)

    total = np.zeros(4, dtype=int)
    inverted = np.zeros(4, dtype=int)
    epochs = 0
    for seed in range(4):
        counts, run = tally(EfficiencyPruner, seed)
        total += counts
        epochs += run
        inverted += tally(Inverted, seed)[0]
    losers, winners, stopped_losers, stopped_winners = total
    assert losers >= 100 and winners >= 8
    assert stopped_losers / losers >= 0.6
    assert stopped_winners <= max(1, 0.1 * winners)
    assert epochs <= 0.6 * 4 * 60 * EPOCHS  # trainings stopped early save epochs
    # the inverted rule stops winners and keeps losers
    assert inverted[3] > max(1, 0.1 * winners) or inverted[2] / inverted[0] < 0.6


def test_a_stopped_trial_is_pruned_with_its_evidence_and_counted_as_trained():
    table = Table(n=40, seed=1)
    order = np.random.default_rng(1).permutation(40)
    study = table.run(EfficiencyPruner(SPEC), order)
    pruned = [t for t in study.trials if t.state == TrialState.PRUNED]
    assert pruned
    for t in pruned:
        rec = TrialRecord.from_trial(t)
        assert rec.status == Status.PRUNED and rec.trained is True
        assert rec.epochs_run == rec.stop_rung == len(rec.curve) < EPOCHS
        assert rec.stop_probability < 0.05 and rec.stop_prediction < rec.target_perf
        assert rec.max_epochs == EPOCHS and "stopped after epoch" in rec.skip_reason
    from effobj.optuna import training_summary

    s = training_summary(study)
    assert s.n_pruned_training == len(pruned) and s.n_trained == 40


# ------------------------------------------------------------ multi-objective studies
def test_multi_objective_trainings_are_stopped_against_the_staircase():
    table = Table(n=40, seed=2)
    order = np.random.default_rng(2).permutation(40)
    study = table.run(EfficiencyPruner(SPEC), order, mode="multi")
    assert len(study.directions) == 2
    pruned = [t for t in study.trials if t.state == TrialState.PRUNED]
    assert pruned
    # each stopped one was below the best accuracy of a trained, no-costlier candidate
    for t in pruned:
        rec = TrialRecord.from_trial(t)
        assert rec.target_perf is not None and rec.stop_prediction < rec.target_perf
        cheaper = [table.curves[u.params["i"]][-1] for u in study.trials[: t.number]
                   if u.state == TrialState.COMPLETE
                   and table.cost[u.params["i"]] <= table.cost[t.params["i"]]]
        assert rec.target_perf == pytest.approx(max(cheaper))


def test_some_beta2_target_is_at_least_the_staircase():
    table = Table(n=30, seed=3)
    order = np.random.default_rng(3).permutation(30)
    plain = table.run(EfficiencyPruner(SPEC), order, mode="multi")
    ranged = Table(n=30, seed=3).run(EfficiencyPruner(SPEC, beta2_range=(0.5, 2.0)), order,
                                    mode="multi")
    a = [TrialRecord.from_trial(t).target_perf for t in plain.trials]
    b = [TrialRecord.from_trial(t).target_perf for t in ranged.trials]
    pairs = [(x, y) for x, y in zip(a, b, strict=True) if x is not None and y is not None]
    assert pairs and all(y >= x - 1e-12 for x, y in pairs[:5])


# --------------------------------------------------------------- report_epoch, inputs
def _user_study(pruner, perfs, *, max_epochs=None):
    seen = {}

    def evaluate(size, trial):
        for epoch, p in enumerate(perfs):
            if report_epoch(trial, epoch, p, max_epochs=max_epochs):
                seen["stopped_at"] = epoch
                return p
        return perfs[-1]

    obj = EfficiencyObjective(SPEC, lambda t: t.suggest_int("size", 10, 20), evaluate,
                              measure=lambda s: {"cost": float(s)}, skip_hopeless=False)
    study = obj.create_study(storage=":memory:", sampler="random", seed=0, pruner=pruner)
    return obj, study, seen


def test_report_epoch_in_a_users_loop_records_the_curve_and_stops():
    obj, study, seen = _user_study(EfficiencyPruner(SPEC, min_curves=1, p_min=0.3),
                                   [0.5, 0.9, 0.95, 0.96], max_epochs=4)
    study.optimize(obj, n_trials=1)
    obj.evaluate = _user_study(None, [0.1, 0.1, 0.1, 0.1], max_epochs=4)[0].evaluate
    study.optimize(obj, n_trials=1)
    first, second = study.trials
    assert first.state == TrialState.COMPLETE and first.user_attrs[K.CURVE] == [0.5, 0.9, 0.95, 0.96]
    assert second.state == TrialState.PRUNED
    assert second.user_attrs[K.EPOCHS_RUN] == 1 and second.user_attrs[K.STOP_RUNG] == 1


@pytest.mark.parametrize("perfs, match", [
    ([0.5, math.nan], "'perf' parameter of report_epoch"),
    ([0.5, -0.2], "perf"),
])
def test_report_epoch_refuses_bad_performance_and_the_trial_fails_with_the_reason(perfs, match):
    obj, study, _ = _user_study(None, perfs)
    study.optimize(obj, n_trials=1)
    t = study.trials[0]
    assert t.state == TrialState.FAIL and match in t.user_attrs[K.FAIL_REASON]


def test_report_epoch_refuses_a_non_increasing_epoch_or_one_past_the_budget():
    def evaluate(size, trial):
        report_epoch(trial, 3, 0.5)
        report_epoch(trial, 3, 0.6)
        return 0.6

    obj = EfficiencyObjective(SPEC, lambda t: t.suggest_int("size", 10, 20), evaluate,
                              measure=lambda s: {"cost": float(s)})
    study = obj.create_study(storage=":memory:")
    study.optimize(obj, n_trials=1)
    reason = study.trials[0].user_attrs[K.FAIL_REASON]
    assert "'epoch' parameter of report_epoch must increase" in reason and "last was 3" in reason
    obj.evaluate = lambda size, trial: report_epoch(trial, 5, 0.5, max_epochs=5) or 0.5
    study.optimize(obj, n_trials=1)
    assert "below max_epochs=5" in study.trials[1].user_attrs[K.FAIL_REASON]


def test_report_epoch_in_a_plain_optuna_study_is_report_and_should_prune():
    pruner = EfficiencyPruner(min_curves=2, max_epochs=8, p_min=0.3)

    def objective(trial):
        final = trial.suggest_float("f", 0.1, 0.9)
        for epoch in range(8):
            if report_epoch(trial, epoch, final * (epoch + 1) / 8):
                raise optuna.TrialPruned()
        return final

    study = optuna.create_study(direction="maximize", pruner=pruner,
                                sampler=optuna.samplers.RandomSampler(seed=0))
    for f in (0.8, 0.85, 0.9, 0.2, 0.1):  # improving, then two that cannot catch up
        study.enqueue_trial({"f": f})
    study.optimize(objective, n_trials=5)
    states = [t.state for t in study.trials]
    assert states[:3] == [TrialState.COMPLETE] * 3
    assert states[3:] == [TrialState.PRUNED] * 2 and pruner.n_stopped == 2
    assert pruner.last_decision is not None and pruner.last_decision.stop


# ------------------------------------------------------------------------- the sampler
def test_the_sampler_sees_a_stopped_training_at_its_prediction_and_never_proposes_it():
    table = Table(n=30, seed=4)
    study = table.run(EfficiencyPruner(SPEC), np.random.default_rng(4).permutation(30))
    pruned = [t for t in study.trials if t.state == TrialState.PRUNED]
    assert pruned
    sampler = EfficiencySampler(SPEC, costs=lambda p: {"cost": float(table.cost[p["i"]])})
    space = {"i": study.trials[0].distributions["i"]}
    st = _StudyState.read(study, sampler, space)
    for t in pruned:
        pred = TrialRecord.from_trial(t).stop_prediction
        assert any(p == {"i": t.params["i"]} and y == pytest.approx(pred)
                   for p, y in zip(st.trained_params, st.trained_perf, strict=True))
        assert sampler._identity(dict(t.params)) in st.excluded
    assert st.n_trained == 30


def test_off_a_rung_the_study_is_not_read_and_two_studies_of_one_name_stay_apart():
    pruner = EfficiencyPruner(SPEC, max_epochs=EPOCHS)
    rec = TrialRecord(C=0.5, costs={"cost": 50.0}, trained=True, status=Status.TRAINING)

    class Unreadable:
        directions = ["maximize"]
        study_name = "x"

        def get_trials(self, *a, **k):
            raise AssertionError("read off a rung")

    assert pruner.decide(Unreadable(), 0, [0.1] * 3, rec).rung is None  # 3 is not a rung
    rng = np.random.default_rng(7)
    good = _judge(pruner, _flat_curves(20, 0.95, rng), [0.1, 0.1], 0.5, name="same")
    assert good.stop  # 20 curves far above: out of reach
    # a new in-memory study of the same (default) name, where the curves are poor
    poor = _judge(pruner, _flat_curves(20, 0.3, rng), [0.25, 0.25], 0.5, name="same")
    assert poor.target < good.target and not poor.stop



def test_targets_refuse_bad_input_by_name():
    with pytest.raises(InputError, match="'trained' parameter of perf_to_be_nondominated"):
        perf_to_be_nondominated((1.0, 2.0), [(0.9, (1.0,))])
    with pytest.raises(InputError, match="'c' parameter of perf_to_beat"):
        perf_to_beat(0.5, -0.1)
    with pytest.raises(InputError, match="'beta2' parameter of perf_to_beat"):
        perf_to_beat(0.5, 0.1, beta2=0.0)
