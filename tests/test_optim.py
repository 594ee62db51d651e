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
