"""The NASWOT app: NAS-Bench-201 genotypes and networks, the ReLU-code kernel and score, and the search on tiny data."""

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from fastest.dataset import NumpyDataset, download
from fastest.errors import FastestValueError
from tests.apphub.apps import load_script
from tests.dataset.data.conftest import DataServer

SCRIPT = Path(__file__).resolve().parents[2] / "apphub/neural_architecture_search/naswot/naswot.py"
ARCHS = {  # uid -> (architecture, accuracy): rows in the real table's format (the accuracies are made up)
    0: ("|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|", 81.52),
    1: ("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|", 90.51),
    3: ("|avg_pool_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|skip_connect~2|", 83.88),
    7: ("|none~0|+|skip_connect~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|", 88.77),
    10: ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|none~0|none~1|none~2|", 10.0),
    53: ("|avg_pool_3x3~0|+|avg_pool_3x3~0|skip_connect~1|+|avg_pool_3x3~0|skip_connect~1|skip_connect~2|", 34.2),
    12: ("|none~0|+|none~0|none~1|+|none~0|nor_conv_3x3~1|avg_pool_3x3~2|", 10.0),  # every sample codes alike
}
ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"


@pytest.fixture(scope="module")
def app():
    return load_script(SCRIPT, "naswot_app")


def info_csv(rows=ARCHS, channels=4, cells=1) -> bytes:
    """The table in the real file's column order: uid,architecture,accuracy,loss,C,N."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["uid", "architecture", "accuracy", "loss", "C", "N"])
    writer.writerows([uid, arch, acc, 0.5, channels, cells] for uid, (arch, acc) in rows.items())
    return out.getvalue().encode()


def images(n=12, seed=0):
    rng = np.random.default_rng(seed)
    return NumpyDataset({"x": rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)})


def relu_codes(model, x):
    """Brute force: every nn.ReLU output of one forward pass in eval mode, as one (samples, units) bool array."""
    outputs = []
    handles = [m.register_forward_hook(lambda m, i, o: outputs.append(o.flatten(1) > 0))
               for m in model.modules() if isinstance(m, nn.ReLU)]
    model.eval()
    with torch.no_grad():
        model(x)
    for handle in handles:
        handle.remove()
    return torch.cat(outputs, dim=1).numpy()


def test_architecture_strings_round_trip_and_bad_ones_are_refused(app):
    for arch, _ in ARCHS.values():
        genotype = app.parse_architecture(arch)
        assert [len(node) for node in genotype] == [1, 2, 3]
        assert app.format_architecture(genotype) == arch
    assert app.parse_architecture(ARCHS[7][0])[2] == (("skip_connect", 0), ("nor_conv_3x3", 1), ("nor_conv_3x3", 2))
    bad = {"|conv_5x5~0|": "'conv_5x5~0'", "|none~1|": "'none~1'", "|none~0|+|none~0|none~x|": "'none~x'",
           "none~0": "does not start and end", "|none~0|+": "node 2", "|none0|": "'none0'", "": "not a non-empty"}
    for text, why in bad.items():
        with pytest.raises(FastestValueError, match="cannot read the architecture string") as error:
            app.parse_architecture(text)
        assert why in str(error.value) and "nor_conv_3x3" in str(error.value)  # lists the ops


def test_network_shapes_and_an_all_none_cell(app):
    torch.manual_seed(0)
    x = torch.randn(3, 3, 32, 32)
    net = app.NasBench201Net(app.parse_architecture(ARCHS[1][0]), channels=4, cells=2)
    assert net(x).shape == (3, 10)
    assert net.layers[-1].in_features == 16  # 4 * C after two reductions
    assert sum(isinstance(m, app.Cell) for m in net.modules()) == 6 and sum(
        isinstance(m, app.ReductionBlock) for m in net.modules()) == 2
    # the stem, the genotype's 3 nor_conv edges in each of the 6 cells, 3 convs in each reduction block
    convs = sum(isinstance(m, nn.Conv2d) for m in net.modules())
    assert convs == 1 + 6 * 3 + 2 * 3
    # every edge is `none`: the cells output zeros, so in eval mode each sample's logits are the classifier's bias
    empty = app.NasBench201Net(app.parse_architecture(ALL_NONE), channels=4, cells=1).eval()
    with torch.no_grad():
        out = empty(x)
    assert out.shape == (3, 10) and torch.allclose(out, empty.layers[-1].bias.expand(3, 10))


def test_kernel_counts_agreeing_relu_units_and_score_is_its_log_determinant(app):
    torch.manual_seed(1)
    net = app.NasBench201Net(app.parse_architecture(ARCHS[0][0]), channels=4, cells=1)
    x = torch.randn(6, 3, 32, 32)
    kernel = app.relu_kernel(net, x)
    assert kernel.dtype == torch.float64 and kernel.shape == (6, 6)
    codes = relu_codes(net, x)
    units = codes.shape[1]
    cells = 2 * (4 * 32 * 32 + 8 * 16 * 16 + 16 * 8 * 8)  # two nor_conv edges per cell, one cell per stage
    reductions = (4 * 32 * 32 + 8 * 16 * 16) + (8 * 16 * 16 + 16 * 8 * 8)  # each block's two convs' inputs
    assert units == cells + reductions + 16 * 8 * 8  # + the ReLU before global pooling
    brute = np.array([[np.sum(codes[i] == codes[j]) for j in range(6)] for i in range(6)], dtype=np.float64)
    np.testing.assert_array_equal(kernel.numpy(), brute)
    assert torch.equal(kernel, kernel.T) and torch.all(torch.diagonal(kernel) == units)
    assert app.score(net, x) == pytest.approx(np.linalg.slogdet(brute)[1], rel=1e-12)
    assert all(not m._forward_hooks for m in net.modules()) and not net.training  # hooks gone; FE's eval mode
    assert np.isfinite(app.score(net, x))
    # two identical images make K singular
    assert app.score(net, torch.cat([x[:3], x[:1]])) == -np.inf
    with pytest.raises(FastestValueError, match="no nn.ReLU modules"):
        app.relu_kernel(nn.Linear(2, 2), torch.zeros(2, 2))


def test_search_scores_each_sampled_architecture_once_and_reports_the_best(app, tmp_path, capsys):
    folder = tmp_path / "data" / "NASBench201"
    folder.mkdir(parents=True)
    (folder / "nasbench201_info.csv").write_bytes(info_csv())
    run = dict(batch_size=8, num_archs=6, save_dir=str(tmp_path / "search"), root_dir=str(tmp_path / "data"),
               train_data=images(), seed=3)
    torch.manual_seed(0)
    result = app.fastestimator_run(**run)
    printed = capsys.readouterr().out
    uids, scores, accuracies = result["uids"], result["scores"], result["accuracies"]
    assert len(set(uids)) == 6 and set(uids) <= set(ARCHS)
    assert accuracies == [ARCHS[uid][1] for uid in uids] and result["max_accuracy"] == max(accuracies)
    assert printed.count("FastEstimator-Search: Evaluated") == 6
    saved = json.loads((tmp_path / "search" / "naswot.json").read_text())
    assert saved["best_mode"] == "max"
    assert [t["param"]["uid"] for t in saved["search_summary"]] == uids
    assert [t["result"]["value"] for t in saved["search_summary"]] == scores
    best = int(np.argmax(scores))
    assert (result["best_uid"], result["best_score"], result["best_accuracy"]) == (uids[best], max(scores),
                                                                                    accuracies[best])
    assert result["best_rank"] == sum(acc >= accuracies[best] for acc in accuracies)  # FE's rank: ties count
    assert -1 <= result["tau"] <= 1 and result["tau"] == pytest.approx(stats.kendalltau(accuracies, scores)[0])
    assert f"ranks {result['best_rank']} of 6" in printed and f"uid {result['best_uid']}" in printed
    # the sample holds uid 12, whose cells feed every ReLU the same zeros: K has rank 1, the score is -inf
    assert 12 in uids and scores[uids.index(12)] == -np.inf
    assert all(np.isfinite(score) for uid, score in zip(uids, scores) if uid != 12)

    torch.manual_seed(1)  # other weights: a rescored architecture would change its score
    again = app.fastestimator_run(**run)
    assert "Evaluated" not in capsys.readouterr().out and again == result  # resumed from save_dir: nothing rerun

    with pytest.raises(FastestValueError, match="num_archs must be between 2 .* 7 architectures"):
        app.fastestimator_run(**{**run, "num_archs": 8})
    with pytest.raises(FastestValueError, match="batch_size must be at least 2"):
        app.fastestimator_run(**{**run, "batch_size": 1})


def test_table_is_downloaded_once_from_the_mirror(app, tmp_path, monkeypatch):
    server = DataServer()
    try:
        monkeypatch.setenv(download.MIRROR_VARIABLE, server.url)
        monkeypatch.delenv(download.DATA_DIR_VARIABLE, raising=False)
        path = server.publish("NASBench201", "nasbench201_info.csv", info_csv(channels=16, cells=5))
        table = app.load_table(root_dir=str(tmp_path))
        table = app.load_table(root_dir=str(tmp_path))
        assert server.gets[path] == 1 and (tmp_path / "NASBench201" / "nasbench201_info.csv").is_file()
        assert sorted(table) == sorted(ARCHS)
        assert table[10] == app.Candidate(ARCHS[10][0], 16, 5, 10.0)
        server.publish("Broken", "nasbench201_info.csv", b"uid,architecture,loss\n0,|none~0|,1.0\n")
        monkeypatch.setattr(app, "DATASET", "Broken")
        with pytest.raises(FastestValueError, match=r"lacks the columns \['accuracy', 'C', 'N'\]"):
            app.load_table(root_dir=str(tmp_path))
    finally:
        server.close()
