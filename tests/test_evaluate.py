import pytest
import torch
from torch import nn

from dlcore.evaluate import Evaluation, evaluate, evaluate_logits, evaluate_numpy


class FixedGuess(nn.Module):
    """Predicts label (x mod 3) from the first pixel: a model whose mistakes we know."""

    def forward(self, x):
        guess = x.flatten(1)[:, 0].long() % 3
        return nn.functional.one_hot(guess, 10).float() * 10


def test_accuracy_confusion_and_mistakes():
    labels = torch.tensor([0, 1, 2, 3, 0, 1])
    images = torch.zeros(6, 1, 28, 28)
    images[:, 0, 0, 0] = torch.tensor([0, 1, 2, 0, 1, 1]).float()  # guesses 0,1,2,0,1,1
    result = evaluate(FixedGuess(), images, labels)
    assert result.accuracy == 4 / 6
    assert result.confusion[3][0] == 1 and result.confusion[0][1] == 1 and result.confusion[1][1] == 2
    assert sum(map(sum, result.confusion)) == 6
    assert result.per_class[:4] == [0.5, 1.0, 1.0, 0.0]
    assert result.misclassified == [(3, 3, 0), (4, 0, 1)]
    assert result.mistakes(true_class=3) == [(3, 3, 0)]
    assert result.mistakes(predicted=1) == [(4, 0, 1)]
    assert result.mistakes(true_class=3, predicted=1) == []
    assert result.loss > 0


def test_evaluation_round_trips_through_a_dict():
    result = evaluate(FixedGuess(), torch.zeros(3, 1, 28, 28), torch.tensor([0, 1, 0]))
    assert Evaluation.from_dict(result.to_dict()) == result


@pytest.mark.gpu
def test_scores_on_the_gpu_match_the_cpu():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    images, labels = torch.randn(3000, 1, 28, 28), torch.randint(0, 10, (3000,))
    on_cpu = evaluate(model, images, labels)
    on_gpu = evaluate(model.cuda(), images.cuda(), labels.cuda(), "cuda")
    flips = sum(abs(a - b) for row_gpu, row_cpu in zip(on_gpu.confusion, on_cpu.confusion)
                for a, b in zip(row_gpu, row_cpu))
    assert flips <= 2 and abs(on_gpu.loss - on_cpu.loss) < 1e-4  # float rounding may flip a near tie


def test_a_cpu_scores_a_cnn_in_batches_that_fit_in_cache_and_says_how_far_it_is():
    """2048 images of 64x24x24 maps spill out of a CPU's cache (3x slower, bench/evaluation.py); an MLP's fit."""
    from dlcore import models
    from dlcore.evaluate import EVAL_BATCH, eval_batch

    cnn, mlp = models.build(models.preset("cnn")), models.build(models.preset("simple-nn"))
    sample = torch.zeros(1, 1, 28, 28)
    assert 16 <= eval_batch(cnn, sample) <= 128 and eval_batch(mlp, sample) == EVAL_BATCH
    calls = []
    images = torch.zeros(300, 1, 28, 28)
    evaluate(cnn, images, torch.zeros(300, dtype=torch.long), on_batch=lambda done, total: calls.append((done, total)))
    total = -(-300 // eval_batch(cnn, sample))
    assert calls == [(done, total) for done in range(1, total + 1)] and total > 1


def test_first_of_each_class_takes_each_classs_first_images_class_after_class():
    from dlcore.evaluate import first_of_each_class

    labels = torch.tensor([3, 0, 3, 3, 1, 0, 3])
    assert first_of_each_class(labels, 2).tolist() == [1, 5, 4, 0, 2]  # class 1 has one; classes 2, 4-9 none


def test_the_numpy_scoring_of_a_playground_network_agrees_with_torchs():
    """A 2-D playground network is scored in NumPy (loop.Lane); it must say what evaluate_logits says."""
    generator = torch.Generator().manual_seed(0)
    logits, labels = torch.randn(250, 2, generator=generator), torch.randint(0, 2, (250,), generator=generator)
    by_torch, by_numpy = evaluate_logits(logits, labels), evaluate_numpy(logits.numpy(), labels.numpy())
    assert by_numpy.accuracy == by_torch.accuracy and by_numpy.confusion == by_torch.confusion
    assert by_numpy.loss == pytest.approx(by_torch.loss, rel=1e-5)
    assert by_numpy.per_class == pytest.approx(by_torch.per_class) and by_numpy.misclassified == by_torch.misclassified
