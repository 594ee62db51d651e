import numpy as np
import pytest
import torch
from torch import nn

from dlcore import optim, standalone, validation
from dlcore.config import DLCoreError, TrainConfig


@pytest.mark.parametrize("name, cls", [
    ("sgd", torch.optim.SGD), ("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW),
    ("rmsprop", torch.optim.RMSprop), ("adagrad", torch.optim.Adagrad),
])
def test_optimizers_by_name_carry_lr_and_weight_decay(name, cls):
    opt = optim.make_optimizer(TrainConfig(optimizer=name, lr=0.05, weight_decay=0.01), nn.Linear(2, 2).parameters())
    assert isinstance(opt, cls)
    assert opt.param_groups[0]["lr"] == 0.05 and opt.param_groups[0]["weight_decay"] == 0.01


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw", "rmsprop", "adagrad"])
def test_foreach_kernels_only_for_many_tensors_and_one_tensor_steps_the_same(name):
    """Foreach kernels group many tensors; one tensor (a 2-D network's flat weights) takes the single-tensor path,
    which takes the same steps."""
    config = TrainConfig(optimizer=name, lr=0.05, momentum=0.5 if name in ("sgd", "rmsprop") else 0.9)
    assert optim.make_optimizer(config, nn.Linear(2, 2).parameters()).param_groups[0]["foreach"]
    start = torch.randn(5, generator=torch.Generator().manual_seed(0))
    points = [start.clone().requires_grad_() for _ in range(2)]
    single = optim.make_optimizer(config, [points[0]])
    grouped = optim.make_optimizer(config, [points[1], torch.zeros(1, requires_grad=True)])  # never has a gradient
    assert not single.param_groups[0]["foreach"] and grouped.param_groups[0]["foreach"]
    for _ in range(5):
        for point, optimizer in zip(points, (single, grouped)):
            optimizer.zero_grad()
            (point ** 2).sum().backward()
            optimizer.step()
    torch.testing.assert_close(points[0], points[1])


def test_sgd_momentum_and_nesterov():
    opt = optim.make_optimizer(TrainConfig(optimizer="sgd", momentum=0.8, nesterov=True), nn.Linear(2, 2).parameters())
    assert opt.param_groups[0]["momentum"] == 0.8 and opt.param_groups[0]["nesterov"]
    with pytest.raises(DLCoreError, match="Nesterov"):
        validation.validate(TrainConfig(optimizer="sgd", momentum=0, nesterov=True))


def _lrs(schedule, steps=100):
    config = TrainConfig(optimizer="sgd", lr=1.0, schedule=schedule)
    opt = optim.make_optimizer(config, nn.Linear(2, 2).parameters())
    sched = optim.make_schedule(config, opt, steps)
    lrs = []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def test_schedules_shape_the_learning_rate():
    assert set(_lrs("constant")) == {1.0}
    step = _lrs("step")
    assert step[0] == 1.0 and step[60] == pytest.approx(0.1) and step[90] == pytest.approx(0.01)
    cosine = _lrs("cosine")
    assert cosine[0] == 1.0 and cosine[50] == pytest.approx(0.5, abs=0.02) and cosine[-1] < 0.01
    onecycle = _lrs("onecycle")
    assert onecycle[0] < 0.1 and max(onecycle) == pytest.approx(1.0, abs=0.01) and onecycle[-1] < 0.01


def test_losses():
    logits = torch.tensor([[5.0, 0, 0, 0, 0, 0, 0, 0, 0, 0]])
    label = torch.tensor([0])
    torch.testing.assert_close(optim.make_loss("cross-entropy")(logits, label), nn.functional.cross_entropy(logits, label))
    mse = optim.make_loss("mse")
    probs = torch.softmax(logits, 1)
    expected = ((probs - nn.functional.one_hot(label, 10)) ** 2).mean()
    torch.testing.assert_close(mse(logits, label), expected)
    assert mse(logits, torch.tensor([3])) > mse(logits, label)


@pytest.mark.parametrize("field, value", [("optimizer", "lbfgs"), ("schedule", "warmup")])
def test_unknown_names(field, value):
    config = TrainConfig(**{field: value})
    with pytest.raises(DLCoreError, match="choose one of"):
        if field == "optimizer":
            optim.make_optimizer(config, nn.Linear(2, 2).parameters())
        else:
            optim.make_schedule(config, torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=1), 10)
    with pytest.raises(DLCoreError):
        optim.make_loss("hinge")


def test_schedules_and_losses_are_the_exported_scripts_own():
    """dlcore trains with the definitions standalone.py (the exported script) holds, so the two cannot drift."""
    assert set(standalone.LOSS_FUNCTIONS) == set(optim.LOSSES)
    for name in optim.LOSSES:
        assert optim.make_loss(name) is standalone.LOSS_FUNCTIONS[name]
    for name in optim.SCHEDULES:
        config = TrainConfig(schedule=name, lr=0.5)
        ours = optim.make_schedule(config, torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.5), 10)
        theirs = standalone.make_schedule(torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.5), 10, name, 0.5)
        assert type(ours) is type(theirs)
    with pytest.raises(ValueError, match="unknown schedule"):
        standalone.make_schedule(torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.5), 10, "warmup", 0.5)


RULES = [  # (optimizer, momentum, nesterov, weight decay): every term optim.Rules writes out
    ("sgd", 0.0, False, 0.0), ("sgd", 0.9, False, 0.0), ("sgd", 0.9, True, 0.01), ("sgd", 0.0, False, 0.1),
    ("adam", 0.0, False, 0.0), ("adam", 0.0, False, 0.1), ("adamw", 0.0, False, 0.1), ("rmsprop", 0.0, False, 0.0),
    ("rmsprop", 0.9, False, 0.0), ("rmsprop", 0.5, False, 0.1), ("adagrad", 0.0, False, 0.0),
    ("adagrad", 0.0, False, 0.1),
]


@pytest.mark.parametrize("name, momentum, nesterov, decay", RULES)
def test_numpy_rules_take_torch_optims_steps(name, momentum, nesterov, decay):
    config = TrainConfig(optimizer=name, lr=0.05, momentum=momentum, nesterov=nesterov, weight_decay=decay)
    generator = torch.Generator().manual_seed(0)
    point = torch.randn(6, dtype=torch.float64, generator=generator).requires_grad_()
    params = point.detach().numpy().copy()
    oracle, rules = optim.make_optimizer(config, [point]), optim.Rules([config], params.shape)
    for _ in range(20):
        grad = torch.randn(6, dtype=torch.float64, generator=generator)
        point.grad = grad.clone()
        oracle.step()
        rules.step(params, grad.numpy())
        assert params == pytest.approx(point.detach().numpy(), rel=1e-9, abs=1e-12)


def test_numpy_rules_step_rows_of_different_optimizers_apart():
    configs = [TrainConfig(optimizer=name, lr=0.05, momentum=momentum, nesterov=nesterov, weight_decay=decay)
               for name, momentum, nesterov, decay in RULES]
    generator = torch.Generator().manual_seed(1)
    points = [torch.randn(3, dtype=torch.float64, generator=generator).requires_grad_() for _ in configs]
    oracles = [optim.make_optimizer(config, [point]) for config, point in zip(configs, points)]
    params = np.stack([point.detach().numpy() for point in points])
    rules = optim.Rules(configs, params.shape)
    for _ in range(10):
        grad = torch.randn(len(configs), 3, dtype=torch.float64, generator=generator)
        for point, oracle, row in zip(points, oracles, grad):
            point.grad = row.clone()
            oracle.step()
        rules.step(params, grad.numpy())
    assert params == pytest.approx(np.stack([point.detach().numpy() for point in points]), rel=1e-9, abs=1e-12)


def test_numpy_cross_entropy_is_torchs():
    logits = torch.randn(7, 2, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 1, 1, 0, 1, 0, 0])
    loss = nn.functional.cross_entropy(logits, labels)
    loss.backward()
    value, grad = optim.cross_entropy_numpy(logits.detach().numpy(), labels.numpy())
    assert value == pytest.approx(loss.item()) and grad == pytest.approx(logits.grad.numpy())
