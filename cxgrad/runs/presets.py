"""The paper's presets and the course's standard Omniglot run, as ``TrainConfig`` values."""

from __future__ import annotations

from typing import Any

from cxgrad.errors import ConfigError
from cxgrad.runs.config import TrainConfig


def _paper(dataset: str, shots: int, **extra: Any) -> dict[str, Any]:
    """The paper's appendix A: Conv4 with 48 filters at 84x84, alpha 0.01, beta 1.0,
    eta 0.001, 5 inner steps, 15 queries, meta-batch 4 (1-shot) or 2 (5-shot), top-5
    validation checkpoints, validation on 600 tasks every 500 iterations (one 'epoch' of
    the ALFA/MAML++ code the authors build on)."""
    base = dict(
        method="cxgrad",
        dataset=dataset,
        ways=5,
        shots=shots,
        queries=15,
        image_size=84,
        filters=48,
        meta_batch=4 if shots == 1 else 2,
        inner_steps_train=5,
        inner_steps_eval=5,
        inner_lr=0.01,
        context_lr=1.0,
        outer_lr=1e-3,
        iterations=50_000 if dataset == "miniimagenet" else 125_000,
        val_every=500,
        val_tasks=600,
        keep_best=5,
    )
    base.update(extra)
    return base


def _omniglot(
    ways: int,
    filters: int,
    meta_batch: int,
    iterations: int,
    val_every: int,
    val_tasks: int,
    split: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """1-shot Omniglot at 28x28 with 15 queries (``split`` only where it is not the
    default alphabet split)."""
    return {
        "dataset": "omniglot",
        **({"split": split} if split else {}),
        **dict(ways=ways, shots=1, queries=15, image_size=28, filters=filters),
        **dict(meta_batch=meta_batch, iterations=iterations),
        **dict(val_every=val_every, val_tasks=val_tasks),
        **extra,
    }


PRESETS: dict[str, dict[str, Any]] = {
    # Table 1
    "miniimagenet-5w1s": _paper("miniimagenet", 1),
    "miniimagenet-5w5s": _paper("miniimagenet", 5),
    "tieredimagenet-5w1s": _paper("tieredimagenet", 1),
    "tieredimagenet-5w5s": _paper("tieredimagenet", 5),
    # Table 3: context update scheme
    "miniimagenet-5w5s-stepwise": _paper("miniimagenet", 5, context_scheme="step-wise"),
    # Table 4: number of inner steps (train and test)
    **{
        f"miniimagenet-5w5s-steps{s}": _paper(
            "miniimagenet", 5, inner_steps_train=s, inner_steps_eval=s
        )
        for s in (1, 2, 3, 4)
    },
    # Table 5: context learning rate beta
    **{
        f"miniimagenet-5w{k}s-beta{b}": _paper("miniimagenet", k, context_lr=b)
        for k in (1, 5)
        for b in (0.01, 0.1)
    },
    # Tables 6 and 7: ResNet-12 (appendix B; 64 channels doubled per block). The appendix
    # gives no other hyperparameters for it, so appendix A's are used.
    **{
        f"{data}-5w{k}s-resnet12": _paper(data, k, backbone="resnet12", filters=64)
        for data in ("miniimagenet", "tieredimagenet")
        for k in (1, 5)
    },
    # Omniglot, sized for a 2-core CPU (the README's result): about 15 minutes per method.
    "omniglot-5w1s-cpu": _omniglot(5, 32, 4, 3000, 250, 200, keep_best=5),
    # Omniglot in the protocol of MAML/MAML++ (1200/423 characters, rotations), paper sizes.
    **{
        f"omniglot-maml-{ways}w1s": _omniglot(ways, 64, 8, 20_000, 500, 600, split="maml")
        for ways in (5, 20)
    },
    # Fully offline demo on procedurally generated glyphs: seconds on a CPU.
    "synthetic-demo": dict(
        dataset="synthetic",
        ways=5,
        shots=1,
        queries=5,
        image_size=28,
        filters=16,
        meta_batch=2,
        iterations=50,
        val_every=25,
        val_tasks=20,
        keep_best=2,
    ),
}


def preset(name: str) -> dict[str, Any]:
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; available presets: {', '.join(PRESETS)}")
    return dict(PRESETS[name], preset=name)


def build_config(preset_name: str | None = None, **overrides: Any) -> TrainConfig:
    """A preset (if any) with explicit options on top; ``None`` values are ignored."""
    values = preset(preset_name) if preset_name else {}
    values.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig.from_dict(
        values, source=f"preset {preset_name}" if preset_name else "options"
    )


def omniglot_config(
    method: str, iterations: int = 300, filters: int = 32, seed: int = 0, **changes
) -> TrainConfig:
    """The course's standard CPU-sized run: Omniglot 5-way 1-shot, alphabet split, 28x28,
    Conv4 with ``filters`` filters, the paper's inner/outer hyperparameters, meta-batch 4,
    validation on 100 fixed tasks four times per run, the 3 best checkpoints kept.
    Chapters that use the same arguments share the trained model."""
    config = TrainConfig(
        method=method,
        dataset="omniglot",
        ways=5,
        shots=1,
        queries=15,
        image_size=28,
        filters=filters,
        meta_batch=4,
        iterations=iterations,
        val_every=max(iterations // 4, 1),
        val_tasks=100,
        keep_best=3,
        seed=seed,
    )
    return config.replace(**changes)
