"""Training runs: determinism, exact resume, checkpoints, and every refusal."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import assert_same_state, final_state
from helpers import tiny_run_config as tiny_config

import cxgrad.training.trainer
from cxgrad.data import load_synthetic
from cxgrad.errors import ConfigError, DataError, TrainingDiverged
from cxgrad.evaluation import confidence_intervals, evaluate, evaluate_run
from cxgrad.meta.learner import MetaLearner
from cxgrad.runs import TrainConfig, build_config, build_learner, load_checkpoint, samplers
from cxgrad.training import Trainer, train


def validations(run_dir) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if "val_accuracy" in r]


def best_index(run_dir) -> list[dict]:
    return json.loads((run_dir / "checkpoints" / "best.json").read_text())


def best_files(run_dir) -> list[str]:
    return sorted(p.name for p in (run_dir / "checkpoints").glob("iter-*.pt"))


@pytest.mark.parametrize("method", ["maml", "anil", "boil", "cxgrad"])
def test_training_is_seeded_and_deterministic(tmp_path, glyphs, method):
    config = tiny_config(method=method, iterations=3, val_every=3)
    train(config, tmp_path / "a", dataset=glyphs, progress=False)
    train(config, tmp_path / "b", dataset=glyphs, progress=False)
    assert_same_state(final_state(tmp_path / "a"), final_state(tmp_path / "b"))
    other = tiny_config(method=method, iterations=3, val_every=3, seed=1)
    train(other, tmp_path / "c", dataset=glyphs, progress=False)
    assert not torch.equal(
        final_state(tmp_path / "a")["params"]["conv1.weight"],
        final_state(tmp_path / "c")["params"]["conv1.weight"],
    )


def test_training_changes_every_meta_parameter(tmp_path, glyphs):
    config = tiny_config(iterations=2, val_every=2)
    start = MetaLearner(config.model_config(), config.meta_config()).init_params(config.seed)
    train(config, tmp_path / "run", dataset=glyphs, progress=False)
    end = final_state(tmp_path / "run")["params"]
    assert set(end) == set(start)
    unchanged = [k for k in start if torch.equal(start[k], end[k])]
    assert unchanged == []  # theta and phi (g_phi) are all meta-learned


@pytest.mark.integration
def test_resume_after_stop_is_exact(tmp_path, glyphs):
    """Stop after 3 iterations, resume to 6: same parameters and Adam state as 6 in one go."""
    full = tiny_config(iterations=6)
    train(full, tmp_path / "full", dataset=glyphs, progress=False)
    train(full.replace(iterations=3), tmp_path / "split", dataset=glyphs, progress=False)
    train(full, tmp_path / "split", resume=True, dataset=glyphs, progress=False)
    assert_same_state(final_state(tmp_path / "full"), final_state(tmp_path / "split"))
    iterations = [
        r["iteration"]
        for r in map(json.loads, (tmp_path / "split" / "metrics.jsonl").read_text().splitlines())
        if "loss" in r
    ]
    assert iterations == [1, 2, 3, 4, 5, 6]
    # The 3-iteration run validated after its last iteration; the extended run forgets
    # that validation, off its own schedule, and ranks its best checkpoints as the full run.
    assert [r["iteration"] for r in validations(tmp_path / "split")] == [2, 4, 6]
    assert validations(tmp_path / "split") == validations(tmp_path / "full")
    assert best_index(tmp_path / "split") == best_index(tmp_path / "full")
    assert best_files(tmp_path / "split") == best_files(tmp_path / "full")


@pytest.mark.integration
def test_extending_a_run_restores_the_checkpoint_its_final_validation_displaced(
    tmp_path, glyphs, monkeypatch
):
    """A 5-iteration run's final validation (iteration 5, the best) pushes iteration 4 out
    of the 2 best; extended to 8 iterations, iteration 5 is off schedule and 4 ranks again,
    with its checkpoint, as in a run trained for 8 iterations in one go."""
    accuracy = {2: 0.5, 4: 0.4, 5: 0.9, 6: 0.3, 8: 0.2}
    monkeypatch.setattr(Trainer, "validate", lambda self: accuracy[self.iteration])
    full = tiny_config(iterations=8, val_every=2, keep_best=2)
    train(full, tmp_path / "full", dataset=glyphs, progress=False)
    short = tmp_path / "short"
    train(full.replace(iterations=5), short, dataset=glyphs, progress=False)
    assert [e["iteration"] for e in best_index(short)] == [5, 2]
    train(full, short, resume=True, dataset=glyphs, progress=False)
    assert [e["iteration"] for e in best_index(short)] == [2, 4]
    assert best_index(short) == best_index(tmp_path / "full")
    assert validations(short) == validations(tmp_path / "full")
    assert best_files(short) == ["iter-000002.pt", "iter-000004.pt"]
    for name in best_files(short):
        assert_same_state(
            load_checkpoint(tmp_path / "full" / "checkpoints" / name),
            load_checkpoint(short / "checkpoints" / name),
        )


def test_resuming_with_fewer_iterations_leaves_the_validations_alone(tmp_path, glyphs):
    """A 6-iteration run (validations at 4 and, finally, 6) resumed with --iterations 3:
    nothing to train, and its final validation is not taken for an off-schedule one."""
    run = tmp_path / "run"
    config = tiny_config(iterations=6, val_every=4, keep_best=2)
    train(config, run, dataset=glyphs, progress=False)
    before = (validations(run), best_index(run), best_files(run))
    train(config.replace(iterations=3), run, resume=True, dataset=glyphs, progress=False)
    assert [r["iteration"] for r in before[0]] == [4, 6]
    assert (validations(run), best_index(run), best_files(run)) == before


@pytest.mark.integration
@pytest.mark.parametrize("cut_at_call", [2, 3])
def test_resume_after_ctrl_c_during_validation_is_exact(tmp_path, glyphs, monkeypatch, cut_at_call):
    """Ctrl-C inside the 2nd validation (iteration 4) or the final one (iteration 6): the
    resumed run validates that iteration first, so its validations and best-k equal the
    uninterrupted run's."""
    config = tiny_config(iterations=6, val_every=2, keep_best=2)
    train(config, tmp_path / "full", dataset=glyphs, progress=False)

    real_evaluate = cxgrad.training.trainer.evaluate
    calls = {"n": 0}

    def interrupted_evaluate(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == cut_at_call:
            raise KeyboardInterrupt
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(cxgrad.training.trainer, "evaluate", interrupted_evaluate)
    cut = tmp_path / "cut"
    with pytest.raises(KeyboardInterrupt):
        train(config, cut, dataset=glyphs, progress=False)
    assert final_state(cut)["iteration"] == 2 * cut_at_call
    assert len(validations(cut)) == cut_at_call - 1
    monkeypatch.setattr(cxgrad.training.trainer, "evaluate", real_evaluate)
    train(config, cut, resume=True, dataset=glyphs, progress=False)
    assert [r["iteration"] for r in validations(cut)] == [2, 4, 6]
    assert validations(cut) == validations(tmp_path / "full")
    assert best_index(cut) == best_index(tmp_path / "full")
    assert best_files(cut) == best_files(tmp_path / "full")
    assert_same_state(final_state(tmp_path / "full"), final_state(cut))


@pytest.mark.integration
def test_resume_after_ctrl_c_is_exact(tmp_path, glyphs, monkeypatch):
    config = tiny_config(iterations=6, val_every=4)
    train(config, tmp_path / "full", dataset=glyphs, progress=False)

    real_step = Trainer.step

    def interrupted_step(self):
        if self.iteration == 3:
            raise KeyboardInterrupt
        return real_step(self)

    monkeypatch.setattr(Trainer, "step", interrupted_step)
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "cut", dataset=glyphs, progress=False)
    assert final_state(tmp_path / "cut")["iteration"] == 3  # saved on the way out
    monkeypatch.setattr(Trainer, "step", real_step)
    train(config, tmp_path / "cut", resume=True, dataset=glyphs, progress=False)
    assert_same_state(final_state(tmp_path / "full"), final_state(tmp_path / "cut"))


def test_validation_adapts_for_the_eval_steps(tmp_path, glyphs, monkeypatch):
    """With inner_steps_eval (3) unlike inner_steps_train (1), training tasks adapt for 1
    step and validation tasks for 3."""
    calls, validating = [], {"now": False}
    real_adapt, real_validate = MetaLearner.adapt, Trainer.validate

    def adapt(self, params, x_support, y_support, steps, *args, **kwargs):
        calls.append(("validation" if validating["now"] else "training", steps))
        return real_adapt(self, params, x_support, y_support, steps, *args, **kwargs)

    def validate(self):
        validating["now"] = True
        try:
            return real_validate(self)
        finally:
            validating["now"] = False

    monkeypatch.setattr(MetaLearner, "adapt", adapt)
    monkeypatch.setattr(Trainer, "validate", validate)
    config = tiny_config(iterations=2, val_every=2, inner_steps_train=1, inner_steps_eval=3)
    train(config, tmp_path / "run", dataset=glyphs, progress=False)
    assert sorted(set(calls)) == [("training", 1), ("validation", 3)]


def test_best_k_checkpoints_are_kept_and_ranked(tmp_path, glyphs):
    run = tmp_path / "run"
    train(tiny_config(iterations=8, val_every=2, keep_best=2), run, dataset=glyphs, progress=False)
    best = json.loads((run / "checkpoints" / "best.json").read_text())
    assert len(best) == 2
    assert best[0]["val_accuracy"] >= best[1]["val_accuracy"]
    files = sorted(p.name for p in (run / "checkpoints").glob("iter-*.pt"))
    assert files == sorted(e["file"] for e in best)
    validations = [
        r
        for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())
        if "val_accuracy" in r
    ]
    assert [r["iteration"] for r in validations] == [2, 4, 6, 8]
    assert best[0]["val_accuracy"] == max(r["val_accuracy"] for r in validations)


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, glyphs, monkeypatch):
    real = MetaLearner.meta_batch_loss
    calls = {"n": 0}

    def poisoned(self, params, batch, training=True, batched=False):
        loss, acc = real(self, params, batch, training, batched)
        calls["n"] += 1
        return (loss * float("nan") if calls["n"] == 5 else loss), acc

    monkeypatch.setattr(MetaLearner, "meta_batch_loss", poisoned)
    run = tmp_path / "run"
    with pytest.raises(TrainingDiverged, match=r"non-finite .* iteration 5.*iteration 4"):
        train(tiny_config(iterations=8, val_every=2), run, dataset=glyphs, progress=False)
    state = final_state(run)
    assert state["iteration"] == 4
    assert all(torch.isfinite(v).all() for v in state["params"].values())
    last = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert last == {"iteration": 5, "event": "diverged"}


def test_run_directory_with_another_run_is_refused(tmp_path, glyphs):
    run = tmp_path / "run"
    train(tiny_config(iterations=2), run, dataset=glyphs, progress=False)
    with pytest.raises(ConfigError, match="already holds a run with this configuration"):
        train(tiny_config(iterations=2), run, dataset=glyphs, progress=False)
    with pytest.raises(ConfigError, match=r"already holds a different run:\n  --method"):
        train(tiny_config(method="maml", iterations=2), run, dataset=glyphs, progress=False)
    with pytest.raises(ConfigError, match="(?s)cannot resume .* --inner-lr"):
        train(
            tiny_config(iterations=2, inner_lr=0.5),
            run,
            resume=True,
            dataset=glyphs,
            progress=False,
        )


def test_non_run_folders_are_refused(tmp_path, glyphs):
    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="non-empty folder that is not a cxgrad run"):
        train(tiny_config(), tmp_path / "stuff", dataset=glyphs, progress=False)
    with pytest.raises(ConfigError, match="--resume given but .* holds no run"):
        train(tiny_config(), tmp_path / "empty", resume=True, dataset=glyphs, progress=False)


def test_checkpoint_from_another_configuration_is_refused(tmp_path, glyphs):
    run = tmp_path / "run"
    train(tiny_config(iterations=2), run, dataset=glyphs, progress=False)
    with pytest.raises(ConfigError, match="different configuration:\n  method: checkpoint has"):
        load_checkpoint(run / "checkpoints" / "last.pt", tiny_config(method="maml"))
    with pytest.raises(ConfigError, match="filters: checkpoint has 4"):
        load_checkpoint(run / "checkpoints" / "last.pt", tiny_config(filters=8))


def test_damaged_checkpoint_is_reported(tmp_path):
    bad = tmp_path / "last.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="cannot be read"):
        load_checkpoint(bad)


def test_too_many_ways_or_shots_fail_before_the_run_is_created(tmp_path, glyphs):
    with pytest.raises(DataError, match="10-way tasks need at least 10 classes"):
        train(tiny_config(ways=10), tmp_path / "a", dataset=glyphs, progress=False)
    with pytest.raises(DataError, match="5 shots \\+ 5 queries = 10 images"):
        train(tiny_config(shots=5, queries=5), tmp_path / "b", dataset=glyphs, progress=False)
    assert not (tmp_path / "a" / "config.json").exists()
    assert not (tmp_path / "b" / "config.json").exists()


def test_bad_options_and_presets_are_refused():
    with pytest.raises(ConfigError, match="unknown preset 'mini'"):
        build_config("mini")
    with pytest.raises(ConfigError, match="unknown method"):
        tiny_config(method="protonet")
    with pytest.raises(ConfigError, match="--inner-lr must be > 0"):
        tiny_config(inner_lr=0.0)
    with pytest.raises(ConfigError, match="--image-size 8 is too small"):
        tiny_config(image_size=8)
    with pytest.raises(ConfigError, match="unknown dataset"):
        tiny_config(dataset="imagenet")


def test_every_preset_builds_its_model():
    from cxgrad.runs import PRESETS

    for name in PRESETS:
        config = build_config(name)
        learner = MetaLearner(config.model_config(), config.meta_config())
        params = learner.init_params(0)
        assert params["head.weight"].shape == (config.ways, config.model_config().feature_dim)
        assert config.preset == name


def test_paper_presets_follow_the_appendix():
    one = build_config("miniimagenet-5w1s")
    five = build_config("miniimagenet-5w5s")
    assert (one.filters, one.image_size, one.meta_batch, five.meta_batch) == (48, 84, 4, 2)
    assert (one.inner_lr, one.context_lr, one.outer_lr) == (0.01, 1.0, 1e-3)
    assert (one.inner_steps_train, one.queries, one.iterations) == (5, 15, 50_000)
    assert build_config("tieredimagenet-5w1s").iterations == 125_000
    assert build_config("miniimagenet-5w5s-stepwise").context_scheme == "step-wise"
    assert build_config("miniimagenet-5w1s-beta0.1").context_lr == 0.1


@pytest.mark.integration
def test_evaluate_run_reports_both_intervals_and_ensembles(tmp_path, glyphs, monkeypatch):
    run = tmp_path / "run"
    train(tiny_config(iterations=4, val_every=1, keep_best=3), run, dataset=glyphs, progress=False)
    monkeypatch.setattr("cxgrad.evaluation.run.load_config_dataset", lambda *a, **k: glyphs)
    single = evaluate_run(run, tasks=5, progress=False)
    ensemble = evaluate_run(run, tasks=5, ensemble=3, progress=False)
    assert (single.models, ensemble.models) == (1, 3)
    assert single.predictions == 5 * 3 * 2
    # The best checkpoint, and the 3 best in best.json's order, on the run's test tasks.
    config = TrainConfig.load(run / "config.json")
    best = [
        load_checkpoint(run / "checkpoints" / entry["file"])["params"] for entry in best_index(run)
    ]
    sampler = samplers(config, glyphs)["test"]
    for result, models in ((single, best[:1]), (ensemble, best)):
        expected = evaluate(build_learner(config), models, sampler, tasks=5, progress=False)
        assert result.task_accuracies == expected.task_accuracies
    assert single.ci95_binomial == confidence_intervals(single.task_accuracies, 30)[1]
    with pytest.raises(ConfigError, match="--ensemble 4 asks for more checkpoints"):
        evaluate_run(run, tasks=5, ensemble=4, progress=False)


def test_confidence_intervals():
    per_task, binomial = confidence_intervals([0.5, 1.0, 0.0, 0.5], predictions=40)
    assert per_task == pytest.approx(1.96 * (1 / 6) ** 0.5 / 2)
    assert binomial == pytest.approx(1.96 * (0.25 / 40) ** 0.5)


# --------------------------------------------------------------------------- run setup
def test_evaluation_samples_only_the_split_it_tests(tmp_path, glyphs, monkeypatch):
    run = tmp_path / "run"
    train(tiny_config(ways=5, iterations=2), run, dataset=glyphs, progress=False)
    # A test set whose training split is too small for 5-way tasks still tests the run.
    small_train = load_synthetic(num_classes=(2, 6, 6), images_per_class=8, image_size=16)
    monkeypatch.setattr("cxgrad.evaluation.run.load_config_dataset", lambda *a, **k: small_train)
    assert evaluate_run(run, tasks=2, progress=False).tasks == 2
    with pytest.raises(DataError, match="5-way tasks need at least 5 classes"):
        evaluate_run(run, tasks=2, split="train", progress=False)


def test_image_size_and_channels_default_to_the_datasets_own():
    mini = build_config(dataset="miniimagenet")
    assert (mini.image_size, mini.model_config().in_channels) == (84, 3)
    omniglot = build_config(dataset="omniglot")
    assert (omniglot.image_size, omniglot.model_config().in_channels) == (28, 1)
    assert build_config(dataset="miniimagenet", image_size=32).image_size == 32


def test_omniglot_options_are_refused_for_other_datasets():
    with pytest.raises(ConfigError, match="--split is an Omniglot option"):
        tiny_config(split="maml")
    with pytest.raises(ConfigError, match="--rotations is an Omniglot option"):
        tiny_config(rotations=False)
    assert build_config(dataset="omniglot", split="maml", rotations=False).rotations is False


def test_negative_seeds_are_refused():
    for name in ("seed", "task_seed"):
        with pytest.raises(ConfigError, match=f"--{name.replace('_', '-')} must be >= 0"):
            tiny_config(**{name: -1})


def test_resuming_compares_every_option_but_iterations(tmp_path, glyphs):
    run = tmp_path / "run"
    train(tiny_config(iterations=2), run, dataset=glyphs, progress=False)
    with pytest.raises(ConfigError, match="--inner-steps-eval: run has 2, you asked for 10"):
        train(tiny_config(inner_steps_eval=10), run, resume=True, dataset=glyphs, progress=False)
    result = train(tiny_config(iterations=4), run, resume=True, dataset=glyphs, progress=False)
    assert result.iterations == 4


def test_test_only_datasets_are_refused_for_training(tmp_path):
    config = build_config(dataset="fashionmnist", filters=4)
    with pytest.raises(ConfigError, match="--dataset fashionmnist is a cross-domain test set"):
        train(config, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_resume_reads_the_data_root_the_run_recorded(tmp_path, glyphs, monkeypatch):
    roots = []

    def load(config, data_root, progress):
        roots.append(data_root)
        return glyphs

    monkeypatch.setattr(cxgrad.training.trainer, "load_config_dataset", load)
    run, data = tmp_path / "run", tmp_path / "data"
    data.mkdir()
    train(tiny_config(iterations=2), run, data_root=data, progress=False)
    train(tiny_config(iterations=4), run, resume=True, progress=False)
    train(tiny_config(iterations=4), run, resume=True, data_root=tmp_path, progress=False)
    assert [str(r) for r in roots] == [str(data), str(data), str(tmp_path)]


def test_every_option_but_iterations_is_compared_on_resume():
    from cxgrad.options import choices, options

    for field in options(TrainConfig):
        # CxGrad's own options are refused beside another method (LSLR beside CxGrad)
        base = build_config(method="cxgrad" if field.name == "context_gain" else "maml")
        value = getattr(base, field.name)
        if field.name == "preset":
            other = "synthetic-demo"
        elif choices(field):
            other = next(c for c in choices(field) if c != value)
        elif isinstance(value, bool) or value is None:
            other = not value
        else:
            other = value + 1
        diffs = base.differences(base.replace(**{field.name: other}), resuming=True)
        assert len(diffs) == (field.name != "iterations"), field.name


def test_the_learner_takes_the_inner_loop_options_of_the_run():
    from dataclasses import fields

    from cxgrad.meta.config import MetaConfig

    config = tiny_config(inner_lr=0.3, context_scheme="step-wise", first_order=True)
    meta = config.meta_config()
    assert type(meta) is MetaConfig
    assert all(getattr(meta, f.name) == getattr(config, f.name) for f in fields(MetaConfig))
