"""The ensemble of ``evaluate`` (``cxgrad evaluate --ensemble``) averages logits, as the paper.

Three models answer every query: one is sure of the true class (logit 100), two lean
towards a wrong class (logit 5). Averaging logits follows the sure model (100 > 10);
averaging probabilities (about 1 against 2) or counting votes (1 against 2) follows the
two others. Only the logit average is right on every query.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from cxgrad.data import load_synthetic
from cxgrad.data.episodes import EpisodeSampler
from cxgrad.evaluation import evaluate

WAYS, TASKS = 3, 4


class FixedLogits:
    """A stand-in learner whose query logits are a model's two numbers: ``true`` on each
    query's class and ``wrong`` on the next class (it knows the labels of the tasks)."""

    def __init__(self, y_query: torch.Tensor) -> None:
        self.y_query = y_query

    def predict_batch(self, params, x_support, y_support, x_query, batched=False):
        true = F.one_hot(self.y_query, WAYS).float()
        wrong = F.one_hot((self.y_query + 1) % WAYS, WAYS).float()
        return params["true"] * true + params["wrong"] * wrong


def model(true: float, wrong: float) -> dict[str, torch.Tensor]:
    return {"true": torch.tensor(true), "wrong": torch.tensor(wrong)}


def test_ensemble_averages_logits_not_probabilities_or_votes():
    glyphs = load_synthetic(num_classes=(6, 4, 4), images_per_class=6, image_size=16)
    sampler = EpisodeSampler(glyphs.split("test"), WAYS, shots=1, queries=2, seed=0)
    learner = FixedLogits(sampler.batch(0, TASKS).y_query)
    sure, leaning = model(true=100.0, wrong=0.0), model(true=0.0, wrong=5.0)
    members = [sure, leaning, leaning]

    def accuracy(models):
        return evaluate(learner, models, sampler, tasks=TASKS, progress=False).accuracy

    assert (accuracy([sure]), accuracy([leaning])) == (1.0, 0.0)
    # The two alternatives the ensemble must not be, on the same numbers:
    logits = [learner.predict_batch(m, None, None, None) for m in members]
    probabilities = sum(torch.softmax(z, -1) for z in logits)
    votes = sum(F.one_hot(z.argmax(-1), WAYS) for z in logits)
    assert not bool((probabilities.argmax(-1) == learner.y_query).any())
    assert not bool((votes.argmax(-1) == learner.y_query).any())
    result = evaluate(learner, members, sampler, tasks=TASKS, progress=False)
    assert (result.accuracy, result.models) == (1.0, 3)
