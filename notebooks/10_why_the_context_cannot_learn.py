# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 10. Why the context cannot learn
#
# CxGrad's central idea is that the scaling factors $\gamma = g_\phi(\nu)$ are
# **task-conditioned**: the context $\nu$ is learned on each task's support set, and
# $g_\phi$ turns it into a learning rate per layer that suits that task. The paper credits
# this for CxGrad's gain over MAML. Chapter 5 already gave a reason to doubt it: on one
# trained model, $\gamma$ came out almost the same on every test task.
#
# This chapter explains why, and checks the explanation where it could fail. It is the
# first of three on one question, *is it the context, or a larger step?*:
#
# 1. **A derivation** (this chapter): BatchNorm makes the gradient that moves $\nu$
#    vanish, up to BatchNorm's $\epsilon$. We check it in float64 on the trained models and
#    at the paper's own geometry (84x84 images, Conv4-48 and ResNet-12, 1-shot and 5-shot).
# 2. **Measurements** (this chapter): how much $\gamma$ varies across tasks, in every kept
#    model, and whether it tells apart tasks that really differ (half of them inverted).
# 3. **Controls** ({doc}`chapter 11 <11_controls_and_verdict>`): configurations that each
#    remove one ingredient, compared with CxGrad over ten training seeds.
# 4. **Variants that give the context a job**, and four times longer training
#    ({doc}`chapter 12 <12_context_with_a_job>`, an appendix).
#
# Nothing is trained here. Every model the chapter measures is a **result of record**:
# trained once by `cxgrad sweep run` at 500 iterations, tested on 600 seeded test tasks,
# and kept in the repository's `results/omniglot-5w1s/` with the model it tested.

# %% [markdown]
# ## Learning objectives
#
# - Derive why the gradient that updates CxGrad's context vanishes up to BatchNorm's
#   $\epsilon$, and check it in float64.
# - Check the same argument at the paper's geometry, and find the one kind of factor for
#   which it fails.
# - Measure how much $\gamma$ varies across tasks and across training seeds.
# - Test whether the context tells apart tasks with normal and with inverted images.
#
# ## Prerequisites
#
# Chapters 4 (BatchNorm's scale invariance and $\epsilon$) and 5 (CxGrad, IGS,
# `InnerTrace`). Maths: the chain rule, directional derivatives.

# %% tags=["remove-cell"]
# Colab: install the cxgrad release this book was written for, and say where the notebook
# runs. A checkout, not a plain pip install: chapters 6, 7 and 10-12 also read the results of
# record in its results/ folder. (Omniglot and Fashion-MNIST are downloaded by the loaders.)
# Written by scripts/make_colab_notebooks.py from _config.yml and pyproject.toml.
import importlib.util
import os
import subprocess
import sys

CXGRAD_REPOSITORY = "https://github.com/cxgrad/cxgrad"
CXGRAD_REF = "v0.3.0"
CXGRAD_DIR = "/content/cxgrad"
# True: keep trained models (CXGRAD_RUNS) on Google Drive, so a new Colab VM need not retrain.
RUNS_ON_DRIVE = False

if "google.colab" in sys.modules:
    if importlib.util.find_spec("cxgrad") is None:
        if not os.path.isdir(CXGRAD_DIR):
            print(f"Installing cxgrad {CXGRAD_REF} from {CXGRAD_REPOSITORY} in {CXGRAD_DIR}")
            clone = ["git", "clone", "-q", "--depth", "1", "--branch", CXGRAD_REF]
            subprocess.run([*clone, CXGRAD_REPOSITORY, CXGRAD_DIR], check=True)
            pip = [sys.executable, "-m", "pip", "install", "-q", "-e", CXGRAD_DIR]
            subprocess.run(pip, check=True)
        sys.path.insert(0, CXGRAD_DIR)  # an editable install is seen by new kernels only
    if RUNS_ON_DRIVE:
        from google.colab import drive

        drive.mount("/content/drive")
        os.environ["CXGRAD_RUNS"] = "/content/drive/MyDrive/cxgrad/runs"
        print(f"Trained models are kept in {os.environ['CXGRAD_RUNS']}")

import torch

if torch.cuda.is_available():
    print(f"Running on a GPU: {torch.cuda.get_device_name(0)}")
else:
    print(
        "Running on the CPU. In Colab, choose Runtime > Change runtime type > GPU "
        "(T4 is enough) and run the notebook again to train faster."
    )

# %% tags=["parameters", "remove-input"]
# Parameters (papermill). DATA_ROOT=None means $CXGRAD_DATA_ROOT, else ~/.cache/cxgrad/data.
DATA_ROOT = None
# which record models are measured: each configuration's SEED-th kept model (from 0), or its
# last where it has fewer
SEED = 0
CONTEXT_TASKS = 60  # test tasks on which gamma and nu are read
GRADIENT_TASKS = 10  # tasks on which the context's gradient is taken apart
# the eps argument at the paper's geometry: (backbone, shots, meta-training steps before)
EPS_CHECKS = [
    ["conv4-48", 1, 0],
    ["conv4-48", 1, 3],
    ["conv4-48", 5, 0],
    ["conv4-48", 5, 3],
    ["resnet12", 1, 0],
    ["resnet12", 1, 3],
    ["resnet12", 5, 0],
]
EPS_TASKS = 2  # synthetic test tasks per eps check
RESULTS = None  # the results of record; None: the repository's results/omniglot-5w1s
FINDINGS = "auto"  # assert in the book build, report here, skip in CI (cxgrad.book)

# %% [markdown]
# The model measured below is the trained CxGrad of record: the course's standard Omniglot
# 5-way 1-shot configuration (28x28, Conv4 with 32 filters, the paper's $\alpha$, $\beta$
# and $\eta$, five second-order inner steps, meta-batch 4) trained for 500 iterations.
# `SEED` picks which of its kept models is measured (`cxgrad.records.models`).

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from cxgrad.analysis.context import context_dependence, context_gradient
from cxgrad.analysis.eps import eps_argument
from cxgrad.book import Findings
from cxgrad.book.verdicts import every_kept_model, polarity_separation, record_model
from cxgrad.meta.config import MetaConfig
from cxgrad.records import RESULTS_DIR
from cxgrad.runs import build_learner, load_config_dataset, samplers

results = Path(RESULTS) if RESULTS else RESULTS_DIR
cxgrad = record_model("cxgrad", SEED, results)
cx_learner = build_learner(cxgrad.config)
omniglot = load_config_dataset(cxgrad.config, DATA_ROOT, progress=False)
tasks = samplers(cxgrad.config, omniglot)
print(f"measured: the CxGrad of record trained with seed {cxgrad.seed}")

# %% [markdown]
# ## Why the context's gradient vanishes
#
# CxGrad updates the context by gradient descent on the support loss,
# $\nu \leftarrow \nu - \beta \nabla_\nu \mathcal{L}$ (Eq. 7). The loss depends on $\nu$ only
# through the scaling factors, and on each factor only through IGS, which sets the conv
# weight to $\gamma_\ell \, w_\ell / \|w_\ell\|$ (Eq. 6). By the chain rule
#
# $$
# \nabla_\nu \mathcal{L} = \sum_{\ell} \frac{\partial \mathcal{L}}{\partial \gamma_\ell}
#     \nabla_\nu \gamma_\ell,
# \qquad
# \frac{\partial \mathcal{L}}{\partial \gamma_\ell}
#   = \Big\langle \nabla_{w} \mathcal{L}\big|_{\gamma_\ell \hat w_\ell},\ \hat w_\ell \Big\rangle,
# \quad \hat w_\ell = w_\ell / \|w_\ell\|.
# $$
#
# Every conv of Conv4 feeds a BatchNorm, and chapter 4 showed (Eq. 4) that BatchNorm
# makes the output independent of the weight's scale: with pre-activations $z = w * x$ of
# batch mean $\mu$ and variance $\sigma^2$,
#
# $$
# \mathrm{BN}(a z) = \frac{a z - a\mu}{\sqrt{a^2\sigma^2 + \epsilon}}
#   = \frac{z - \mu}{\sqrt{\sigma^2 + \epsilon / a^2}} .
# $$
#
# Without $\epsilon$ the loss is constant along the ray $a\,\hat w_\ell$, so the directional
# derivative $\partial \mathcal{L} / \partial \gamma_\ell$ is exactly zero (Euler's theorem
# for a function homogeneous of degree 0: $\langle \nabla_w \mathcal{L}, w \rangle = 0$).
# With $\epsilon$ it is of the order of $\epsilon / (\gamma_\ell^2 \sigma^2)$. Whatever
# $g_\phi$ learns, the signal that moves $\nu$ exists **only through $\epsilon$**, and
# after its update $\nu = -\beta \nabla_\nu \mathcal{L}$ stays tiny.
#
# `context_gradient` checks this on the trained CxGrad of record, in float64, on test
# tasks: it takes $\partial \mathcal{L}/\partial\gamma$ and $\nabla_\nu \mathcal{L}$ at the
# first context update, once with BatchNorm's $\epsilon = 10^{-5}$ and once with $10^{-30}$.

# %%
parts = []
for index in range(GRADIENT_TASKS):
    task = tasks["test"].batch(index, 1)
    parts.append(context_gradient(cx_learner, cxgrad.params, task.x_support[0], task.y_support[0]))
grad_gamma = np.abs([p["grad_gamma"] for p in parts])
grad_gamma_exact = np.abs([p["grad_gamma_no_eps"] for p in parts])
eps_share = np.array([p["eps_share"] for p in parts])
grad_nu = np.array([p["grad_nu_norm"] for p in parts])
print(f"|dL/dgamma| per layer, eps = 1e-5 (max over tasks):  {grad_gamma.max(0).round(8)}")
print(
    f"|dL/dgamma| per layer, eps = 1e-30 (max over tasks): below 1e-10: "
    f"{bool(grad_gamma_exact.max() < 1e-10)}"
)
print(f"share of grad_nu that exists only through eps: min over tasks {eps_share.min():.6f}")
print(
    f"||grad_nu L|| at the first context update: median {np.median(grad_nu):.2e} "
    f"over {GRADIENT_TASKS} test tasks"
)

# %% [markdown]
# The numbers agree with the derivation: without $\epsilon$ the gradient is zero to
# float64 rounding, and with it essentially all of $\nabla_\nu\mathcal{L}$ is $\epsilon$'s.
#
# ## The same argument where the paper ran
#
# Nothing in the derivation depends on the image size, the width or the depth. But the
# paper ran at 84x84 with a Conv4 of 48 filters and with ResNet-12, where the batch
# variances that $\epsilon$ is compared with are others, and ResNet-12 adds residual sums
# and unscaled skip convs. In ResNet-12 each of a block's three scaled convs feeds its own
# BatchNorm *before* the residual sum, so the derivation predicts that the argument holds
# there too. `eps_argument` measures it, in float64, on synthetic glyphs at 84x84 with
# three channels (the images set the size of the gradient, not whether it vanishes), for
# 1-shot and 5-shot tasks, at the initialization and after a few meta-training steps. It
# reports, per factor, the gradient with $\epsilon = 10^{-5}$ and with $10^{-30}$, and the
# share of $\nabla_\nu\mathcal{L}$ that exists only through $\epsilon$. A last row adds
# a factor that no BatchNorm hides (a gain on the head, one of the variants of chapter 12),
# to show what a failure of the argument looks like.

# %%
# the paper's inner loop, with one inner step in the few meta-training steps (five cost
# minutes per ResNet-12 step on a CPU); what is measured is the first context update
eps_train = MetaConfig(method="cxgrad", inner_steps_train=1)
eps_checks = []
for backbone, shots, steps in EPS_CHECKS:
    check = eps_argument(backbone, shots, steps, EPS_TASKS, train_meta=eps_train)
    eps_checks.append(check)
    print(check.summary())
head_check = eps_argument(
    "conv4-48", 1, 0, EPS_TASKS, meta=MetaConfig(method="cxgrad", context_gain="head")
)
print("with a head gain:", head_check.summary())
print(f"  the factors where it fails: {', '.join(head_check.failures())}")

# %% [markdown]
# At 84x84, in both backbones, with one or five shots, before and after meta-training,
# the support loss's gradient with respect to the context is all $\epsilon$'s: without
# $\epsilon$ what is left is float64 rounding. ResNet-12's residual path does not break
# the argument, because every factor the context makes scales a conv that feeds its own
# BatchNorm. The argument fails exactly where it should: at a factor that no BatchNorm
# follows, the head gain, most of whose gradient exists without $\epsilon$.
# (`python benchmarks/eps_argument.py` runs the whole grid, with ResNet-12 5-shot after
# meta-training and $\epsilon$ from $10^{-3}$ to $10^{-1}$; its results are in
# `benchmarks/results/eps-argument.txt`.)

# %% [markdown]
# ## How much does gamma depend on the task?
#
# `context_dependence` adapts the trained CxGrad to test tasks as evaluation does and
# records, at every inner step, the context $\nu$ and the factors $\gamma = g_\phi(\nu)$.
# Per layer it reports the spread of $\gamma$ across tasks relative to its mean, and how
# far $\gamma$ is from $g_\phi(0)$, the value that every task would get if $\nu$ never
# moved.

# %%
dependence = context_dependence(cx_learner, cxgrad.params, tasks["test"], CONTEXT_TASKS)
spread = dependence.relative_spread()
distance = dependence.distance_from_zero_context()
for layer, name in enumerate(dependence.layers):
    print(
        f"{name}: gamma(0) = {dependence.gamma_at_zero[layer]:.3f}, "
        f"spread across tasks {100 * spread[layer]:.4f}% of the mean, "
        f"distance from gamma(0) {100 * distance[layer]:.4f}%"
    )
print(f"||nu|| over tasks and steps: median {np.median(dependence.context_norms):.2e}")

# %% [markdown]
# One model is one training run; how much $\gamma$ moves is something the outer loop
# learns, and it may differ from seed to seed. The same measurement on every kept CxGrad
# model of record:


# %%
every_seed = every_kept_model(cxgrad, dependence, tasks["test"], CONTEXT_TASKS, results)
for kept, report in every_seed.items():
    print(
        f"seed {kept}: spread across tasks up to {100 * report.relative_spread().max():.3f}% "
        f"of the mean, distance from g_phi(0) up to "
        f"{100 * report.distance_from_zero_context().max():.3f}%, "
        f"median ||nu|| {np.median(report.context_norms):.1e}"
    )
seed_spreads = np.array([r.relative_spread().max() for r in every_seed.values()])
seed_distances = np.array([r.distance_from_zero_context().max() for r in every_seed.values()])

# %% [markdown]
# The context $\nu$ itself stays tiny, as the derivation says, but $g_\phi$ can turn a
# tiny $\nu$ into a larger change of $\gamma$, and how much it does is learned: with some
# seeds the trained $g_\phi$ moves $\gamma$ from task to task by a percent or two, with
# others by a hundredth of a percent. Either way the factors every task gets are nearly
# the same: a per-layer constant that the outer loop learns through $g_\phi$, next to which
# the task-to-task differences are small ({doc}`chapter 11 <11_controls_and_verdict>`
# measures how much larger than MAML's the steps themselves are).

# %% mystnb={"figure": {"caption": "The factors gamma of the CxGrad of record on each test task, relative to g_phi(0), the value every task would get with a context that never moves: one dot per task. Read the scale of the y axis."}, "image": {"alt": "Dot plot per conv layer of the relative deviations of gamma across test tasks, tightly clustered around zero."}}
fig, ax = plt.subplots(figsize=(7, 3.2))
task_gammas = dependence.task_gammas()
for layer in range(len(dependence.layers)):
    values = task_gammas[:, layer] / dependence.gamma_at_zero[layer] - 1
    ax.scatter(np.full(len(values), layer) + np.linspace(-0.2, 0.2, len(values)), values, s=8)
ax.set_xticks(range(len(dependence.layers)), [n.split(".")[0] for n in dependence.layers])
ax.set_ylabel(r"$\gamma / g_\phi(0) - 1$")
ax.set_title(f"CxGrad of record: each dot is one of {CONTEXT_TASKS} test tasks")
ax.axhline(0, color="gray", lw=0.8)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## A task distribution with something to detect
#
# On plain Omniglot all tasks look alike to a network: black strokes on white. Perhaps the
# context is inert only because there is nothing to condition on. `polarity="mixed"`
# (`cxgrad train --polarity mixed`) inverts the images of a seeded half of all tasks, in
# training, validation and test alike. A task embedding worth its name should tell the two
# kinds apart, and a good learning rate may well differ between them. The record
# `cxgrad-mixed` is CxGrad meta-trained on this distribution; we read its $\gamma$ on
# inverted and normal test tasks.


# %%
mixed = polarity_separation(record_model("cxgrad-mixed", SEED, results), omniglot, CONTEXT_TASKS)
print(
    f"cxgrad-mixed (seed {mixed.seed}): {mixed.inverted.sum()} of {CONTEXT_TASKS} "
    "test tasks inverted"
)
for layer, name in enumerate(mixed.report.layers):
    print(
        f"{name}: inverted vs normal tasks differ by {100 * mixed.gap[layer]:.4f}% of "
        f"gamma (Cohen's d {mixed.d[layer]:+.1f}); spread across tasks "
        f"{100 * mixed.report.relative_spread()[layer]:.4f}%"
    )

# %% [markdown]
# Cohen's $d$ says whether $\gamma$ tells the two kinds of task apart at all, in units of
# its own tiny spread; the first number says what matters for the inner loop: how far
# apart the factors of inverted and normal tasks are, relative to $\gamma$ itself. The
# derivation above says why that distance stays small: whatever the tasks, the gradient
# that could move $\nu$ is $\epsilon$'s.

# %% [markdown]
# ## What we found
#
# The cell below checks each of the chapter's conclusions against the numbers computed
# above and prints it with those numbers; the book's build fails if one no longer holds.
# Taken together: the context can learn only through BatchNorm's $\epsilon$, everywhere the
# paper ran, so the factors every task gets are one learned value per layer, not a task
# embedding. Whether that per-layer value, rather than the context, is what makes CxGrad
# better than MAML is the question of {doc}`chapter 11 <11_controls_and_verdict>`.

# %% tags=["check-output", "hide-input"]
found = Findings(FINDINGS)
found.claim(
    "Without BatchNorm's epsilon, dL/dgamma is zero to float64 rounding.",
    grad_gamma_exact.max() < 1e-10,
    numbers={"max |dL/dgamma| without eps": grad_gamma_exact.max()},
)
found.claim(
    "All of the gradient that updates the context exists only through epsilon.",
    eps_share.min() > 0.999,
    numbers={"min share through eps": eps_share.min()},
)
found.claim(
    "The same holds at the paper's geometry: Conv4-48 and ResNet-12 at 84x84, one and five "
    "shots, at the initialization and after meta-training steps.",
    all(check.holds() for check in eps_checks)
    and {c.geometry for c in eps_checks} == {"conv4-48", "resnet12"}
    and {c.shots for c in eps_checks} == {1, 5}
    and {c.iterations > 0 for c in eps_checks} == {False, True},
    numbers={
        f"{c.geometry} {c.shots}-shot {c.iterations} steps: min share": c.eps_share.min()
        for c in eps_checks
    },
)
found.claim(
    "The argument fails only for a factor that no BatchNorm follows, a gain on the head.",
    head_check.failures() == ["head gain"],
    numbers={"factors where it fails": len(head_check.failures())},
)
found.claim(
    "Over the kept CxGrad models of record, gamma's spread across test tasks ranges from "
    "about 0.01% to 2% of its value, under 5% in every one, and gamma stays within 5% of "
    "g_phi(0).",
    round(100 * seed_spreads.min(), 2) == 0.01
    and round(100 * seed_spreads.max()) == 2
    and seed_spreads.max() < 0.05
    and seed_distances.max() < 0.05,
    numbers={"largest spread": seed_spreads.max(), "largest distance": seed_distances.max()},
)
found.claim(
    "With half of the tasks inverted, the two kinds of task get factors less than 0.1% apart.",
    mixed.gap.max() < 1e-3,
    numbers={"max relative gap": mixed.gap.max()},
)
found.report()

# %% [markdown]
# ## Summary
#
# - IGS rescales each conv weight before a BatchNorm, and BatchNorm undoes a weight's scale:
#   without $\epsilon$ the support loss does not depend on $\gamma$ at all, so the gradient
#   that moves the context exists only through $\epsilon$.
# - The argument does not depend on the dataset or the image size: it holds wherever every
#   scaled conv feeds its own BatchNorm, as in the paper's Conv4 and ResNet-12, and fails
#   where a factor reaches the loss without one.
# - The trained $g_\phi$ can amplify the tiny context, by an amount that depends on the
#   training seed, but every task still gets nearly the same factors: in effect a per-layer
#   step size learned by the outer loop, not a task embedding.
# - Even on a distribution with something to detect (half of the tasks inverted) the
#   factors of the two kinds of task hardly differ.

# %% [markdown]
# ## Exercises
#
# 1. Repeat the check at the paper's geometry with a larger BatchNorm $\epsilon$:
#    `eps_argument(dataclasses.replace(GEOMETRIES["resnet12"], bn_eps=eps), 1)` for
#    $\epsilon = 10^{-3}, 10^{-2}, 10^{-1}$ (`GEOMETRIES` is in `cxgrad.analysis.eps`). How
#    does $\|\nabla_\nu\mathcal{L}\|$ change, and why does it fall again at $10^{-1}$?
# 2. Plot the factors of every kept CxGrad model (`every_seed` above) the way the figure of
#    the first model is drawn. Which layers move most from task to task, and is it the same
#    layer in every seed?
# 3. Without running anything: if a backbone had no BatchNorm after its last conv, which
#    factor's gradient would survive without $\epsilon$, and what would the context then be
#    able to learn?
#
# ```{admonition} Solutions
# :class: dropdown
#
# 1. With $s = \epsilon / (\gamma^2 \sigma^2)$, differentiating
#    $\mathrm{BN}(\gamma z) = (z - \mu) / (\sigma\sqrt{1 + s})$ gives
#    $\partial \mathrm{BN} / \partial \gamma = \frac{z - \mu}{\sigma} \cdot \frac{1}{\gamma}
#    \cdot \frac{s}{(1 + s)^{3/2}}$. The last factor grows like $s$ while $\epsilon$ is far
#    below the batch variances (so the gradient grows with $\epsilon$: about $3\cdot10^{-2}$
#    at $10^{-3}$ against $3\cdot10^{-3}$ at the default, ResNet-12 1-shot,
#    `benchmarks/results/eps-argument.txt`), peaks at $s = 2$ and falls like $s^{-1/2}$
#    beyond, where BatchNorm no longer normalizes and its output shrinks towards
#    $(z-\mu)\gamma/\sqrt{\epsilon}$ ($4\cdot10^{-4}$ at $10^{-1}$). Either way the gradient
#    is entirely $\epsilon$'s: a context that only works through $\epsilon$ has its strength
#    set by a numerical-stability constant.
# 2. `for seed, report in every_seed.items(): ...` with `report.task_gammas()` divided by
#    `report.gamma_at_zero`, one panel per seed. The spread differs by orders of magnitude
#    between seeds (what $g_\phi$ learns to amplify), but in every seed it stays a few
#    percent at most.
# 3. The factor of the last conv: its output would reach the pooling and the head without
#    being normalized, so the loss would see its scale and $\partial\mathcal{L}/\partial
#    \gamma_4$ would not vanish. The context could then set that layer's output scale task
#    by task, as the head gain of chapter 12 does for the logits.
# ```
