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
# # 1. Few-shot learning and episodes
#
# A child who has seen one drawing of a new letter can pick it out of a row of strangers.
# A network trained the usual way needs thousands of examples per class. *Few-shot
# learning* asks for the child's skill: learn a new classification problem from one to five
# labelled examples per class. This chapter sets up the vocabulary and the data that the
# rest of the course uses.
#
# **An N-way K-shot task** has N classes that the model has never seen. It comes with a
# *support set* of K labelled images per class (N x K in all) to learn from, and a *query
# set* of Q further images per class on which the learned classifier is tested. Labels are
# only meaningful within a task: label 0 is "whichever class came first this time".
#
# **Meta-learning** trains on many such tasks drawn from a set of training classes, and is
# evaluated on tasks built from classes that it never saw during training. The unit of
# data is therefore not an image but an *episode* (a task).
#
# We use Omniglot {cite}`lake2015omniglot`: 1,623 handwritten characters from 50
# alphabets, each drawn once by 20 different people.

# %% [markdown]
# ## Learning objectives
#
# - Define an N-way K-shot task, its support and query sets, and why a label means
#   something only within one task.
# - Explain the alphabet-disjoint Omniglot split and why test tasks must come from
#   alphabets that meta-training never saw.
# - Draw seeded episodes with `EpisodeSampler` and check that task $i$ is the same task on
#   every machine.
# - Measure a nearest-neighbour baseline in pixel space and compare it with chance.
#
# ## Prerequisites
#
# No earlier chapter. Python and NumPy; PyTorch tensors (shapes, indexing, boolean masks);
# what a classifier and its accuracy are.

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
WAYS = 5
SHOTS = 1
QUERIES = 3
SEED = 0

# %%
import matplotlib.pyplot as plt
import numpy as np

from cxgrad.data import EpisodeSampler, load_omniglot

omniglot = load_omniglot(DATA_ROOT, progress=False)
print(omniglot.summary())

# %% [markdown]
# ## Splits: new alphabets at test time
#
# The default split is *alphabet-disjoint*: meta-training uses the 30 "background"
# alphabets, and validation and test use alphabets that training never saw (5 and 15 of
# the 20 "evaluation" alphabets). A model cannot pass the test by having memorized a
# script. (The `maml` split instead reproduces the character-level protocol that MAML
# {cite}`finn2017maml` and MAML++ {cite}`antoniou2019maml` report on.)

# %% tags=["check-output"]
for name, split in omniglot.splits.items():
    alphabets = sorted({c.split("/")[0] for c in split.class_names})
    print(
        f"{name:5s} {split.num_classes:4d} characters from {len(alphabets):2d} alphabets, "
        f"{split.min_images_per_class} drawings each, e.g. {alphabets[0]}"
    )

# %% [markdown]
# ## Drawing episodes
#
# `EpisodeSampler` draws task `i` of a split from a seed that depends only on
# `(seed, split, i)`: task 7 is the same task on every machine, which makes validation
# and test numbers comparable between runs and between readers of this book.

# %%
sampler = EpisodeSampler(omniglot.split("train"), WAYS, SHOTS, QUERIES, seed=SEED)
batch = sampler.batch(0, 3)  # three tasks
print("support", tuple(batch.x_support.shape), "labels", batch.y_support[0].tolist())
print("query  ", tuple(batch.x_query.shape), "labels", batch.y_query[0].tolist())


# %% mystnb={"figure": {"caption": "A 5-way 1-shot training task: each row is one class, its single support image first and its query images to the right. Before labelling the queries the model sees only the five support images."}, "image": {"alt": "Five rows of handwritten Omniglot characters, each row one support image followed by query images of the same character."}}
def show_episode(batch, task, title):
    """Support images in the first column, that class's queries to their right."""
    xs, xq = batch.x_support[task], batch.x_query[task]
    fig, axes = plt.subplots(WAYS, SHOTS + QUERIES, figsize=(1.3 * (SHOTS + QUERIES), 1.3 * WAYS))
    for label in range(WAYS):
        images = list(xs[batch.y_support[task] == label]) + list(xq[batch.y_query[task] == label])
        for col, image in enumerate(images):
            ax = axes[label, col]
            ax.imshow(image[0], cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if col == 0:
                ax.set_ylabel(f"label {label}")
        axes[0, 0].set_title("support")
        axes[0, SHOTS].set_title("query")
    fig.suptitle(title)
    fig.tight_layout()
    plt.show()


show_episode(batch, 0, "A 5-way 1-shot Omniglot training task")

# %% [markdown]
# Each row is one class of the task. The model sees the support image of each row with its
# label, and must label the query images. Another task draws other characters, and gives
# them labels in another order:

# %% mystnb={"figure": {"caption": "The next training task: other characters, and the labels 0 to 4 given to them afresh, so that a label means nothing across tasks."}, "image": {"alt": "Five more rows of handwritten Omniglot characters, support image first in each row."}}
show_episode(batch, 1, "The next training task: new characters, new label order")

# %% [markdown]
# ## What a task looks like to a model
#
# A batch of tasks is a tensor of shape `[B, N*K, C, H, W]`: the optimization-based
# methods of this course adapt a network to each of the B tasks separately and then learn
# from how well each adapted network labels its queries. Two checks show that the sampler
# keeps its promises: the support and query images of a task are different drawings, and
# the labels 0..N-1 each appear K times in the support set.

# %% tags=["check-output"]
task = sampler.batch(42, 1)
support = task.x_support[0].flatten(1)
query = task.x_query[0].flatten(1)
overlap = int(((support[:, None] - query[None]).abs().sum(-1) == 0).sum())
print("support/query images in common:", overlap)
print("label counts in the support set:", np.bincount(task.y_support[0].numpy()).tolist())
same = EpisodeSampler(omniglot.split("train"), WAYS, SHOTS, QUERIES, seed=SEED).batch(42, 1)
print("task 42 drawn twice is identical:", bool((same.x_query == task.x_query).all()))

# %% [markdown]
# ## How hard is a task without learning?
#
# A baseline that learns nothing from other tasks: label each query with the label of the
# nearest support image in pixel space. Chance is 1/N = 20% for 5 ways.

# %% tags=["check-output"]
test_sampler = EpisodeSampler(
    omniglot.split("test"), WAYS, SHOTS, QUERIES, seed=0, split_name="test"
)
tasks = test_sampler.batch(0, 100)
distances = ((tasks.x_query.flatten(2)[:, :, None] - tasks.x_support.flatten(2)[:, None]) ** 2).sum(
    -1
)
predictions = tasks.y_support.gather(1, distances.argmin(-1))
accuracy = (predictions == tasks.y_query).float().mean().item()
print(
    f"nearest neighbour in pixels, 100 test tasks: {100 * accuracy:.1f}% (chance {100 / WAYS:.0f}%)"
)

# %% [markdown]
# Pixels carry some signal, but far from what people manage. The next chapters learn a
# representation and an initialization *from other tasks* so that a few gradient steps on
# a new task's support set do much better.
#
# ## Summary
#
# - A few-shot task has N new classes, K labelled support images per class to learn from
#   and Q query images per class to be tested on; labels are reassigned in every task.
# - Meta-learning's unit of data is the episode, and its test tasks come from alphabets
#   that training never saw.
# - `EpisodeSampler` draws task $i$ from `(seed, split, i)` alone, so validation and test
#   tasks are the same for every run and every reader.
# - Nearest neighbour in pixel space beats chance but stays far from what people manage:
#   the next chapters learn from other tasks how to learn a new one.
#
# ## Exercises
#
# 1. Draw a 20-way 1-shot task. How does the nearest-neighbour accuracy change, and how
#    does chance change?
# 2. Turn on rotations (`load_omniglot(..., rotations=True)`). How many training classes
#    are there now, and why do rotated characters count as new classes?
#
# ```{admonition} Solutions
# :class: dropdown
#
# 1. `EpisodeSampler(omniglot.split("test"), 20, 1, QUERIES, split_name="test")`: chance
#    drops to 5% and the nearest-neighbour accuracy drops too, since each query now has
#    19 wrong candidates to be confused with.
# 2. 964 x 4 = 3,856. A rotated character is a different symbol to a reader (and to a
#    convolutional network, which is not rotation invariant), so it is a new class; MAML's
#    protocol uses this to enlarge the training set.
# ```
