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
# # 2. MAML from scratch
#
# Model-agnostic meta-learning (MAML) {cite}`finn2017maml` does not learn a classifier. It
# learns a *starting point* $\theta$: a set of network weights from which a few steps of
# plain gradient descent on a new task's support set give a good classifier for that task.
# Everything that CxGrad {cite}`lee2022cxgrad` changes happens inside those few steps, so
# this chapter writes MAML out in full, checks it number for number against the library,
# and then meta-trains it on Omniglot.
#
# In the notation of the paper (Section 3.1), a meta-batch holds $B$ tasks
# $\mathcal{T}_i$, each with a support set $S_i$ and a query set $Q_i$. The **inner loop**
# adapts $\theta$ to task $i$ with gradient steps on the support loss (Eq. 2 of the paper,
# shown for one step; MAML repeats it, 5 times in this course):
#
# $$\theta_i = \theta - \alpha \nabla_\theta \mathcal{L}_{\mathcal{T}_i}(\theta; S_i).$$
#
# The **outer loop** scores every adapted network on its query set and moves the starting
# point so that this score improves (Eq. 3 of the paper):
#
# $$\theta \leftarrow \theta - \eta \nabla_\theta \sum_{i=1}^{B}
# \mathcal{L}_{\mathcal{T}_i}(\theta_i; Q_i).$$
#
# The gradient in Eq. 3 is taken with respect to $\theta$, *through* the inner loop: the
# query loss depends on $\theta$ via $\theta_i$, which depends on $\theta$ via the support
# gradients. That is where the second derivatives of MAML come from.

# %% [markdown]
# ## Learning objectives
#
# - Write MAML's inner loop (Eq. 2) and outer loop (Eq. 3) in a few lines of `torch.func`
#   and check them number for number against the library in float64.
# - Derive the meta-gradient of an inner step and say what first-order MAML drops.
# - Measure how far the first- and second-order meta-gradients point apart, layer by layer.
# - Meta-train MAML on Omniglot and report its test accuracy with the per-task and the
#   binomial 95% intervals, and explain why the two differ.
#
# ## Prerequisites
#
# Chapter 1 (tasks, support and query sets, `EpisodeSampler`). Maths: gradients, the chain
# rule, the Hessian. PyTorch: autograd and `backward()`; `torch.func.grad` is introduced
# here.

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
ITERATIONS = 200  # outer iterations of meta-training (meta-batch of 4 tasks each)
FILTERS = 32  # Conv4 filters per layer
VAL_TASKS = 100  # validation tasks, 4 validations per run (the course's standard)
TEST_TASKS = 200  # test tasks for the final evaluation
TRAIN_FIRST_ORDER = False  # also train first-order MAML (doubles the training time)
LARGE_SIZE = False  # True: the larger sizes of the next cell (meant for a Colab GPU)

# %% [markdown]
# The defaults train for a couple of hundred iterations, enough to see MAML learn but
# far from convergence. With `LARGE_SIZE = True` the next cell trains the course's larger
# configuration, the one chapters 5 to 8 share: 3,000 iterations of a 64-filter Conv4,
# validated on 200 tasks, tested on 600 tasks as the paper's protocol does; it also adds
# first-order MAML. Expect hours per method on a CPU and minutes on a GPU (we have not
# timed it on Colab). It is still Omniglot, not the paper's miniImageNet.

# %%
if LARGE_SIZE:
    ITERATIONS, FILTERS, VAL_TASKS, TEST_TASKS = 3000, 64, 200, 600
    TRAIN_FIRST_ORDER = True

# %%
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch.func import grad

from cxgrad.book import trained_run
from cxgrad.data import EpisodeSampler, load_omniglot
from cxgrad.evaluation import evaluate_run
from cxgrad.runs import RunDir, build_learner, load_checkpoint, omniglot_config
from cxgrad.training import Trainer

omniglot = load_omniglot(DATA_ROOT, progress=False)
print(omniglot.summary())

# %% [markdown]
# The figure draws both loops for one meta-batch: each task $\mathcal{T}_i$ starts from the
# same $\theta$ and takes its own inner steps on its support set $S_i$; the outer loop
# scores each adapted $\theta_i$ on its query set $Q_i$ and updates $\theta$ with the
# gradient of the summed query losses, taken through the inner steps.

# %% tags=["remove-input"] mystnb={"figure": {"caption": "MAML's two loops for one meta-batch: each task adapts its own copy of theta on its support set (inner loop); the adapted copies' query losses update theta, through the inner steps (outer loop)."}, "image": {"alt": "Schematic of MAML: a shared initialization theta branches into one inner loop per task, whose query losses flow back into one outer update of theta."}}
from cxgrad.book import maml_loops_figure

maml_loops_figure()
plt.show()

# %% [markdown]
# ## MAML in a few lines
#
# The library's networks are *pure functions of a parameter dictionary*: `net.forward(params,
# x)` computes the logits of images `x` with the weights in `params`, and keeps no state.
# That makes MAML short to write. We take a deliberately tiny Conv4 (8 filters per layer)
# from the course's configuration, so that everything below runs in seconds.
#
# MAML as the paper's code runs it adapts the four convolution weights and the linear head
# in the inner loop; BatchNorm's scale and shift are learned in the outer loop only. The
# inner loop is Eq. 2 repeated `STEPS` times; `torch.func.grad` returns the support
# gradient as a dictionary, and because it is computed with ordinary autograd operations,
# the outer `backward()` can differentiate through it.

# %%
tiny_config = omniglot_config("maml", filters=8, iterations=3)
net = tiny_config.model_config()  # Conv4: a parameter dict in, logits out
ALPHA = 0.01  # inner learning rate alpha (paper, appendix A)
STEPS = 5  # inner steps
ADAPTED = net.conv_names() + ["head.weight", "head.bias"]  # BatchNorm: outer loop only


def inner_loop(theta, x_support, y_support, first_order=False):
    """Eq. 2, STEPS times: theta_i = theta - alpha * grad of the support loss."""
    fast = {k: theta[k] for k in ADAPTED}
    rest = {k: v for k, v in theta.items() if k not in ADAPTED}

    def support_loss(fast):
        return F.cross_entropy(net.forward({**rest, **fast}, x_support), y_support)

    for _ in range(STEPS):
        g = grad(support_loss)(fast)
        if first_order:  # first-order MAML: treat the inner gradient as a constant
            g = {k: v.detach() for k, v in g.items()}
        fast = {k: fast[k] - ALPHA * g[k] for k in fast}
    return {**rest, **fast}


def query_loss(theta, x_support, y_support, x_query, y_query, first_order=False):
    """L(theta_i; Q_i): adapt on the support set, then score the query set."""
    theta_i = inner_loop(theta, x_support, y_support, first_order)
    return F.cross_entropy(net.forward(theta_i, x_query), y_query)


def meta_step(theta, optimizer, batch):
    """Eq. 3 on one meta-batch: backpropagate the query losses through the inner loops."""
    optimizer.zero_grad()
    tasks = zip(batch.x_support, batch.y_support, batch.x_query, batch.y_query, strict=True)
    loss = torch.stack([query_loss(theta, *task) for task in tasks]).mean()
    loss.backward()
    optimizer.step()
    return loss.item()


# %% [markdown]
# That is all of MAML. Two small departures from the equations, both shared with the
# library and the authors' code: the outer loss is the *mean* over the $B$ tasks rather
# than the sum (a constant factor $1/B$ that Adam ignores anyway), and the outer optimizer
# is Adam with $\eta = 10^{-3}$ rather than plain gradient descent.
#
# ### The same numbers as the library
#
# `MetaLearner.task_loss` is the library's version of `query_loss`. If both implement Eq.
# 2 and the meta-gradient of Eq. 3 correctly, they must agree on the query loss *and* on
# the meta-gradient of every parameter, for the same parameters and the same task. We
# compare them in float64, where any disagreement beyond rounding would be a real
# difference in the computation.

# %% tags=["check-output"]
library = build_learner(tiny_config)  # MetaLearner for MAML with the same tiny Conv4
theta64 = {k: v.double().requires_grad_() for k, v in library.init_params(seed=0).items()}
train_sampler = EpisodeSampler(omniglot.split("train"), 5, 1, 15, seed=0)
task = train_sampler.batch(0, 1).to("cpu", torch.float64)
one_task = (task.x_support[0], task.y_support[0], task.x_query[0], task.y_query[0])

ours = query_loss(theta64, *one_task)
theirs, _ = library.task_loss(theta64, *one_task)
ours_grad = torch.autograd.grad(ours, list(theta64.values()))
theirs_grad = torch.autograd.grad(theirs, list(theta64.values()))
loss_gap = abs(ours.item() - theirs.item())
grad_gap = max((a - b).abs().max().item() for a, b in zip(ours_grad, theirs_grad, strict=True))
print(f"query loss after {STEPS} inner steps: {ours.item():.4f}")
print(f"max |loss difference|          < 1e-10: {loss_gap < 1e-10}")
print(f"max |meta-gradient difference| < 1e-10: {grad_gap < 1e-10}")

# %% [markdown]
# The outer loop agrees too. The library's `Trainer` runs Eq. 3 with Adam on meta-batch
# $t$ = training tasks $4t, \dots, 4t+3$. We start our `meta_step` from the same initial
# parameters, feed it the same meta-batches, and compare the parameters after three outer
# iterations (in float32 this time, the precision training uses).

# %% tags=["check-output"] check_rtol=0.001
with tempfile.TemporaryDirectory() as scratch:
    # On the CPU, like our theta: this compares arithmetic, not speed.
    run = Path(scratch) / "run"
    trainer = Trainer(tiny_config, run, dataset=omniglot, progress=False, device="cpu")
    theta = {k: v.clone().requires_grad_() for k, v in library.init_params(seed=0).items()}
    optimizer = torch.optim.Adam(theta.values(), lr=tiny_config.outer_lr)
    for t in range(3):
        batch = trainer.samplers["train"].batch(4 * t, 4)
        our_loss = meta_step(theta, optimizer, batch)
        their_loss, _ = trainer.step()
        print(f"iteration {t + 1}: our loss {our_loss:.4f}, library {their_loss:.4f}")
    gap = max((theta[k] - trainer.params[k]).abs().max().item() for k in theta)
print(f"max |parameter difference| after 3 iterations < 1e-6: {gap < 1e-6}")

# %% [markdown]
# From here on we use the library: it is this same computation, plus checkpoints,
# validation, exact resume, and a vectorized path for GPUs.
#
# ## First order versus second order
#
# Take one inner step, $\theta_i = \theta - \alpha g_S(\theta)$ with
# $g_S = \nabla_\theta \mathcal{L}(\theta; S_i)$. By the chain rule, the meta-gradient of
# one task is
#
# $$\nabla_\theta \mathcal{L}(\theta_i; Q_i) = \Big(I - \alpha \nabla^2_\theta
# \mathcal{L}(\theta; S_i)\Big)\, \nabla_{\theta_i} \mathcal{L}(\theta_i; Q_i),$$
#
# and with $S$ inner steps the bracket becomes a product of $S$ such factors, one per
# step, each with the Hessian of the support loss at that step's weights. The Hessian
# terms are the **second-order** part: they say how moving the starting point changes the
# inner loop's trajectory. Computing them means differentiating through the support
# gradients (a Hessian-vector product per step), which roughly doubles the cost of the
# backward pass and keeps every inner step's activations in memory.
#
# **First-order MAML** (FOMAML, suggested in {cite}`finn2017maml`) replaces each bracket
# by the identity: the meta-gradient is just the query gradient at the adapted weights,
# $\nabla_{\theta_i} \mathcal{L}(\theta_i; Q_i)$. In code, that is the single `detach()`
# in `inner_loop` above: a detached inner gradient is a constant, so no derivative flows
# through it. The library does the same when `first_order=True`. (BatchNorm's parameters,
# which are not adapted, also lose the part of their meta-gradient that flows through the
# inner gradients.)
#
# How different are the two meta-gradients? We compute both on one real Omniglot task with
# the course's standard Conv4 (`FILTERS` filters), at the initialization, in float64, and
# compare their directions (cosine similarity) and sizes, per layer.

# %%
config = omniglot_config("maml", iterations=ITERATIONS, filters=FILTERS, val_tasks=VAL_TASKS)
learner = build_learner(config)
first_order_learner = build_learner(config.replace(first_order=True))
GROUPS = {
    **{f"conv{i}": [f"conv{i}.weight"] for i in range(1, 5)},
    "BatchNorm": [f"bn{i}.{p}" for i in range(1, 5) for p in ("weight", "bias")],
    "head": ["head.weight", "head.bias"],
}


def meta_gradient(learner, params, task):
    """The meta-gradient of one task's query loss (training mode: inner loop as configured)."""
    params = {k: v.detach().double().requires_grad_() for k, v in params.items()}
    loss, _ = learner.task_loss(params, *task)
    return dict(zip(params, torch.autograd.grad(loss, list(params.values())), strict=True))


def compare_orders(params, task):
    """Cosine similarity and norm ratio (first / second order) per layer group and overall."""
    second = meta_gradient(learner, params, task)
    first = meta_gradient(first_order_learner, params, task)
    rows = {}
    for name, keys in {**GROUPS, "all": list(second)}.items():
        a = torch.cat([second[k].flatten() for k in keys])
        b = torch.cat([first[k].flatten() for k in keys])
        rows[name] = (F.cosine_similarity(a, b, dim=0).item(), (b.norm() / a.norm()).item())
    return rows


def print_orders(rows):
    print(f"{'layer':10s} {'cosine':>7s} {'|first|/|second|':>17s}")
    for name, (cosine, ratio) in rows.items():
        print(f"{name:10s} {cosine:7.2f} {ratio:17.2f}")


# %% [markdown]
# A cosine of 1 would mean that the first-order approximation points in exactly the same
# direction as the true meta-gradient.

# %% tags=["check-output"]
task = train_sampler.batch(7, 1).to("cpu", torch.float64)
omniglot_task = (task.x_support[0], task.y_support[0], task.x_query[0], task.y_query[0])
at_init = compare_orders(learner.init_params(seed=0), omniglot_task)
print_orders(at_init)

# %% [markdown]
# The two meta-gradients are clearly related (positive cosines) but not the same: the
# second-order terms change the direction of the update by a visible angle. Whether the
# cheaper, rougher direction trains as well is an empirical question for the end of this
# chapter. (The paper and its code use second order throughout, and so does
# CxGrad, whose context network learns only through second-order terms; see chapter 5.)
#
# ## Meta-training MAML on Omniglot
#
# `trained_run` trains a configuration once and caches the run directory under
# `$CXGRAD_RUNS`, keyed by the configuration, the device type (CPU or GPU) and the data
# folder; rerunning the chapter (or another chapter with the same configuration on the
# same machine) reuses it. The configuration is the course's standard
# 5-way 1-shot Omniglot setting: 28x28 images, meta-batch 4, 15 query images per class, 5
# inner steps with $\alpha = 0.01$, Adam with $\eta = 10^{-3}$, and validation on 100
# fixed tasks four times during the run.

# %%
print({k: v for k, v in config.to_dict().items() if k not in ("context_dim", "context_hidden")})
run_dir = trained_run("maml", config, data_root=DATA_ROOT, dataset=omniglot, progress=False)
metrics = RunDir(run_dir).read_metrics()
print("run directory:", run_dir.name, "with", sorted(p.name for p in run_dir.iterdir()))

# %% [markdown]
# Every iteration appends one record to `metrics.jsonl` (the meta-batch's query loss and
# accuracy after adaptation) and every validation one more. The first record is the loss
# of the very first meta-batch, at the initialization: a fixed number for a fixed seed.

# %% tags=["check-output"]
steps = [r for r in metrics if "loss" in r]
validations = [r for r in metrics if "val_accuracy" in r]
print(f"iteration 1: query loss {steps[0]['loss']:.4f}, accuracy {steps[0]['accuracy']:.4f}")
print("validations at iterations", [r["iteration"] for r in validations])

# %% [markdown]
# The training curve plots the query loss and accuracy *after* the inner loop, averaged
# over the 4 tasks of each meta-batch (noisy, so we also draw a moving average), and the
# accuracy on the fixed validation tasks. Chance is 20%.


# %% mystnb={"figure": {"caption": "MAML's meta-training: query loss (left) and query accuracy (right) after adaptation on each meta-batch, faint per iteration and bold as a moving average, with the validation accuracy on fixed tasks of unseen alphabets. Four tasks per iteration make the raw curves noisy; the validation points are what checkpoints are chosen by."}, "image": {"alt": "Two line charts over meta-training iterations: the loss falling and the accuracy rising, each a noisy raw curve with a smooth moving average, validation accuracy as markers."}}
def moving_average(values, window):
    window = max(1, min(window, len(values)))
    return np.convolve(values, np.ones(window) / window, mode="valid")


def plot_training(runs):
    """runs: {label: metrics records}; loss and accuracy per iteration, validation points."""
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 3.8))
    for (label, records), color in zip(runs.items(), ["C0", "C1"], strict=False):
        train_records = [r for r in records if "loss" in r]
        its = np.array([r["iteration"] for r in train_records])
        window = max(1, len(its) // 15)
        for ax, key in ((ax_loss, "loss"), (ax_acc, "accuracy")):
            values = np.array([r[key] for r in train_records])
            ax.plot(its, values, color=color, alpha=0.2, lw=0.8)
            ax.plot(its[window - 1 :], moving_average(values, window), color=color, label=label)
        val = [r for r in records if "val_accuracy" in r]
        ax_acc.plot(
            [r["iteration"] for r in val],
            [r["val_accuracy"] for r in val],
            "o--",
            color=color,
            label=f"{label}: validation",
        )
    ax_acc.axhline(0.2, color="gray", lw=0.8, ls=":", label="chance")
    ax_loss.set(xlabel="outer iteration", ylabel="query loss after adaptation", title="Loss")
    ax_acc.set(xlabel="outer iteration", ylabel="query accuracy", title="Accuracy")
    ax_loss.legend()
    ax_acc.legend(fontsize=8)
    fig.suptitle("MAML meta-training on Omniglot 5-way 1-shot (moving average in bold)")
    fig.tight_layout()
    plt.show()


plot_training({"MAML": metrics})

# %% [markdown]
# ## Testing: accuracy and two confidence intervals
#
# `evaluate_run` loads the checkpoint with the best validation accuracy, adapts it to each
# of `TEST_TASKS` fixed test tasks (5 first-order inner steps on the support set, the same
# step count as in training), and reports the mean query accuracy with **two** 95%
# intervals, because the literature uses both:
#
# * **per task**: $1.96\, s / \sqrt{T}$, where $s$ is the standard deviation of the $T$
#   per-task accuracies. Tasks are the independent units of the experiment, so this is
#   the honest interval for "accuracy on a new task".
# * **binomial**: $1.96 \sqrt{p(1-p)/n}$ with $n = T \cdot N \cdot Q$ query predictions
#   pooled (75 per task here). This is what the paper's code reports (with $n = 600
#   \times 75$). It treats all query predictions as independent coin flips, but the 75
#   predictions of one task share one support set and one adapted network, so they are
#   correlated: some tasks are easy, some hard. The binomial interval is therefore
#   narrower than the per-task one, and too optimistic.
#
# Keep this in mind when reading "$\pm$" in tables: a binomial interval can look several
# times tighter than a per-task interval computed from the very same predictions.

# %%
result = evaluate_run(run_dir, tasks=TEST_TASKS, data_root=DATA_ROOT, progress=False)
print(f"MAML test accuracy over {result.tasks} tasks: {100 * result.accuracy:.2f}%")
print(f"  95% interval, per task:              +- {100 * result.ci95_tasks:.2f}%")
binomial = f"binomial ({result.predictions} predictions):"
print(f"  95% interval, {binomial} +- {100 * result.ci95_binomial:.2f}%")

# %% [markdown]
# The spread of the per-task accuracies is what the per-task interval measures. Each task
# has 75 queries, so a task's accuracy is a multiple of 1/75:

# %% mystnb={"figure": {"caption": "How MAML's test accuracy varies from task to task: the bars count test tasks by their query accuracy, the dashed line is the mean. This spread between tasks, not the number of predictions, sets the width of the per-task interval."}, "image": {"alt": "Histogram of per-task query accuracies on the test tasks with a dashed vertical line at the mean."}}
print(f"per-task interval / binomial interval: {result.ci95_tasks / result.ci95_binomial:.1f}x")
fig, ax = plt.subplots(figsize=(6, 3.2))
per_task = result.ways * result.queries  # possible accuracies: k / per_task
edges = (np.arange(0, per_task + 3, 3) - 0.5) * 100 / per_task  # 3 possible values per bin
ax.hist(100 * np.array(result.task_accuracies), bins=edges, color="C0")
ax.axvline(100 * result.accuracy, color="k", ls="--", label="mean")
ax.set(xlabel="query accuracy of one test task (%)", ylabel="tasks", title="MAML, test tasks")
ax.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# ```{admonition} The paper's numbers are not comparable to ours
# :class: note
# Our run is Omniglot (28x28 handwritten characters): at the default size a couple of
# hundred iterations of a 32-filter Conv4 on a CPU, with `LARGE_SIZE` 3,000 iterations of
# a 64-filter one. The paper reports MAML on miniImageNet and tieredImageNet (84x84
# natural images, 48- or 64-filter Conv4, tens of thousands of GPU iterations, a 5-model
# ensemble). For reference only, the paper's Table 1 lists MAML at 48.70 +- 1.84% (5-way
# 1-shot miniImageNet) and 49.06 +- 0.50% (5-way 1-shot tieredImageNet).
# ```
#
# Does the trained starting point change the picture of first versus second order? We
# repeat the comparison of the two meta-gradients on the same task, now at the best
# checkpoint of the run.

# %%
best = RunDir(run_dir).read_best()[0]
trained = load_checkpoint(RunDir(run_dir).checkpoints / best["file"])["params"]
print(f"best checkpoint: iteration {best['iteration']}, validation accuracy", end=" ")
print(f"{best['val_accuracy']:.3f}")
print_orders(compare_orders(trained, omniglot_task))

# %% [markdown]
# ## First-order MAML, side by side
#
# Is the cheaper direction good enough in practice? Setting `TRAIN_FIRST_ORDER = True` in
# the parameters cell (off by default, as it doubles this page's training time; on with
# `LARGE_SIZE`) trains first-order MAML with exactly the same configuration except
# `first_order=True`. The next cell then adds it to the training curves and to the table
# of test accuracies and times per iteration. The times are measured on the machine that
# ran the notebook, which may have been busy: only their ratio is meaningful.

# %% mystnb={"figure": {"caption": "Second-order and first-order MAML meta-trained side by side (with TRAIN_FIRST_ORDER = True): query loss and accuracy after adaptation, raw and as a moving average, with the validation accuracy."}, "image": {"alt": "Two line charts over meta-training iterations, one curve per variant of MAML."}}
runs = {"MAML (second order)": (run_dir, result)}
if TRAIN_FIRST_ORDER:
    fo_config = config.replace(first_order=True)
    fo_dir = trained_run("fomaml", fo_config, data_root=DATA_ROOT, dataset=omniglot, progress=False)
    fo_result = evaluate_run(fo_dir, tasks=TEST_TASKS, data_root=DATA_ROOT, progress=False)
    runs["first-order MAML"] = (fo_dir, fo_result)
    plot_training({name: RunDir(d).read_metrics() for name, (d, _) in runs.items()})

print(f"{'method':20s} {'test acc':>9s} {'per-task CI':>12s} {'binomial CI':>12s} {'s/iter':>7s}")
for name, (d, res) in runs.items():
    seconds = np.median([r["seconds"] for r in RunDir(d).read_metrics() if "seconds" in r])
    print(
        f"{name:20s} {100 * res.accuracy:8.2f}% {100 * res.ci95_tasks:11.2f}% "
        f"{100 * res.ci95_binomial:11.2f}% {seconds:7.3f}"
    )

# %% [markdown]
# Read the comparison with the intervals in mind: two runs whose accuracies differ by less
# than their per-task intervals are not distinguishable with this many test tasks, and a
# single seed says nothing about the variation between training runs. At the paper's
# scale, Finn et al. {cite}`finn2017maml` found first-order MAML nearly as accurate as full
# MAML on miniImageNet; the price of second order is time and memory, which grow with the
# number of inner steps.
#
# ## Summary
#
# - MAML learns a starting point $\theta$: the inner loop takes a few gradient steps on a
#   task's support set, and the outer loop differentiates the query loss *through* those
#   steps.
# - Our few lines agree with the library's query loss and meta-gradient to float64
#   rounding, and with its `Trainer` after three outer iterations.
# - The second-order part of the meta-gradient is one factor $(I - \alpha H)$ per inner
#   step; first-order MAML replaces each by the identity, and its meta-gradient is related
#   to the true one but not the same.
# - Tasks are the independent units of a test: the per-task interval is the honest one,
#   and the binomial interval, which treats correlated query predictions as independent,
#   is narrower than it should be.
#
# ## Exercises
#
# 1. Compute the cosine similarity between the first- and second-order meta-gradients of
#    `omniglot_task` at the initialization with 1, 2 and 10 inner steps instead of 5
#    (`config.replace(inner_steps_train=s)`). How does it change, and why?
# 2. Evaluate the run as the paper does: a logit ensemble of the best checkpoints
#    (`evaluate_run(run_dir, tasks=TEST_TASKS, ensemble=3)`). Compare the accuracy and
#    both intervals with the single best checkpoint.
# 3. Set `STEPS = 0` in `inner_loop`. What does `meta_step` optimize then, and what would
#    the resulting network do on a new task whose labels are assigned in a random order?
#
# ```{admonition} Solutions
# :class: dropdown
#
# 1. Loop over `s`, build `build_learner(config.replace(inner_steps_train=s))` and its
#    `first_order=True` twin, and call `meta_gradient` for both (or adapt
#    `compare_orders`). The cosine is highest with a single step and lower with more
#    steps (not necessarily monotonically for one task): the true meta-gradient is the
#    query gradient multiplied by one factor $(I - \alpha H)$ per step, so the more
#    steps, the further the product can drift from the identity that first order
#    assumes.
# 2. The ensemble averages the logits of the 3 best checkpoints on every task. The
#    binomial interval changes only through $p$ (same $n$), the per-task interval through
#    the spread of the task accuracies. In a short run the kept checkpoints are snapshots
#    of one model that is still improving, so the ensemble may gain little over the
#    single best checkpoint, or even lose; the paper's 5-model ensemble is drawn from a
#    long, converged run.
# 3. With no inner step, $\theta_i = \theta$ and the outer loop trains one classifier on
#    all tasks' query sets. Labels are reassigned at random in every task, so the best it
#    can do is to predict every class equally: accuracy near chance (20%). MAML works
#    only because the inner loop binds labels to classes from the support set.
# ```
