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
# # 7. Cross-domain evaluation: from handwriting to clothing
#
# In chapter 6 the test tasks were new alphabets, but still handwritten characters: the
# features meta-learned on Omniglot's training alphabets (strokes, corners, loops) were
# the right features for the test tasks too. A harder test of *adaptation* is a task
# from a different *domain*, where little of what the meta-training data taught is
# directly useful. The paper does this with a model meta-trained on miniImageNet and
# tested on birds (CUB) and on CIFAR-FS (Table 2 of {cite}`lee2022cxgrad`), and argues
# that this is where changing the representation in the inner loop matters most.
#
# We do the CPU-sized version: meta-train on Omniglot (chapter 6's configurations), and test
# on 5-way 1-shot tasks from Fashion-MNIST {cite}`xiao2017fashion`, photographs of
# clothing in the same 28x28 grayscale format. Same input shape, very different images.
# Fashion-MNIST has only 10 classes, far too few to meta-train on (every 5-way task would
# reuse the same classes), so it serves here as a test domain only.

# %% [markdown]
# ## Learning objectives
#
# - Test the Omniglot-trained models of chapter 6 on Fashion-MNIST tasks and measure each
#   method's drop across domains.
# - Compare what meta-training adds out of domain with what each untrained network already
#   reaches.
# - Compute paired intervals of the cross-domain differences between methods.
# - Run the same evaluation from the command line, and read the paper's Table 2 as the
#   paper's.
#
# ## Prerequisites
#
# Chapter 6 (the four trained models, per-task and paired intervals); chapter 1
# (episodes). No new maths.

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
# ITERATIONS, FILTERS, VAL_TASKS and SEED must match chapter 6 to reuse its trained runs.
DATA_ROOT = None
ITERATIONS = 200  # meta-training iterations per method (as in chapter 6)
FILTERS = 32  # Conv4 filters per layer (as in chapter 6)
VAL_TASKS = 100  # validation tasks (as in chapter 6)
TEST_TASKS = 200  # seeded test tasks, in each domain
BASELINE_TASKS = 100  # Fashion-MNIST tasks for the untrained reference (at most TEST_TASKS)
SEED = 0
WITH_BOIL = True  # also test BOIL (cheap when chapter 6 has trained it)
LARGE_SIZE = False  # True: chapter 6's larger sizes (meant for a GPU)
FINDINGS = "auto"  # assert in the book build, report here, skip in CI (cxgrad.book)
RESULTS = None  # the results of record; None: the repository's results/omniglot-5w1s

# %% [markdown]
# With `LARGE_SIZE = True` the next cell uses chapter 6's larger sizes (3,000 iterations,
# 64 filters, 600 test tasks per domain); run chapter 6 with the same setting first, or
# this chapter trains the models itself (hours on a CPU; measure your GPU's time per
# iteration with `benchmarks/throughput.py`). At the default sizes this chapter needs
# chapter 6's models. Where chapter 6 has run with the same parameters (same machine, same
# `$CXGRAD_RUNS`) they come from its cache and this chapter only evaluates, which takes a
# minute or two on a 2-core CPU; on a fresh machine, a new Colab VM for instance, the next
# cells train them first, one to two minutes per method on a 2-core CPU. (In Colab,
# `RUNS_ON_DRIVE = True` in the first cell keeps trained models on Google Drive.)

# %%
if LARGE_SIZE:
    ITERATIONS, FILTERS, VAL_TASKS, TEST_TASKS, BASELINE_TASKS = 3000, 64, 200, 600, 600
    FINDINGS = "report"  # "What we found" was written for the default size

# %%
import math

import matplotlib.pyplot as plt
import numpy as np

from cxgrad.book import trained_run
from cxgrad.data import EpisodeSampler, load_omniglot
from cxgrad.data.fashion_mnist import load_fashion_mnist
from cxgrad.evaluation import evaluate, evaluate_run
from cxgrad.runs import RunDir, build_learner, load_checkpoint, omniglot_config

METHODS = ["maml", "boil", "cxgrad"] if WITH_BOIL else ["maml", "cxgrad"]
LABELS = {"maml": "MAML", "boil": "BOIL", "cxgrad": "CxGrad"}
COLORS = {"maml": "tab:blue", "boil": "tab:green", "cxgrad": "tab:red"}

omniglot = load_omniglot(DATA_ROOT, progress=False)
fashion = load_fashion_mnist(DATA_ROOT)
print(fashion.summary())
print("files found in", fashion.info["folder"])

# %% [markdown]
# `load_fashion_mnist` looks for the four official files under the data root and in
# `/usr/share/datasets/fashion-mnist/` (where Debian's `dataset-fashion-mnist` package puts
# them); when it finds none, torchvision downloads them. Its `test` split holds the 10,000
# images of the official test file; `train` and `val` hold the same ten classes (they are
# not class-disjoint from `test`, another reason not to meta-train on them).
#
# ## What changes between the domains
#
# Both datasets are 28x28 grayscale, so a network meta-trained on one accepts the other
# without any change. The pixels tell a different story. Omniglot characters are thin dark
# strokes on a white background; Fashion-MNIST items are bright, filled shapes with
# texture on a black background. Even the average brightness is on the other side of
# the scale:

# %% tags=["check-output"]
for name, data in (("Omniglot test", omniglot), ("Fashion-MNIST test", fashion)):
    images = data.split("test").images.float() / 255
    ink = (images < 0.5).float().mean()  # fraction of dark pixels
    print(f"{name:19s} mean pixel {images.mean():.3f}, dark pixels {100 * ink:.1f}%")

# %% [markdown]
# Test tasks are drawn exactly as for Omniglot: `EpisodeSampler` over the `test` split,
# 5 ways, 1 shot, 15 queries per class, seeded so that task $t$ is the same task for every
# method and every reader. With only ten classes, many tasks share classes, but each
# draws other images and assigns the labels in another order.

# %% tags=["check-output"]
fashion_tasks = EpisodeSampler(fashion.split("test"), 5, 1, 15, seed=0, split_name="test")
omniglot_tasks = EpisodeSampler(omniglot.split("test"), 5, 1, 15, seed=0, split_name="test")


def class_names(sampler, index):
    """Class names of task ``index``, in label order (label 0 first)."""
    chosen, _ = sampler.task_picks(index)
    return [sampler.classes.class_name(int(c)).split("/", 1)[1] for c in chosen]


for t in range(3):
    print(f"Fashion-MNIST test task {t}: labels 0-4 = {class_names(fashion_tasks, t)}")


# %% mystnb={"figure": {"caption": "A 5-way 1-shot Fashion-MNIST test task as the models see it: one support photo per class (left) and some of its queries. Nothing like it was in meta-training."}, "image": {"alt": "Five rows of small grey clothing images, each a support image followed by query images of the same class."}}
def show_task(sampler, index, title, queries=4):
    """One row per label: the support image, then a few of that class's queries."""
    batch = sampler.batch(index, 1)
    names = class_names(sampler, index)
    fig, axes = plt.subplots(5, 1 + queries, figsize=(1.25 * (1 + queries), 6.5))
    for label in range(5):
        images = list(batch.x_support[0][batch.y_support[0] == label])
        images += list(batch.x_query[0][batch.y_query[0] == label][:queries])
        for col, image in enumerate(images):
            ax = axes[label, col]
            ax.imshow(image[0], cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[label, 0].set_ylabel(names[label][:14], fontsize=8)
    axes[0, 0].set_title("support")
    axes[0, 1].set_title("queries", loc="left")
    fig.suptitle(title)
    fig.tight_layout()
    plt.show()


show_task(fashion_tasks, 0, "Fashion-MNIST test task 0 (5-way 1-shot)")

# %% [markdown]
# One photo per class is all the model gets to learn from. Another task, with other
# classes and other photos:

# %% mystnb={"figure": {"caption": "Another Fashion-MNIST test task, with other classes and other photos."}, "image": {"alt": "Five more rows of small grey clothing images, support image first in each row."}}
show_task(fashion_tasks, 1, "Fashion-MNIST test task 1")

# %% [markdown]
# ## The meta-trained models
#
# The models are chapter 6's configurations: `trained_run` returns the cached run
# directory when chapter 6 has trained the same configuration, and otherwise trains it
# here, so the chapter also runs on its own. From each run we take the checkpoint with the
# best validation accuracy on *Omniglot* validation alphabets: the target domain must play
# no part in choosing the model, otherwise the test would leak into training. Loading a
# checkpoint by hand takes four library calls, listed here because chapter 8 uses them too.

# %%
models, runs = {}, {}
for method in METHODS:
    config = omniglot_config(
        method, iterations=ITERATIONS, filters=FILTERS, seed=SEED, val_tasks=VAL_TASKS
    )
    run = RunDir(trained_run(method, config, dataset=omniglot, progress=False))
    runs[method] = run.path
    config = run.read_config()  # the configuration the run was trained with
    best = run.read_best()[0]
    params = load_checkpoint(run.checkpoints / best["file"], config)["params"]
    models[method] = (build_learner(config), params)
    print(
        f"{LABELS[method]:7s} checkpoint {best['file']} "
        f"(Omniglot validation accuracy {100 * best['val_accuracy']:.1f}%)"
    )

# %% [markdown]
# ## Same-domain and cross-domain accuracy
#
# Each model now adapts, exactly as at meta-test time in chapter 6 (five first-order inner
# steps on the support set), to `TEST_TASKS` Omniglot test tasks and to `TEST_TASKS`
# Fashion-MNIST test tasks, and is scored on the queries. `cxgrad.evaluation.accuracy.evaluate`
# returns the mean accuracy with both 95% intervals of chapter 6: the per-task one
# ($\pm 1.96\, s_a/\sqrt{T}$ over task accuracies) and the binomial one
# ($\pm 1.96\sqrt{p(1-p)/n}$ over all $n$ query predictions, narrower because it treats
# the 75 queries of a task as independent).

# %%
same, cross = {}, {}
for method, (learner, params) in models.items():
    same[method] = evaluate(learner, [params], omniglot_tasks, TEST_TASKS, progress=False)
    cross[method] = evaluate(learner, [params], fashion_tasks, TEST_TASKS, progress=False)

print(f"{'method':8s} {'Omniglot (same domain)':>30s} {'Fashion-MNIST (cross)':>30s} {'drop':>6s}")
for method in METHODS:
    s, c = same[method], cross[method]
    cells = [
        f"{100 * r.accuracy:6.2f} +-{100 * r.ci95_tasks:5.2f} (+-{100 * r.ci95_binomial:4.2f})"
        for r in (s, c)
    ]
    print(
        f"{LABELS[method]:8s} {cells[0]:>30s} {cells[1]:>30s} "
        f"{100 * (s.accuracy - c.accuracy):6.2f}"
    )
print(
    f"accuracy % +- per-task 95% (+- binomial 95%); drop in points; {TEST_TASKS} tasks per domain"
)

# %% [markdown]
# The figure puts the two domains side by side for each method (thin error bars: per-task
# interval; thick: binomial interval; dotted line: chance).

# %% mystnb={"figure": {"caption": "Each method's test accuracy in its own domain (solid) and on Fashion-MNIST (hatched), with the interval over tasks (thin) and the binomial interval (thick), chance dotted. Compare the drops between the domains, not only the heights."}, "image": {"alt": "Grouped bar chart: for each method a solid bar for Omniglot and a hatched bar for Fashion-MNIST accuracy."}}
fig, ax = plt.subplots(figsize=(7, 4))
width = 0.38
for i, method in enumerate(METHODS):
    for j, (domain, results) in enumerate((("Omniglot", same), ("Fashion-MNIST", cross))):
        r = results[method]
        x = i + (j - 0.5) * width
        ax.bar(
            x,
            100 * r.accuracy,
            width,
            color=COLORS[method],
            alpha=0.9 if j == 0 else 0.45,
            hatch=None if j == 0 else "//",
            edgecolor="black",
            label=domain if i == 0 else None,
        )
        ax.errorbar(x, 100 * r.accuracy, 100 * r.ci95_tasks, color="black", capsize=6, lw=1)
        ax.errorbar(x, 100 * r.accuracy, 100 * r.ci95_binomial, color="black", lw=4)
ax.axhline(20, color="gray", ls=":", lw=1)
ax.set_xticks(range(len(METHODS)), [LABELS[m] for m in METHODS])
ax.set_ylabel("test accuracy (%)")
ax.set_ylim(0, 100)
ax.set_title("Meta-trained on Omniglot, tested in and out of domain (5-way 1-shot, ours)")
ax.legend(title="test tasks from")
fig.tight_layout()
plt.show()

# %% [markdown]
# A drop out of domain is expected: the features meta-learned for strokes are not the
# features that separate a sandal from a sneaker. The question of this chapter is whether
# the *methods differ* out of domain. Two different questions hide in that one. Which
# method is most accurate on the new domain? And which one loses the least? They can have
# different answers, because a method that is better in domain also has more to lose. As
# in chapter 6 the test tasks are shared, so paired comparisons are the sharpest:

# %%
cx = np.array(cross["cxgrad"].task_accuracies)
for method in [m for m in METHODS if m != "cxgrad"]:
    d = cx - np.array(cross[method].task_accuracies)
    half = 1.96 * d.std(ddof=1) / math.sqrt(len(d))
    print(
        f"Fashion-MNIST accuracy, CxGrad - {LABELS[method]}: {100 * d.mean():+.2f} "
        f"+- {100 * half:.2f} points (paired, 95%)"
    )
    s_cx = np.array(same["cxgrad"].task_accuracies)
    s_other = np.array(same[method].task_accuracies)
    dd = (s_cx - cx) - (s_other - np.array(cross[method].task_accuracies))
    half = 1.96 * dd.std(ddof=1) / math.sqrt(len(dd))
    print(
        f"  drop, CxGrad's minus {LABELS[method]}'s: {100 * dd.mean():+.2f} "
        f"+- {100 * half:.2f} points (positive: CxGrad loses more)"
    )

# %% [markdown]
# ### Did meta-training on Omniglot help at all?
#
# A cross-domain number means little without a reference. The simplest one: the same
# network *without* meta-training (its seed-0 initialization), adapted with the same five
# steps on the same Fashion-MNIST tasks. If a meta-trained model is not better than this,
# what it learned on Omniglot did not transfer. The first lines are a cheap deterministic
# check on 5 tasks; the comparison after them uses the first `BASELINE_TASKS` tasks, paired
# with the meta-trained model's accuracy on the same tasks.

# %% tags=["check-output"] check_rtol=0.02
for method, (learner, _) in models.items():
    fresh = learner.init_params(SEED)
    r = evaluate(learner, [fresh], fashion_tasks, tasks=5, progress=False)
    print(f"{LABELS[method]:7s} untrained, 5 Fashion-MNIST tasks: {100 * r.accuracy:.2f}%")

# %%
untrained, gains = {}, {}
for method, (learner, _) in models.items():
    fresh = evaluate(
        learner, [learner.init_params(SEED)], fashion_tasks, BASELINE_TASKS, progress=False
    )
    trained = np.array(cross[method].task_accuracies[:BASELINE_TASKS])
    gain = trained - np.array(fresh.task_accuracies)
    half = 1.96 * gain.std(ddof=1) / math.sqrt(len(gain))
    untrained[method], gains[method] = fresh, (gain.mean(), half)
    print(
        f"{LABELS[method]:7s} untrained {100 * fresh.accuracy:.2f}%, meta-trained on Omniglot "
        f"{100 * trained.mean():.2f}%: {100 * gain.mean():+.2f} +- {100 * half:.2f} points"
    )
print(f"(Fashion-MNIST, first {BASELINE_TASKS} test tasks, paired 95% intervals)")

# %% [markdown]
# Read the gains together with the untrained lines above and in chapter 6. Where CxGrad's
# untrained network adapts better than the others' (its gradient scaling makes the body's
# inner steps large from the start), part of CxGrad's cross-domain accuracy comes from
# the adaptation *mechanism*, which works in any domain, and part from what meta-training
# on Omniglot put into the initialization, which may or may not fit clothing. The gain
# over the untrained network measures only the second part.

# %% [markdown]
# Keep the scale of this experiment in mind. These are small, briefly trained models, one
# seed, and one pair of domains; with only ten classes, a Fashion-MNIST task is easy or
# hard depending on which classes it draws (T-shirt vs. shirt vs. pullover is hard,
# trouser vs. bag is easy). Whether CxGrad's advantage grows or shrinks out of domain at
# this size is for the printed numbers to say; the paper's claim is about much longer
# training on natural images.

# %% [markdown]
# ## Beside the results of record
#
# One seed cannot tell whether a difference of a point or two out of domain is real. The
# repository's results of record (chapter 11) include MAML and CxGrad trained in this
# configuration for 500 iterations with ten seeds each, and tested on 600 Omniglot and
# 600 Fashion-MNIST test tasks (`cxgrad sweep run --configs maml cxgrad --seeds 0 1 2 3 4
# 5 6 7 8 9 --cross-domain fashionmnist`, on a 2-core CPU). Below: each domain's accuracy,
# the paired difference, and how many points each method loses between the domains, with
# t intervals over the ten seeds.

# %% tags=["check-output"]
from pathlib import Path

from cxgrad.records import RESULTS_DIR, compare, load_records, mean_and_ci95, summary_rows

records = load_records(Path(RESULTS) if RESULTS else RESULTS_DIR)
example = records["cxgrad"][min(records["cxgrad"])]
print(
    f"results of record: {example['config']['iterations']} iterations, "
    f"{len(records['cxgrad'])} seeds, {example['test']['tasks']} test tasks per domain, "
    f"trained at commit {example['commit'][:10]}"
)
for dataset, label in ((None, "Omniglot"), ("fashionmnist", "Fashion-MNIST")):
    rows = {row["name"]: row for row in summary_rows(records, dataset=dataset)}
    for name in ("maml", "cxgrad"):
        print(
            f"{label:13s} {LABELS[name]:7s} {100 * rows[name]['accuracy']:.2f}% "
            f"+-{100 * rows[name]['ci95_seeds']:.2f}"
        )
    print(f"{label:13s} {compare(records, 'cxgrad', 'maml', dataset=dataset)}")
record_drops = {
    name: np.array(
        [
            r["test"]["accuracy"] - r["cross_domain"]["fashionmnist"]["accuracy"]
            for _, r in sorted(records[name].items())
        ]
    )
    for name in ("maml", "cxgrad")
}
extra = record_drops["cxgrad"] - record_drops["maml"]  # paired by seed
extra_mean, half_width = mean_and_ci95(extra.tolist())
for name in ("maml", "cxgrad"):
    drop = 100 * record_drops[name].mean()
    print(f"drop Omniglot -> Fashion-MNIST, {LABELS[name]}: {drop:.2f} points")
print(f"CxGrad loses {100 * extra_mean:+.2f} +-{100 * half_width:.2f} points more than MAML")
fashion_gap = compare(records, "cxgrad", "maml", dataset="fashionmnist")

# %% [markdown]
# The last line is the paired question of this chapter asked over seeds: how much more
# accuracy CxGrad loses than MAML between the domains, with the t interval over the ten
# seeds. "What we found" below reads its conclusions from these numbers.

# %% [markdown]
# ## The paper's Table 2 (not our runs)
#
# ```{admonition} Paper, Table 2: cross-domain 5-way 5-shot test accuracy (%)
# :class: note
#
# Quoted from {cite}`lee2022cxgrad`, Table 2: Conv4 meta-trained on miniImageNet
# {cite}`vinyals2016matching`, meta-tested on the test classes of CUB-200-2011
# {cite}`wah2011cub` and of CIFAR-FS {cite}`bertinetto2019closed`, images 84x84. The
# paper reproduced BOIL's numbers and took the others from ALFA {cite}`baik2020alfa`.
#
# | method | miniImageNet → CUB | miniImageNet → CIFAR-FS |
# | --- | --- | --- |
# | MAML | 52.70 ± 0.32 | 55.82 ± 0.50 |
# | ALFA | 58.35 ± 0.25 | 59.76 ± 0.49 |
# | BOIL | 60.84 ± 0.45 | 63.28 ± 0.45 |
# | L2F | 60.89 ± 0.22 | 63.73 ± 0.48 |
# | CxGrad | 63.92 ± 0.44 | 64.85 ± 0.44 |
# ```
#
# Our numbers are not comparable with these (1-shot instead of 5-shot, Omniglot to
# Fashion-MNIST instead of miniImageNet to birds, a few hundred CPU iterations instead of
# 50,000 GPU iterations, no checkpoint ensemble). Two things in the paper's table are
# worth noticing. First, the spread between methods is much larger than in the
# same-domain Table 1: CxGrad is about 11 points above MAML on CUB and 9 on CIFAR-FS,
# against 3.1 to 6.7 points in domain. Second, CxGrad, built to change the representation
# in the inner loop, is the best of the table, and BOIL, built for the same purpose, is
# within half a point of L2F, the runner-up.
#
# ## Why representation change matters more across domains
#
# Section 4.2 of the paper, following BOIL {cite}`oh2021boil`, argues as follows. What a
# meta-learner stores in its initialization $\theta$ is partly *domain-generic*
# (edge and blob detectors that help on any image) and partly *domain-specific*
# (feature combinations that separate the kinds of classes seen in meta-training). The
# domain-specific part was learned from tasks $p(\mathcal{T})$ of the source domain and
# does not cover the tasks of another domain. A method that mostly *reuses* features in
# the inner loop, as ANIL showed MAML does {cite}`raghu2020anil`, is left with the wrong
# high-level features and can only move its decision boundary. A method whose inner loop
# changes the high-level features can close part of the gap with the support set of the
# new task itself. CxGrad's gradient scaling is built to make the inner loop move the
# high-level layers (the paper's gradient-norm diagnosis; chapter 3), which is why
# the paper expects, and reports, its largest gains out of domain. Chapter 8 measures how
# much each method's representation actually changes during adaptation.
#
# ## The same evaluation from the command line
#
# `cxgrad evaluate` does cross-domain testing with one option: it loads a run's best
# validation checkpoint(s), chosen on the run's own validation data, and tests them on the
# test split of another dataset with the same number of channels. This chapter's test is
#
# ```bash
# cxgrad evaluate --run RUN --dataset fashionmnist --tasks 200
# ```
#
# and in Python `evaluate_run(run, dataset="fashionmnist")`. It draws the same seeded
# tasks as our sampler, so on the first five tasks it must reproduce the per-task
# accuracies computed above:

# %%
check = evaluate_run(runs["maml"], tasks=5, dataset="fashionmnist", progress=False)
ours = np.mean(cross["maml"].task_accuracies[:5])
print(f"evaluate_run: {100 * check.accuracy:.2f}%, this chapter: {100 * ours:.2f}%")
print("same tasks, same result:", abs(check.accuracy - ours) < 1e-9)

# %% [markdown]
# For the paper's Table 2, with a run trained with `--preset miniimagenet-5w5s` and CUB
# and CIFAR-FS prepared as section 1 of the reproduction guide
# ({doc}`../book/reproduction`) explains:
#
# ```bash
# cxgrad evaluate --run runs/mini5 --dataset cub --tasks 600 --ensemble 5
# cxgrad evaluate --run runs/mini5 --dataset cifarfs --tasks 600 --ensemble 5
# ```
#
# An Omniglot run cannot be tested on CUB or CIFAR-FS this way: they have three color
# channels and Omniglot has one.

# %% [markdown]
# ## What we found
#
# Which method leads out of domain, and whether its lead shrinks, are questions about many
# training runs, so they come from the results of record (ten seeds at 500 iterations, each
# tested on 600 tasks of both domains). The cell below states each finding with its
# numbers; the book's build checks every one. The records give the opposite of the paper's
# section 4.2, where CxGrad's lead over MAML is larger out of domain (about 11 and 9 points
# on CUB and CIFAR-FS in its Table 2, the paper's numbers) than in domain (3.1 to 6.7
# points in its Table 1). This chapter's own run is one draw of 200 iterations: its leads
# and drops change with the CPU's kernels, the seed and the thread count (the robustness
# table in {doc}`../book/reproduction` gives their ranges), so they are printed beside the
# records, not asserted. What held in every run of the robustness check is about
# meta-training itself, and it says that out of domain CxGrad's edge comes from its
# adaptation mechanism, the larger steps in the backbone that work on a random network too
# (chapters 5 and 6), rather than from what meta-learning on Omniglot stored in its
# initialization. What this chapter cannot tell: 1-shot Omniglot to Fashion-MNIST after
# 500 iterations is not the paper's 5-shot miniImageNet to CUB after 50,000.


# %%
def paired(d):
    """Mean and 95% half-width of per-task differences."""
    return d.mean(), 1.96 * d.std(ddof=1) / math.sqrt(len(d))


def accuracies(results, method):
    return np.array(results[method].task_accuracies)


others = [m for m in METHODS if m != "cxgrad"]
for m in others:
    lead_in = paired(accuracies(same, "cxgrad") - accuracies(same, m))[0]
    lead_out, half = paired(accuracies(cross, "cxgrad") - accuracies(cross, m))
    print(
        f"your run: CxGrad - {LABELS[m]} {100 * lead_in:+.1f} points on Omniglot, "
        f"{100 * lead_out:+.1f} +- {100 * half:.1f} on Fashion-MNIST"
    )
print(
    f"records:  CxGrad - MAML {100 * fashion_gap.difference:+.1f} +- "
    f"{100 * fashion_gap.ci95_seeds:.1f} points on Fashion-MNIST; extra drop "
    f"{100 * extra_mean:+.1f} +- {100 * half_width:.1f} over {len(extra)} seeds"
)

# %% tags=["check-output", "hide-input"]
from cxgrad.book import Findings

cx_trained = np.mean(cross["cxgrad"].task_accuracies[:BASELINE_TASKS])
found = Findings(FINDINGS)
found.claim(
    "Over the ten seeds of record, CxGrad is more accurate than MAML on Fashion-MNIST as "
    "well, and the 95% interval over seeds excludes zero.",
    fashion_gap.resolved and fashion_gap.difference > 0 and len(fashion_gap.seeds) == 10,
    numbers={
        "CxGrad - MAML (points)": 100 * fashion_gap.difference,
        "+-": 100 * fashion_gap.ci95_seeds,
    },
)
found.claim(
    "Over the same seeds CxGrad loses more accuracy than MAML when it leaves its domain, and "
    "the interval of that extra drop excludes zero too: CxGrad's lead over MAML shrinks.",
    extra_mean - half_width > 0,
    numbers={
        "extra drop (points)": 100 * extra_mean,
        "+-": 100 * half_width,
        "this run's extra drop vs MAML (points)": 100
        * (
            (accuracies(same, "cxgrad") - accuracies(cross, "cxgrad"))
            - (accuracies(same, "maml") - accuracies(cross, "maml"))
        ).mean(),
    },
)
found.claim(
    "Meta-training on Omniglot adds more than twice as much to MAML and to BOIL on "
    "Fashion-MNIST as to CxGrad, which gains less than 10 points.",
    all(gains[m][0] > 2 * gains["cxgrad"][0] for m in others) and gains["cxgrad"][0] < 0.10,
    numbers={f"gain {m}": 100 * gains[m][0] for m in METHODS},
)
found.claim(
    "Most of CxGrad's Fashion-MNIST accuracy is already there in its untrained network, "
    "which reaches more than 80% of the meta-trained network's accuracy.",
    untrained["cxgrad"].accuracy > 0.80 * cx_trained,
    numbers={"untrained / trained": untrained["cxgrad"].accuracy / cx_trained},
)
found.report()

# %% [markdown]
# ## Summary
#
# - Fashion-MNIST has the same image format as Omniglot but only 10 classes, so it serves
#   as a test domain only.
# - Over the seeds of record, CxGrad is still ahead of MAML out of domain, but its lead
#   shrinks: it loses more than MAML when it leaves its domain, the opposite of the paper's
#   section 4.2 (see "What we found").
# - Most of CxGrad's out-of-domain accuracy is already in its untrained network: its edge
#   comes from its larger steps in the backbone rather than from what meta-learning stored.
# - This chapter's own run is one seed of 200 iterations: which method leads is read from
#   the records, and the sizes of its own differences vary between runs.
#
# ## Exercises
#
# 1. Omniglot is dark ink on white, Fashion-MNIST bright objects on black. Invert the
#    Fashion-MNIST images ($x \mapsto 1 - x$) before adaptation and test again. How much of
#    the drop was due to polarity alone?
# 2. Run the chapter with 5-shot test tasks (`EpisodeSampler(..., 5, 5, 15, ...)` for both
#    domains; the models were meta-trained 1-shot). Does the cross-domain drop shrink when
#    the inner loop has more support images to change the representation with?
# 3. Evaluate ANIL (chapter 6 trained it too) on Fashion-MNIST. Where do you expect it to
#    land relative to MAML and BOIL, and why?
#
# ```{admonition} Solutions
# :class: dropdown
#
# 1. A split is a dataclass, so an inverted copy is one line, and the same seed and split
#    name give the same tasks with inverted pixels:
#    `test = fashion.split("test")`;
#    `inverted = EpisodeSampler(dataclasses.replace(test, images=255 - test.images), 5, 1,
#    15, seed=0, split_name="test")`; then `evaluate(learner, [params], inverted,
#    TEST_TASKS, progress=False)` for each model. BatchNorm removes the mean of the first
#    conv's output but not the sign of the contrast, and the activation that follows is not
#    symmetric, so polarity matters. Expect part of the drop to go away, not all of it:
#    textures and shapes still differ from handwriting.
# 2. With five support images per class, the inner loop's gradient is less noisy and all
#    methods gain; the methods that adapt the body (BOIL, CxGrad) have more to work with.
#    Compare the paired differences rather than the raw accuracies.
# 3. `trained_run("anil", omniglot_config("anil", ...))` with the same arguments returns
#    chapter 6's run. ANIL cannot change any feature in the inner loop, so out of domain
#    it has only its linear head to adapt; the feature-reuse argument predicts that it
#    loses at least as much as MAML.
# ```
