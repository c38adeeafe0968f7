"""NIMA through ONNX Runtime against the float torch network it replaces at scoring time."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file, save_file

from photoqc.models.nima import (
    BACKBONE_NAMES,
    NimaPredictor,
    NimaWeightsError,
    OnnxNima,
    TorchNima,
    packaged_nima_files,
    save_nima,
)
from photoqc.models.nima.network import BACKBONES, NIMA
from photoqc.models.nima.onnx_graph import fold_batch_norm


@pytest.fixture(scope="module")
def photos():
    from photoqc.pipelines.demo import source_photo

    return [source_photo(n) for n in ("astronaut", "coffee", "chelsea", "rocket")]


def test_the_backbone_names_without_torch_are_the_networks_backbones():
    assert set(BACKBONE_NAMES) == set(BACKBONES)


@pytest.mark.parametrize("weights", packaged_nima_files(), ids=lambda p: p.stem)
def test_onnx_runtime_gives_the_torch_networks_scores_and_embeddings(weights, photos):
    torch_predictor = NimaPredictor([weights], runtime="torch")
    onnx_predictor = NimaPredictor([weights], runtime="onnx")
    assert set(onnx_predictor.runtimes.values()) == {"onnx"}
    out_t = torch_predictor.outputs(photos)
    out_o = onnx_predictor.outputs(photos)
    name = onnx_predictor.names[0]
    means_t = np.array([o.scores[name][0] for o in out_t])
    means_o = np.array([o.scores[name][0] for o in out_o])
    # the bar is 0.01 in the mean score; float32 on both sides lands far inside it
    assert np.abs(means_t - means_o).max() < 1e-4
    assert np.ptp(means_t) > 0.05  # the photos differ, so the comparison says something
    for t, o in zip(out_t, out_o, strict=True):
        assert o.embeddings[name].shape == (1024,)
        np.testing.assert_allclose(o.embeddings[name], t.embeddings[name], atol=1e-4, rtol=1e-4)


def test_a_random_network_saved_to_a_file_runs_alike_on_both(tmp_path, photos):
    torch.manual_seed(7)
    model = NIMA("mobilenet_v1").eval()
    with torch.no_grad():  # batch norms that do something, so folding them is tested
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
    path = tmp_path / "nima_random.safetensors"
    save_nima(model, path)
    batch = TorchNima(path).preprocessing.batch(photos)
    emb_t, probs_t = TorchNima(path)(batch)
    emb_o, probs_o = OnnxNima(path)(batch)
    np.testing.assert_allclose(probs_o, probs_t, atol=1e-5)
    np.testing.assert_allclose(emb_o, emb_t, atol=1e-4, rtol=1e-4)
    with torch.no_grad():  # and both are the unchanged network, not only each other
        reference = model(torch.from_numpy(batch)).numpy()
    np.testing.assert_allclose(probs_o, reference, atol=1e-5)


def test_folding_a_batch_norm_gives_the_same_outputs():
    rng = np.random.default_rng(0)
    weight = rng.normal(size=(4, 3, 3, 3)).astype(np.float32)
    gamma, beta = rng.uniform(0.5, 2, 4), rng.normal(size=4)
    mean, var = rng.normal(size=4), rng.uniform(0.1, 2, 4)
    x = torch.from_numpy(rng.normal(size=(1, 3, 8, 8)).astype(np.float32))
    bn = torch.nn.BatchNorm2d(4, eps=1e-3).eval()
    for tensor, value in zip(
        (bn.weight, bn.bias, bn.running_mean, bn.running_var), (gamma, beta, mean, var), strict=True
    ):
        tensor.data = torch.tensor(value, dtype=torch.float32)
    expected = bn(torch.nn.functional.conv2d(x, torch.from_numpy(weight))).detach().numpy()
    folded, bias = fold_batch_norm(weight, gamma, beta, mean, var)
    got = torch.nn.functional.conv2d(x, torch.from_numpy(folded), torch.from_numpy(bias)).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_a_file_whose_tensors_do_not_fit_is_refused_naming_the_tensor(tmp_path):
    path = tmp_path / "nima_bad.safetensors"
    save_nima(NIMA("mobilenet_v1"), path)
    state = load_file(str(path))
    state["backbone.conv_pw_3.weight"] = state["backbone.conv_pw_3.weight"][:64]
    save_file(state, str(path), metadata={"photoqc": json.dumps({"backbone": "mobilenet_v1"})})
    with pytest.raises(NimaWeightsError, match=r"conv_pw_3\.weight"):
        OnnxNima(path)


def test_a_mobilenet_v2_file_runs_on_torch_under_auto(tmp_path):
    path = tmp_path / "nima_v2.safetensors"
    save_nima(NIMA("mobilenet_v2"), path)
    predictor = NimaPredictor([path])
    assert predictor.runtimes == {"v2": "torch"}
    with pytest.raises(NimaWeightsError, match="mobilenet_v2"):
        OnnxNima(path)


START_UP_NEVER_IMPORTS = ("torch", "sklearn", "scipy.stats", "shap", "matplotlib", "ray", "fastapi")
"""What ``photoqc score`` does not need, and each costs start-up time (issue 34)."""


@pytest.mark.slow  # spawns processes
def test_scoring_with_the_default_model_imports_nothing_it_does_not_need(tmp_path, astronaut):
    from PIL import Image

    Image.fromarray(astronaut).save(tmp_path / "a.jpg", quality=90)
    code = (
        "import sys\n"
        "from photoqc.cli import app\n"  # the command line's modules too
        "from photoqc.assess.recipe import RecipeOptions\n"
        "from photoqc.assess.scorer import Scorer\n"
        "from photoqc.models.bundle import default_model_dir\n"
        "scorer, _ = Scorer.from_model(default_model_dir(), RecipeOptions(offline=True))\n"
        f"(row,) = scorer.rows([{str(tmp_path / 'a.jpg')!r}])\n"
        "assert row['status'] == 'ok' and row['nima_technical_mean'] > 1, row\n"
        f"print(*[m for m in {START_UP_NEVER_IMPORTS!r} + ('onnx',) if m in sys.modules])\n"
    )
    env = {**os.environ, "PHOTOQC_CACHE_DIR": str(tmp_path / "cache")}
    runs = [
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
        ).stdout.split()
        for _ in range(2)
    ]
    # The first run builds the networks' graphs (with the onnx package) and keeps them.
    assert runs == [["onnx"], []]
    assert len(list((tmp_path / "cache" / "graphs").glob("*.onnx"))) == 2


def test_a_built_graph_is_kept_and_a_damaged_one_built_again(tmp_path, monkeypatch, photos):
    from photoqc.models.nima import onnx_graph

    monkeypatch.setenv("PHOTOQC_CACHE_DIR", str(tmp_path))
    (path,) = [p for p in packaged_nima_files() if "technical" in p.name]
    first = OnnxNima(path)
    batch = first.preprocessing.batch(photos)
    expected = first.forward(batch, ("probs", "stats"))
    (kept,) = (tmp_path / "graphs").glob("*.onnx")
    built = []
    real = onnx_graph.mobilenet_v1_graph
    monkeypatch.setattr(onnx_graph, "mobilenet_v1_graph", lambda s: built.append(1) or real(s))
    again = OnnxNima(path).forward(batch, ("probs", "stats"))
    assert built == []  # read from the cache
    for key in expected:
        np.testing.assert_array_equal(again[key], expected[key])
    kept.write_bytes(kept.read_bytes()[:1000])  # truncated
    rebuilt = OnnxNima(path).forward(batch, ("probs",))
    assert built == [1] and kept.stat().st_size > 1_000_000
    np.testing.assert_array_equal(rebuilt["probs"], expected["probs"])


def test_a_cache_that_cannot_be_written_only_costs_the_build(tmp_path, monkeypatch, photos):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("PHOTOQC_CACHE_DIR", str(blocker))
    (path,) = [p for p in packaged_nima_files() if "technical" in p.name]
    probs = OnnxNima(path).forward(OnnxNima(path).preprocessing.batch(photos), ("probs",))
    assert probs["probs"].shape == (len(photos), 10) and blocker.read_text() == "not a folder"


def test_nearest_resizing_picks_the_pixels_pillow_picks():
    from PIL import Image

    from photoqc.models.networks import nearest_square

    rng = np.random.default_rng(3)
    sizes = [(500, 500), (3000, 4000), (4000, 3000), (7, 9), (5000, 2), (224, 224)]
    sizes += [tuple(int(v) for v in rng.integers(2, 2500, 2)) for _ in range(30)]
    for h, w in sizes:
        image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        expected = np.asarray(Image.fromarray(image).resize((224, 224), Image.Resampling.NEAREST))
        np.testing.assert_array_equal(nearest_square(image, 224), expected, err_msg=f"{h}x{w}")


@pytest.mark.parametrize("weights", packaged_nima_files(), ids=lambda p: p.stem)
def test_the_multi_level_stats_come_out_of_the_onnx_graph_as_torch_computes_them(weights, photos):
    from photoqc.models.nima.onnx_graph import STATS_WIDTH

    onnx_net, torch_net = OnnxNima(weights), TorchNima(weights)
    batch = onnx_net.preprocessing.batch(photos)
    got = onnx_net.forward(batch, ("stats", "embedding"))
    want = torch_net.forward(batch, ("stats", "embedding"))
    assert got["stats"].shape == (len(photos), STATS_WIDTH) == (4, 11904)
    np.testing.assert_allclose(got["stats"], want["stats"], atol=1e-4, rtol=1e-4)
    # The last block's channel means are the pooled embedding NIMA's head reads.
    np.testing.assert_allclose(got["stats"][:, -2048:-1024], got["embedding"], atol=1e-5)
    spreads = got["stats"][:, 64:128]  # the first block's standard deviations
    assert (spreads >= 0).all() and np.ptp(got["stats"], axis=0).max() > 0.1
    # A second view of another size runs through the same graph (no fixed 224 x 224).
    other = onnx_net.forward(onnx_net.preprocessing.to_array(photos[0][:384, :448]), ("stats",))
    assert other["stats"].shape == (1, STATS_WIDTH)
