"""Neural Architecture Search without Training (Mellor et al., 2021) on NAS-Bench-201 with ciFAIR-10.

No network is trained. Each candidate architecture of the NAS-Bench-201 search space is built with
random weights and fed one batch of ciFAIR-10 training images. Every ReLU unit turns each image into a
bit (active or not); two images that share many bits are hard for the network to tell apart. The score
is ``log|det K|`` of the batch's kernel ``K[i, j]`` = the number of ReLU units on which images ``i``
and ``j`` agree (both active or both inactive): high scores go with architectures that train well.

The program samples ``num_archs`` architectures of the 15,625 at random, scores each with a
``GridSearch`` over their ids, and compares the scores with the accuracies NAS-Bench-201 reports
after full training (Kendall's tau), then prints which architecture scored best and how it ranks by
its trained accuracy. The table of architectures and accuracies, ``nasbench201_info.csv`` (2 MB), is
downloaded on first use into ``<root_dir>/NASBench201`` (``$FASTEST_DATA_DIR`` or ``~/fastest_data``);
ciFAIR-10 is downloaded by its loader. Run ``python naswot.py --batch_size 128 --num_archs 1000``
(a GPU is advised: on 2 CPU cores one architecture takes 5 to 20 s, so 1000 take hours).
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Sequence
from typing import Any, NamedTuple, cast

import numpy as np
import torch
from scipy import stats
from torch import nn

import fastest as fe
from fastest.backend import feed_forward
from fastest.dataset.data import cifair10
from fastest.dataset.download import Remote, data_folder, fetch
from fastest.errors import FastestValueError
from fastest.op.numpyop.univariate import ChannelTranspose, Normalize
from fastest.search import GridSearch

DATASET = "NASBench201"
INFO = Remote("https://github.com/fastestimator-util/fastestimator-misc/raw/master/resource/nasbench201_info.csv")
COLUMNS = ("uid", "architecture", "accuracy", "C", "N")
CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2471, 0.2435, 0.2616)

# ----- the search space --------------------------------------------------------------------------------------------
# A cell is a small DAG: node 0 is the cell's input, node j (j >= 1) is the sum of op(node i) over its edges
# from earlier nodes i, and the last node is the output. A genotype lists, per node j, its (op, i) edges.
OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
Genotype = tuple[tuple[tuple[str, int], ...], ...]


def parse_architecture(text: str) -> Genotype:
    """Turn a NAS-Bench-201 string such as ``|nor_conv_3x3~0|+|none~0|skip_connect~1|`` into a genotype.

    Nodes are separated by ``+``; each node lists its incoming edges as ``|op~i|`` with ``i`` an earlier node.

    >>> parse_architecture("|nor_conv_3x3~0|+|none~0|skip_connect~1|")
    ((('nor_conv_3x3', 0),), (('none', 0), ('skip_connect', 1)))
    """

    def fail(why: str) -> FastestValueError:
        return FastestValueError(
            f"naswot: cannot read the architecture string {text!r}: {why}. Expected nodes joined by '+', each "
            f"listing its edges as '|op~input|' with op one of {list(OPS)} and input the number of an earlier "
            "node, e.g. '|nor_conv_3x3~0|+|none~0|skip_connect~1|'.")

    if not isinstance(text, str) or not text:
        raise fail("it is not a non-empty string")
    nodes = []
    for number, part in enumerate(text.split("+"), start=1):
        if len(part) < 3 or part[0] != "|" or part[-1] != "|":
            raise fail(f"node {number} ({part!r}) does not start and end with '|'")
        edges = []
        for entry in part[1:-1].split("|"):
            op, sep, source = entry.partition("~")
            if not sep or op not in OPS or not source.isdecimal() or int(source) >= number:
                raise fail(f"node {number} has the edge {entry!r}")
            edges.append((op, int(source)))
        nodes.append(tuple(edges))
    return tuple(nodes)


def format_architecture(genotype: Genotype) -> str:
    """The NAS-Bench-201 string of a genotype (the inverse of :func:`parse_architecture`)."""
    return "+".join("|" + "|".join(f"{op}~{source}" for op, source in node) + "|" for node in genotype)


def relu_conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.ReLU(), nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, bias=False),
                         nn.BatchNorm2d(c_out))


class Zero(nn.Module):
    """The ``none`` op: an edge that contributes nothing (zeros of the input's shape)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


def make_op(name: str, channels: int) -> nn.Module:
    """One edge of a cell. Inside a cell every edge keeps the channel count and the resolution."""
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return nn.Identity()
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    return relu_conv_bn(channels, channels, 1 if name == "nor_conv_1x1" else 3)


class Node(nn.Module):
    """One node of a cell: the sum of its edges' ops, each applied to the earlier node it comes from."""

    def __init__(self, edges: tuple[tuple[str, int], ...], channels: int) -> None:
        super().__init__()
        self.sources = [source for _, source in edges]
        self.ops = nn.ModuleList(make_op(op, channels) for op, _ in edges)

    def forward(self, nodes: list[torch.Tensor]) -> torch.Tensor:
        total = self.ops[0](nodes[self.sources[0]])
        for source, op in zip(self.sources[1:], self.ops[1:]):
            total = total + op(nodes[source])
        return total


class Cell(nn.Module):
    """The searched cell: node 0 is the input, each further node sums its edges; returns the last node."""

    def __init__(self, genotype: Genotype, channels: int) -> None:
        super().__init__()
        self.nodes = nn.ModuleList(Node(edges, channels) for edges in genotype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for node in self.nodes:
            nodes.append(node(nodes))
        return nodes[-1]


class ReductionBlock(nn.Module):
    """The fixed block between stages: a residual block that halves the resolution and changes the channels."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.body = nn.Sequential(relu_conv_bn(c_in, c_out, 3, stride=2), relu_conv_bn(c_out, c_out, 3))
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, stride=2), nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.body(x)


class NasBench201Net(nn.Module):
    """A NAS-Bench-201 network: a 3×3 conv stem, three stages of ``cells`` cells with ``channels``,
    ``2 * channels`` and ``4 * channels`` channels joined by reduction blocks, then BN, ReLU, global average
    pooling and a linear classifier. Inputs are (batch, 3, H, W) images.

    Args:
        genotype: The cell, from :func:`parse_architecture`.
        channels: Channels of the first stage (the table's ``C``).
        cells: Cells per stage (the table's ``N``).
        classes: Number of outputs.

    >>> net = NasBench201Net(parse_architecture("|nor_conv_3x3~0|+|none~0|skip_connect~1|"), channels=4, cells=1)
    >>> net(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    """

    def __init__(self, genotype: Genotype, channels: int, cells: int, classes: int = 10) -> None:
        super().__init__()
        if channels < 1 or cells < 1:
            raise FastestValueError(f"NasBench201Net: channels and cells must be at least 1, received channels="
                                    f"{channels}, cells={cells}.")
        layers: list[nn.Module] = [nn.Conv2d(3, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels)]
        for stage in range(3):
            width = channels * 2 ** stage
            if stage:
                layers.append(ReductionBlock(width // 2, width))
            layers.extend(Cell(genotype, width) for _ in range(cells))
        layers += [nn.BatchNorm2d(width), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                   nn.Linear(width, classes)]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


# ----- the score ---------------------------------------------------------------------------------------------------
def relu_kernel(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``K[i, j]``: on how many ReLU units (every ``nn.ReLU`` of ``model``) samples ``i`` and ``j`` of ``x`` agree.

    With ``c`` the 0/1 activity codes of one ReLU layer (samples × units), the layer adds
    ``c c^T + (1 - c)(1 - c)^T``, computed as ``(units + s s^T) / 2`` with the ±1 codes ``s = 2c - 1`` (a dot
    product of ±1 codes is agreements minus disagreements): the same integers for half the matrix products.
    Each layer is folded into ``K`` (float64, on ``x``'s device) as it runs; the hooks are removed afterwards,
    so the model is left as it was. Only ``nn.ReLU`` modules count (FastEstimator's hooks also catch
    blocks whose class name contains "ReLU", and so also threshold those blocks' BatchNorm outputs).
    """
    kernel = torch.zeros(len(x), len(x), dtype=torch.float64, device=x.device)

    def add_layer(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
        signs = (output.detach() > 0).flatten(1).float().mul_(2).sub_(1)
        agreement = signs @ signs.T  # integers: a float32 sum of ±1 products is exact below 2^24 units
        kernel.add_(agreement.double().add_(signs.shape[1]).div_(2))

    handles = [module.register_forward_hook(add_layer) for module in model.modules() if isinstance(module, nn.ReLU)]
    if not handles:
        raise FastestValueError(f"naswot: the model {type(model).__name__} has no nn.ReLU modules, so there are no "
                                "activation codes to score. Use nn.ReLU modules rather than functional relu.")
    try:
        # Eval mode, as FastEstimator scores: an untrained BatchNorm then uses its initial running statistics
        # (mean 0, variance 1), i.e. it passes activations through almost unchanged instead of normalizing
        # each channel over the batch, and that changes which units fire.
        feed_forward(model, x, training=False)
    finally:
        for handle in handles:
            handle.remove()
    return kernel


def score(model: nn.Module, x: torch.Tensor) -> float:
    """The NASWOT score ``log|det K|`` of ``model`` on the batch ``x`` (``-inf`` when ``K`` is singular)."""
    return float(np.linalg.slogdet(relu_kernel(model, x).cpu().numpy())[1])


# ----- the table and the data --------------------------------------------------------------------------------------
class Candidate(NamedTuple):
    """One row of the NAS-Bench-201 table: the cell, its width and depth, and its trained accuracy (%)."""

    architecture: str
    channels: int
    cells: int
    accuracy: float


def load_table(root_dir: str | None = None) -> dict[int, Candidate]:
    """Read ``nasbench201_info.csv`` (downloaded into ``<root_dir>/NASBench201`` on first use) as uid → row."""
    path = fetch(INFO, data_folder(DATASET, root_dir), DATASET)
    with open(path, newline="") as stream:
        reader = csv.DictReader(stream)
        missing = [column for column in COLUMNS if column not in (reader.fieldnames or [])]
        if missing:
            raise FastestValueError(f"naswot: {path} lacks the columns {missing} (it has {reader.fieldnames}). "
                                    f"Delete it to download the table again.")
        return {int(row["uid"]): Candidate(row["architecture"], int(row["C"]), int(row["N"]), float(row["accuracy"]))
                for row in reader}


def first_batch(train_data: Any, batch_size: int) -> torch.Tensor:
    """The images of the first training batch, normalized with CIFAR's statistics, as (batch, 3, H, W)."""
    pipeline = fe.Pipeline(train_data=train_data, batch_size=batch_size, ops=[
        Normalize(inputs="x", outputs="x", mean=CIFAR_MEAN, std=CIFAR_STD),
        ChannelTranspose(inputs="x", outputs="x"),
    ])
    batch = cast(dict[str, Any], pipeline.get_results())
    return batch["x"]


def ranked(value: float, values: Sequence[float]) -> int:
    """The rank of ``value`` among ``values`` from the top (1 = highest); ties count against it, as in FE."""
    return sum(other >= value for other in values)


# ----- the program -------------------------------------------------------------------------------------------------
def fastestimator_run(batch_size: int = 128, num_archs: int = 1000, save_dir: str | None = None,
                      root_dir: str | None = None, train_data: Any = None, seed: int | None = None) -> dict[str, Any]:
    """Score ``num_archs`` random NAS-Bench-201 architectures without training and compare with their accuracy.

    Args:
        batch_size: Images in the scoring batch (the size of ``K``).
        num_archs: How many architectures of the table to sample (without replacement).
        save_dir: Where the search writes ``naswot.json`` after each architecture; running again with the
            same ``save_dir`` and ``seed`` skips the architectures already scored. None: nothing is saved.
        root_dir: Folder under which ``NASBench201/nasbench201_info.csv`` is kept (and ciFAIR-10, when
            ``train_data`` is None).
        train_data: A dataset of ``{"x": uint8 (H, W, 3) image}`` samples to take the batch from (default:
            ciFAIR-10's training set).
        seed: Seed of the architecture sample (None: a different sample on each run).

    Returns:
        ``tau`` (Kendall's tau of score vs accuracy), ``best_uid``, ``best_score``, ``best_accuracy``,
        ``best_rank`` (1 = the most accurate sampled architecture), ``max_accuracy``, and the per-architecture
        lists ``uids``, ``scores``, ``accuracies`` in sampling order.
    """
    table = load_table(root_dir)
    if not 2 <= num_archs <= len(table):
        raise FastestValueError(f"naswot: num_archs must be between 2 (to correlate scores with accuracies) and the "
                                f"{len(table)} architectures of the table, received {num_archs}.")
    if batch_size < 2:
        raise FastestValueError(f"naswot: batch_size must be at least 2 (K compares pairs of images), received "
                                f"{batch_size}.")
    uids = [int(uid) for uid in np.random.default_rng(seed).choice(sorted(table), size=num_archs, replace=False)]
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    x = first_batch(cifair10.load_data(root_dir)[0] if train_data is None else train_data, batch_size).to(device)

    def score_uid(search_idx: int, uid: int) -> float:
        row = table[uid]
        genotype = parse_architecture(row.architecture)
        model = fe.build(model_fn=lambda: NasBench201Net(genotype, row.channels, row.cells), optimizer_fn=None)
        return score(model.to(device), x)

    search = GridSearch(eval_fn=score_uid, params={"uid": uids}, best_mode="max", name="naswot")
    search.fit(save_dir=save_dir)
    by_uid = {trial["param"]["uid"]: trial["result"]["value"] for trial in search.get_search_summary()}
    scores = [by_uid[uid] for uid in uids]  # a resumed summary may also hold other samples' uids
    accuracies = [table[uid].accuracy for uid in uids]
    best = int(np.argmax(scores))  # the first of equal maxima, as Search.get_best_results picks
    tau = float(stats.kendalltau(accuracies, scores)[0])
    result = {"tau": tau, "best_uid": uids[best], "best_score": scores[best], "best_accuracy": accuracies[best],
              "best_rank": ranked(accuracies[best], accuracies), "max_accuracy": max(accuracies),
              "uids": uids, "scores": scores, "accuracies": accuracies}
    print(f"Kendall's tau between score and accuracy over {num_archs} architectures: {tau:.4f}")
    print(f"Highest accuracy among them: {result['max_accuracy']:.2f}")
    print(f"Best score: uid {uids[best]} ({table[uids[best]].architecture}), score {scores[best]:.2f}, "
          f"accuracy {accuracies[best]:.2f}")
    print(f"By trained accuracy it ranks {result['best_rank']} of {num_archs}.")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--num_archs", type=int, default=1000)
    parser.add_argument("--save_dir", default=None, help="folder for the resumable search summary")
    parser.add_argument("--root_dir", default=None, help="data folder (default: $FASTEST_DATA_DIR or ~/fastest_data)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    fe.enable_deterministic(args.seed)
    fastestimator_run(batch_size=args.batch_size, num_archs=args.num_archs, save_dir=args.save_dir,
                      root_dir=args.root_dir, seed=args.seed)


if __name__ == "__main__":
    main()
