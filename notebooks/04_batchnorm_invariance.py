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
# # 4. BatchNorm scale invariance
#
# CxGrad {cite}`lee2022cxgrad` changes how fast each layer of the backbone learns in the
# inner loop, task by task, without ever touching a learning rate. It does so with a
# property of Batch Normalization {cite}`ioffe2015bn` that Cho and Lee
# {cite}`cho2017riemannian` made precise: a weight that feeds a BatchNorm layer can be
# multiplied by any positive number without changing the network's output, but its
# gradient is divided by that number. This chapter derives the property (Eqs. 4 and 5 of
# the paper), checks it numerically on the course's Conv4, shows why it amounts to a
# per-layer learning rate, and finds where it breaks: BatchNorm's small constant
# $\epsilon$.
#
# Nothing is trained here; every cell runs in seconds.

# %% [markdown]
# ## Learning objectives
#
# - Derive Eq. 4 (a weight feeding BatchNorm can be rescaled without changing the output)
#   and Eq. 5 (the gradient is divided by the factor), and why the gradient is orthogonal
#   to the weight.
# - Check both identities in float64 on the course's Conv4, layer by layer.
# - Show that a weight's norm acts as a hidden per-layer learning rate $\alpha / \|w\|^2$,
#   and that gradient descent lengthens the weight.
# - Locate where BatchNorm's $\epsilon$ breaks the invariance, and predict the knee $a^*$.
#
# ## Prerequisites
#
# Chapter 3 (why per-layer inner gradient norms matter) and chapter 2 (the inner loop).
# Maths: the chain rule, mean and variance, vector norms. PyTorch: `torch.autograd.grad`.

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
FILTERS = 32  # Conv4 width (the course's CPU size)
SEED = 0
SCALES = [0.01, 0.5, 3.0, 100.0]  # the factors a of the exact checks
GRID_POINTS = 13  # points per curve in the gradient-ratio figure
EPS_POINTS = 37  # points per curve in the epsilon figure (twelve decades)
LARGE_SIZE = False

# %% [markdown]
# With `LARGE_SIZE = True` the cell below uses the width of the authors' miniImageNet
# Conv4 (48 filters) and
# denser curves. Nothing here is trained, so even that takes well under a minute on a CPU.

# %%
if LARGE_SIZE:
    FILTERS = 48
    GRID_POINTS = 25
    EPS_POINTS = 73

# %% [markdown]
# Everything in this chapter is computed in float64. The identities below are exact in
# real arithmetic, and float64 lets us see residuals of $10^{-12}$ instead of the
# $10^{-6}$ that float32 rounding would leave. The inner loop of MAML and CxGrad only ever
# sees a task's support set, so that is what we feed the network: the 5 support images of
# one 5-way 1-shot Omniglot training task (the course's standard setting), normalized by
# BatchNorm as one batch of $5 \times 28 \times 28$ positions per channel.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from cxgrad.data import EpisodeSampler, load_omniglot
from cxgrad.models import Conv4Config
from cxgrad.models.conv4 import conv4_features, conv4_forward

torch.set_default_dtype(torch.float64)
omniglot = load_omniglot(DATA_ROOT, progress=False)
task = EpisodeSampler(omniglot.split("train"), 5, 1, 15, seed=SEED).batch(0, 1)
task = task.to("cpu", torch.float64)
x, y = task.x_support[0], task.y_support[0]  # 5 images, one per label

NO_EPS = 1e-30  # torch refuses eps=0 in training-mode batch_norm; 1e-30 is "no eps" here
exact = Conv4Config(filters=FILTERS, image_size=28, bn_eps=NO_EPS)
default = Conv4Config(filters=FILTERS, image_size=28)  # the library's eps = 1e-5
params = {k: v.double() for k, v in exact.init(torch.Generator().manual_seed(SEED)).items()}
CONVS = exact.conv_names()
print("images", tuple(x.shape), "| conv weights:", {n: tuple(params[n].shape) for n in CONVS})
print("BatchNorm eps: library default", default.bn_eps, "| 'no eps'", exact.bn_eps)


# %% [markdown]
# ## What BatchNorm computes
#
# Consider one output channel of a convolution. Write its weights as a vector $v$ and the
# input patch at one position of one image as $x$, so that the conv output there is
# $z = v^\top x$. BatchNorm normalizes $z$ with the mean and variance of that channel over
# the batch and all positions,
#
# $$
# \mu = \mathrm{E}[v^\top x] = v^\top \mathrm{E}[x], \qquad
# \sigma^2 = \mathrm{Var}[v^\top x] = v^\top \Sigma v ,
# $$
#
# where $\Sigma$ is the covariance of the patches, and outputs
#
# $$
# \mathrm{BN}(z) = g\,\frac{z - \mu}{\sqrt{\sigma^2 + \epsilon}} + b ,
# $$
#
# with a learned scale $g$ and shift $b$ per channel and a small constant $\epsilon$
# ($10^{-5}$ in PyTorch and in the authors' code) that keeps the division safe. The
# library's Conv4 always normalizes with the statistics of the batch it is given, in
# training and in evaluation, and its convolutions have no bias (BatchNorm would subtract
# it anyway).
#
# ## Rescaling a weight changes nothing in the forward pass (Eq. 4)
#
# Multiply the weights by a positive number $a$: $\hat v = a v$, $\hat z = a z$. The mean
# becomes $a\mu$ and the variance $a^2\sigma^2$, so, with $\epsilon = 0$ (Eq. 4 of the
# paper),
#
# $$
# \mathrm{BN}(\hat v^\top x)
# = \frac{a v^\top (x - \mathrm{E}[x])}{\sqrt{a^2 v^\top \Sigma v}}
# = \frac{v^\top (x - \mathrm{E}[x])}{\sqrt{v^\top \Sigma v}}
# = \mathrm{BN}(v^\top x).
# $$
#
# (We drop $g$ and $b$, which are the same on both sides.) This holds for every channel
# with the same $a$, so multiplying a whole conv weight tensor by $a$ leaves the layer's
# output, everything after it, and the loss unchanged. With $\epsilon > 0$ the same steps
# give
#
# $$
# \mathrm{BN}_\epsilon(a z) = \frac{z - \mu}{\sqrt{\sigma^2 + \epsilon / a^2}} ,
# $$
#
# so rescaling by $a$ is the same as keeping the weight and replacing $\epsilon$ by
# $\epsilon / a^2$. The invariance is exact only when $\epsilon$ is negligible next to
# the variance $a^2\sigma^2$ of the conv output; we come back to this at the end.
#
# ## ... but divides the gradient by $a$ (Eq. 5)
#
# Let $f(v)$ be the loss as a function of one conv weight (everything else fixed). Eq. 4
# says $f(a v) = f(v)$ for every $a > 0$. Differentiating both sides with respect to $v$
# (chain rule on the left) gives
#
# $$
# a\,\nabla f(a v) = \nabla f(v)
# \quad\Longrightarrow\quad
# \nabla f(\hat v) = \frac{1}{a}\,\nabla f(v),
# $$
#
# which is Eq. 5 of the paper: the gradient at the rescaled weight points the same way
# but is $a$ times shorter. Differentiating $f(a v) = f(v)$ with respect to $a$ at $a = 1$
# gives one more fact we will need: $v^\top \nabla f(v) = 0$, the gradient is always
# orthogonal to the weight.
#
# ## Checking both on Conv4
#
# We rescale one conv layer at a time by each factor $a$ and compare, in the
# "no eps" network, the loss (Eq. 4), the gradient with respect to the rescaled weight
# against $1/a$ times the original one (Eq. 5, as a relative error), and the cosine
# between the weight and its gradient.


# %%
def loss_and_grad(p, name, config):
    """Loss on the task and its gradient with respect to the weight ``name``."""
    p = {**p, name: p[name].detach().clone().requires_grad_()}
    loss = F.cross_entropy(conv4_forward(p, x, config), y)
    (g,) = torch.autograd.grad(loss, p[name])
    return loss.detach(), g


def rescaled(p, name, a):
    return {**p, name: a * p[name]}


# %% tags=["check-output"]
for name in CONVS:
    loss, g = loss_and_grad(params, name, exact)
    cosine = float((params[name] * g).sum() / (params[name].norm() * g.norm()))
    checks = []
    for a in SCALES:
        loss_a, g_a = loss_and_grad(rescaled(params, name, a), name, exact)
        loss_ok = abs(float(loss_a - loss)) < 1e-10
        grad_ok = float((g_a - g / a).norm() / (g / a).norm()) < 1e-9
        checks.append(loss_ok and grad_ok)
    print(
        f"{name}: Eq. 4 and Eq. 5 hold (< 1e-10 / 1e-9) for a in {SCALES}: {checks}; "
        f"|cos(w, grad)| < 1e-10: {abs(cosine) < 1e-10}"
    )

# %% [markdown]
# Both identities hold to float64 rounding in every layer, for factors from 0.01 to 100.
# The same check with the library's default $\epsilon = 10^{-5}$ leaves residuals that
# are small in the deeper layers but far from negligible in the first one (we explain why
# below):

# %%
for name in CONVS:
    loss, g = loss_and_grad(params, name, default)
    loss_a, g_a = loss_and_grad(rescaled(params, name, 3.0), name, default)
    print(
        f"{name}, eps=1e-5, a=3: |loss change| {abs(float(loss_a - loss)):.1e}, "
        f"relative gradient error {float((g_a - g / 3).norm() / (g / 3).norm()):.1e}"
    )

# %% [markdown]
# ## The gradient norm shrinks as $1/a$
#
# The figure plots the ratio $\|\nabla f(a w)\| / \|\nabla f(w)\|$ for each layer over six
# decades of $a$ with $\epsilon = 10^{-5}$, and for conv1 also without $\epsilon$.
# Without $\epsilon$ every layer sits on the line $1/a$ (the check above), like conv1's
# grey curve. With $\epsilon = 10^{-5}$ a curve can leave the line when $a$ is small:
# there the rescaled conv output is so small that $\epsilon$ dominates its variance. Over
# this range it happens visibly only for conv4, for a reason we meet at the end of the
# chapter.

# %% mystnb={"figure": {"caption": "Rescaling one conv weight by a divides its gradient norm by a (dotted: 1/a, Eq. 5). Without epsilon (grey) a layer stays on the line everywhere; with epsilon = 1e-5 look for where a curve leaves it at small a, where epsilon dominates the rescaled output's variance."}, "image": {"alt": "Log-log plot of gradient-norm ratio against the scale factor a, one curve per conv layer, lying along a straight line of slope -1."}}
grid = np.logspace(-3, 3, GRID_POINTS)
fig, ax = plt.subplots(figsize=(6.5, 4.5))
curves = [(name, default, f"C{i}", "-") for i, name in enumerate(CONVS)]
curves.append(("conv1.weight", exact, "grey", "--"))  # the other layers look the same
for name, config, color, style in curves:
    norm = loss_and_grad(params, name, config)[1].norm()
    ratios = [loss_and_grad(rescaled(params, name, a), name, config)[1].norm() / norm for a in grid]
    eps = "no eps" if config is exact else "eps = 1e-5"
    ax.loglog(grid, ratios, style, color=color, label=f"{name.split('.')[0]}, {eps}")
ax.loglog(grid, 1 / grid, ":", color="black", lw=2, label="1/a (Eq. 5)")
ax.set_xlabel("scale factor a of one conv weight")
ax.set_ylabel("gradient norm ratio ||grad f(a w)|| / ||grad f(w)||")
ax.set_title("Rescaling a weight before BatchNorm divides its gradient by a")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## A learning rate in disguise
#
# Why would anyone rescale a weight whose scale does not matter? Because the scale
# decides how far a gradient step moves the part of the weight that *does* matter, its
# direction $u = w / \|w\|$. Take a weight $w = a u$ with $\|u\| = 1$ and one
# gradient step with learning rate $\alpha$. By Eq. 5, $\nabla f(a u) = \nabla f(u) / a$,
# so
#
# $$
# w' = a u - \frac{\alpha}{a}\,\nabla f(u)
#    = a\Big(u - \frac{\alpha}{a^2}\,\nabla f(u)\Big),
# \qquad
# f(w') = f\Big(u - \frac{\alpha}{a^2}\,\nabla f(u)\Big).
# $$
#
# The second equality uses Eq. 4 once more. A step of size $\alpha$ on a weight of norm
# $a$ has **exactly** the effect on the loss of a step of size $\alpha / a^2$ on the unit
# weight $u$: the effective learning rate of the direction is $\alpha / a^2$. One factor
# $1/a$ comes from the shorter gradient (Eq. 5), the other from the longer vector that
# the step has to turn. A network with BatchNorm after every conv therefore has one
# hidden learning rate per layer, set by that layer's weight norm.
#
# The same algebra gives a second fact: since the gradient is orthogonal to $w$, the
# step can only lengthen the weight, $\|w'\|^2 = \|w\|^2 + \alpha^2 \|\nabla f(w)\|^2$
# (Pythagoras). Plain gradient descent on such a weight keeps lowering its own effective
# learning rate. Both claims are checked below, for conv2 and the factors $a$ above.

# %% tags=["check-output"]
ALPHA = 0.01
name = "conv2.weight"
u = params[name] / params[name].norm()
unit = rescaled(params, name, 1 / params[name].norm())  # conv2 with unit norm
_, g_u = loss_and_grad(unit, name, exact)
for a in SCALES:
    _, g_a = loss_and_grad(rescaled(unit, name, a), name, exact)
    w_next = a * u - ALPHA * g_a  # one step of size alpha on the weight of norm a
    loss_big = F.cross_entropy(conv4_forward({**params, name: w_next}, x, exact), y)
    u_next = u - ALPHA / a**2 * g_u  # one step of size alpha / a^2 on the unit weight
    loss_small = F.cross_entropy(conv4_forward({**params, name: u_next}, x, exact), y)
    pythagoras = w_next.norm() ** 2 - (a**2 + ALPHA**2 * g_a.norm() ** 2)
    print(
        f"a = {a:6}: loss after step alpha on a*u == after step alpha/a^2 on u: "
        f"{abs(float(loss_big - loss_small)) < 1e-9}; "
        f"||w'||^2 == a^2 + alpha^2 ||grad||^2: "
        f"{abs(float(pythagoras)) < 1e-9 * float(w_next.norm() ** 2)}"
    )

# %% [markdown]
# This is the lever CxGrad pulls. Its Implicit Gradient Scaling (IGS, Eq. 6 of the paper)
# replaces every conv weight by
#
# $$
# w^{(\ell)} \leftarrow \gamma^{(\ell)}\,\frac{w^{(\ell)}}{\|w^{(\ell)}\|},
# $$
#
# with a positive factor $\gamma^{(\ell)}$ per layer produced for each task by a small
# network. By Eq. 4 the loss does not change; by Eq. 5 the gradient with respect to the
# rescaled weight is $\|w^{(\ell)}\| / \gamma^{(\ell)}$ times the original one, and by the
# argument above the next inner step turns the direction of layer $\ell$ with learning
# rate $\alpha / (\gamma^{(\ell)})^2$. Normalizing first makes the step size depend on
# $\gamma$ alone, not on how long the weight had grown; the paper adds that without it,
# factors below 1 would make the weight norm grow without bound (the Pythagoras identity
# with gradients enlarged by $1/\gamma$). The head is not followed by a BatchNorm, so it
# is not scale invariant, and IGS leaves it alone (exercise 1).
#
# ## Where it breaks: BatchNorm's $\epsilon$
#
# With $\epsilon > 0$, rescaling by $a$ is the same as using $\epsilon / a^2$ in place of
# $\epsilon$. The invariance therefore fails once $a^2 \sigma^2$ is no longer large
# compared with $\epsilon$, i.e. below $a^* \approx \sqrt{\epsilon / \sigma^2}$, where
# $\sigma^2$ is the variance of the layer's conv output at $a = 1$. Expanding the square
# root for large $a$, $\mathrm{BN}_\epsilon(a z) \approx \mathrm{BN}_0(z)\,
# (1 - \epsilon / (2 a^2 \sigma^2))$: the deviation from the exact ("no eps") network
# falls like $1/a^2$. The conv output variances of this network, averaged over channels:

# %%
# The input of layer l is the output of block l-1 (library function conv4_features).
inputs = [x] + conv4_features(params, x, exact)[:-1]
variances = {
    name: float(F.conv2d(h, params[name], padding=1).var(dim=(0, 2, 3)).mean())
    for name, h in zip(CONVS, inputs, strict=True)
}
for name, var in variances.items():
    print(
        f"{name}: mean channel variance {var:.4f}, ||w|| {float(params[name].norm()):.2f}, "
        f"knee a* = sqrt(1e-5 / var) = {np.sqrt(1e-5 / var):.3f}"
    )

# %% [markdown]
# The first layer stands out: Omniglot characters are mostly blank background, so its
# conv output varies little, and $\epsilon$ matters there even at $a = 1$. This is the
# source of the larger first-layer residuals printed above.
#
# The figure shows two views over twelve decades of $a$, one layer rescaled at a time.
# On the left, what a user sees: how much the loss moves when the weight is rescaled,
# $|f_\epsilon(a w) - f_\epsilon(w)|$. On the right, the distance to the exactly
# invariant network, $|f_\epsilon(a w) - f_0(w)|$, with the predicted knee $a^*$ of
# each layer marked (dotted). To see one layer's $\epsilon$ alone there, we switch it off in the
# other three layers with the property itself: multiplying their weights by $10^6$
# replaces their $\epsilon$ by $\epsilon / 10^{12}$. Without $\epsilon$ (grey) both
# views stay at the level of float64 rounding.

# %% mystnb={"figure": {"caption": "How far BatchNorm's epsilon breaks the invariance over twelve decades of a: left, how much the loss moves when one layer is rescaled; right, its distance to the exactly invariant network, each layer's predicted knee a* dotted. Without epsilon (grey) both stay at float64 rounding."}, "image": {"alt": "Two log-log panels of absolute loss differences against the scale factor a, one curve per conv layer rising below a knee, grey curves flat near 1e-16."}}
wide = np.logspace(-8, 4, EPS_POINTS)


def loss_at(p, config):
    return float(F.cross_entropy(conv4_forward(p, x, config), y))


def only_eps_in(p, name):
    """Other conv weights times 1e6: their BatchNorms see eps / 1e12, i.e. none."""
    return {**p, **{n: 1e6 * p[n] for n in CONVS if n != name}}


fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
floor = 1e-17  # plot exact zeros at the bottom of the log axis
base_eps, base_exact = loss_at(params, default), loss_at(params, exact)
for i, name in enumerate(CONVS):
    label = name.split(".")[0]
    with_eps = np.array([loss_at(rescaled(params, name, a), default) for a in wide])
    axes[0].loglog(wide, np.abs(with_eps - base_eps) + floor, color=f"C{i}", label=label)
    alone = only_eps_in(params, name)
    with_eps = np.array([loss_at(rescaled(alone, name, a), default) for a in wide])
    axes[1].loglog(wide, np.abs(with_eps - base_exact) + floor, color=f"C{i}", label=label)
    axes[1].axvline(np.sqrt(1e-5 / variances[name]), color=f"C{i}", ls=":", lw=1)
without = np.array([loss_at(rescaled(params, "conv1.weight", a), exact) for a in wide])
for ax in axes:  # the other layers look the same
    ax.loglog(
        wide, np.abs(without - base_exact) + floor, color="grey", lw=0.8, label="conv1, no eps"
    )
axes[1].loglog(wide[wide > 1], 1e-5 / wide[wide > 1] ** 2, "k--", lw=1, label="slope -2")
axes[0].set_title("|loss(a w) - loss(w)|, eps = 1e-5 in every layer")
axes[1].set_title("|loss(a w) - exact loss|, eps only in the rescaled layer")
for ax in axes:
    ax.set_xlabel("scale factor a of one conv weight")
    ax.legend(fontsize=8)
axes[0].set_ylabel("absolute loss difference")
fig.tight_layout()
plt.show()

# %% [markdown]
# Read from right to left. For large $a$ the network with $\epsilon$ converges to the
# exact one (right panel, slope $-2$), so rescaling up changes the loss only by the
# $\epsilon$-effect already present at $a = 1$ (left panel, flat; largest for conv1).
# Around the knee $a^*$ the conv output's variance becomes comparable to $\epsilon$, and
# for smaller $a$ BatchNorm no longer normalizes: it divides by $\sqrt{\epsilon}$ and the
# layer's output shrinks in proportion to $a$. For conv4, whose output goes straight to
# the head, the loss then changes at order one. For conv1 to conv3 the *next* BatchNorm
# undoes most of the shrinkage (LeakyReLU and max-pooling commute with multiplication by
# a positive number, and the next conv output shrinks with it), so the loss changes
# less: what remains is that the layer's channels are no longer each scaled to unit
# variance. This is also why only conv4's gradient ratio left the $1/a$ line in the
# first figure.
#
# Two consequences for CxGrad. First, IGS sets $\|w^{(\ell)}\| = \gamma^{(\ell)}$, so a
# small $\gamma$ pushes a layer towards its knee. Second, and less obvious: by Eq. 4 the
# loss right after IGS does not depend on $\gamma$ at all when $\epsilon = 0$, so the
# gradient of that loss with respect to the context parameters that produce $\gamma$
# exists **only through** $\epsilon$. The next chapter measures this.
#
# ## Summary
#
# - Multiplying a conv weight that feeds a BatchNorm by $a > 0$ leaves the loss unchanged
#   (Eq. 4) and divides its gradient by $a$ (Eq. 5); the gradient is orthogonal to the
#   weight.
# - A step of size $\alpha$ on a weight of norm $a$ turns its direction as a step of size
#   $\alpha / a^2$ would: a learning rate in disguise, which CxGrad's IGS sets per layer.
# - BatchNorm's $\epsilon$ breaks the invariance below a knee $a^*$; on Omniglot the first
#   layer feels it even at $a = 1$.
# - Without $\epsilon$, the loss right after IGS does not depend on $\gamma$, so a gradient
#   with respect to CxGrad's context exists only through $\epsilon$.
#
# ## Exercises
#
# 1. Rescale the head's weight (`head.weight`) by $a = 2$ and compare the losses. Why is
#    the head not scale invariant, and what would happen to its gradient?
# 2. Run 20 steps of plain gradient descent ($\alpha = 0.01$) on `conv2.weight` alone in
#    the "no eps" network, starting from its initial weight, and print $\|w\|$ after each
#    step. Explain the trend with the Pythagoras identity, and say what it does to the
#    effective learning rate $\alpha / \|w\|^2$ over many steps.
# 3. For each layer, find the smallest $a$ on the grid for which the right-hand curve is
#    still below $10^{-3}$, and compare it with the knee $a^*$ printed above. Then repeat
#    with `Conv4Config(..., bn_eps=1e-3)`: how does the knee move?
#
# ```{admonition} Solutions
# :class: dropdown
#
# 1. `loss_at(rescaled(params, "head.weight", 2.0), exact)` differs from
#    `loss_at(params, exact)` far above rounding: the logits are linear in the head weight, so
#    doubling it doubles every logit and sharpens the softmax. Nothing normalizes the
#    logits, so Eqs. 4-5 do not apply; the gradient changes in a way that depends on the
#    data, not by a fixed factor. This is why IGS scales only the conv weights.
# 2. `w = params["conv2.weight"]`; repeat `_, g = loss_and_grad({**params,
#    "conv2.weight": w}, "conv2.weight", exact); w = w - 0.01 * g`. The norm grows at
#    every step, because the gradient is orthogonal to $w$ and
#    $\|w'\|^2 = \|w\|^2 + \alpha^2\|g\|^2$. A longer weight has a smaller effective
#    learning rate $\alpha/\|w\|^2$, so plain gradient descent slows itself down (an
#    effect known from weight-decay-free training with BatchNorm). If the scaled gradients
#    were larger than the raw ones (factors $\gamma < 1$), the growth would be faster
#    still; the paper's normalization $w / \|w\|$ before scaling removes it.
# 3. `[a for a, d in zip(wide, np.abs(with_eps - base_exact)) if d < 1e-3][0]` inside the
#    loop. The threshold is crossed well above $a^*$ (the printed values tell by how
#    much): the $1/a^2$ tail already reaches $10^{-3}$ while $a^2\sigma^2$ is still many
#    times $\epsilon$; $a^*$ marks where the deviation stops growing. With
#    $\epsilon = 10^{-3}$ every curve moves right by $\sqrt{100} = 10$, since the
#    deviation depends on $a$ and $\epsilon$ only through $\epsilon / a^2$.
# ```
