"""NIMA: the network, EMD, weight files, idealo imports, training, and NIMA as a feature."""

from __future__ import annotations

import json
import math
import pickle
import shutil
import time
from pathlib import Path

import cv2
import h5py
import numpy as np
import pandas as pd
import pytest
import torch
from conftest import SHARED, encode
from typer.testing import CliRunner

from photoqc.assess.extractor import ExtractConfig, FeatureExtractor
from photoqc.assess.recipe import RecipeOptions
from photoqc.cli import app
from photoqc.errors import PhotoqcError
from photoqc.images import load_image
from photoqc.models.nima import (
    NimaPredictor,
    NimaWeightsError,
    distribution_mean_std,
    load_nima,
    mos_to_distribution,
    packaged_nima_files,
    save_nima,
    votes_to_distribution,
)
from photoqc.models.nima.importer import NimaImportError, import_weights, state_from_tflite
from photoqc.models.nima.network import NIMA, KerasMobileNetV1, emd
from photoqc.models.nima.spec import MOBILENET_V1_BLOCKS
from photoqc.pipelines.batch.inputs import InputItem
from photoqc.pipelines.training.nima_train import (
    NimaTrainConfig,
    Ratings,
    RatingsError,
    read_ratings,
    train_nima,
)
from photoqc.segmentation import SegmenterConfig

NIMA_DIR = SHARED / "weights" / "nima"
runner = CliRunner()


def _one_hot(k: int) -> torch.Tensor:
    p = torch.zeros(10)
    p[k - 1] = 1.0
    return p


@pytest.fixture
def nima_tflite() -> Path:
    if not (NIMA_DIR / "technical_model.tflite").is_file():
        pytest.skip(f"idealo NIMA weights not available: {NIMA_DIR} is absent (beside the repo)")
    return NIMA_DIR


@pytest.fixture
def real_photos(clive_dir) -> list[np.ndarray]:
    paths = sorted((clive_dir / "images").iterdir())[:20]
    return [load_image(p).pixels for p in paths]


# --- EMD and distributions ------------------------------------------------------------


def test_emd_is_zero_for_equal_distributions_and_symmetric():
    rng = np.random.default_rng(0)
    p = torch.tensor(rng.dirichlet(np.ones(10), size=4), dtype=torch.float32)
    q = torch.tensor(rng.dirichlet(np.ones(10), size=4), dtype=torch.float32)
    assert float(emd(p, p)) == pytest.approx(0.0, abs=1e-7)
    assert float(emd(p, q)) == pytest.approx(float(emd(q, p)), abs=1e-7)
    assert float(emd(p, q)) > 0.01


def test_emd_equals_hand_computed_values():
    # All mass at 1 versus all at 10: the CDFs differ by 1 in 9 of 10 buckets.
    assert float(emd(_one_hot(1), _one_hot(10))) == pytest.approx(math.sqrt(9 / 10), abs=1e-6)
    # Half at 1 and half at 2 versus all at 2: one bucket differs by 0.5.
    half = torch.tensor([0.5, 0.5] + [0.0] * 8)
    assert float(emd(half, _one_hot(2))) == pytest.approx(math.sqrt(0.25 / 10), abs=1e-6)
    # r = 1 is the mean absolute CDF difference.
    assert float(emd(_one_hot(3), _one_hot(5), r=1.0)) == pytest.approx(2 / 10, abs=1e-6)
    # A batch is averaged.
    batch = emd(torch.stack([_one_hot(1), half]), torch.stack([_one_hot(10), _one_hot(2)]))
    assert float(batch) == pytest.approx((math.sqrt(0.9) + math.sqrt(0.025)) / 2, abs=1e-6)


def test_distribution_mean_and_std():
    mean, std = distribution_mean_std(np.array([[0.5] + [0] * 8 + [0.5], [0] * 4 + [1] + [0] * 5]))
    np.testing.assert_allclose(mean, [5.5, 5.0])
    np.testing.assert_allclose(std, [4.5, 0.0])


def test_mos_to_distribution_keeps_mean_and_spread_away_from_the_ends():
    dist = mos_to_distribution(np.array([50.0, 20.0, 95.0]), np.array([11.1, 11.1, 5.0]), (0, 100))
    np.testing.assert_allclose(dist.sum(axis=1), 1.0)
    mean, std = distribution_mean_std(dist)
    assert mean[0] == pytest.approx(5.5, abs=0.01)  # 50 on 0..100 is 5.5 on 1..10
    assert mean[1] == pytest.approx(1 + 0.2 * 9, abs=0.05)
    assert std[0] == pytest.approx(1.0, abs=0.1)  # 11.1 * 9 / 100
    assert 9.0 < mean[2] < 1 + 0.95 * 9  # folding the tail pulls the end inwards


def test_votes_are_normalised_and_bad_votes_refused():
    np.testing.assert_allclose(
        votes_to_distribution(np.array([[0, 0, 2, 2, 0, 0, 0, 0, 0, 0]]))[0, 2:4], 0.5
    )
    with pytest.raises(ValueError):
        votes_to_distribution(np.zeros((1, 10)))


# --- the network ----------------------------------------------------------------------


def test_mobilenet_v1_has_keras_parameter_count_and_output_size():
    net = KerasMobileNetV1()
    trainable = sum(p.numel() for p in net.parameters())
    statistics = sum(b.numel() for n, b in net.named_buffers() if "running" in n)
    # keras.applications.MobileNet(alpha=1.0, include_top=False): 3,228,864 parameters,
    # 21,888 of them batch-norm moving statistics.
    assert trainable + statistics == 3_228_864
    assert statistics == 21_888
    features = net(torch.zeros(1, 3, 224, 224))
    assert features.shape == (1, MOBILENET_V1_BLOCKS[-1][0])


def test_nima_outputs_distributions():
    model = NIMA("mobilenet_v1").eval()
    x = model.preprocessing(
        [np.zeros((50, 80, 3), np.uint8), np.full((300, 200, 3), 255, np.uint8)]
    )
    assert x.shape == (2, 3, 224, 224) and float(x.min()) == -1.0 and float(x.max()) == 1.0
    probs = model(x)
    assert probs.shape == (2, 10)
    torch.testing.assert_close(probs.sum(dim=1), torch.ones(2))


# --- weight files ---------------------------------------------------------------------


def test_save_load_round_trip_gives_identical_outputs(tmp_path, astronaut, chelsea):
    torch.manual_seed(1)
    model = NIMA("mobilenet_v1").eval()
    path = tmp_path / "nima_technical.safetensors"
    save_nima(model, path, trained_on="test data")
    loaded, meta = load_nima(path)
    assert meta["name"] == "technical" and meta["backbone"] == "mobilenet_v1"
    assert meta["trained_on"] == "test data"
    x = model.preprocessing([astronaut, chelsea])
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    # Without its JSON the description comes from the safetensors header.
    path.with_suffix(".json").unlink()
    _, meta = load_nima(path)
    assert meta["name"] == "technical"


def test_pt_state_dict_loads_with_weights_only(tmp_path, astronaut):
    torch.manual_seed(2)
    model = NIMA("mobilenet_v1").eval()
    path = tmp_path / "nima_mine.pt"
    torch.save(model.state_dict(), path)
    loaded, meta = load_nima(path)
    assert meta["name"] == "mine"
    x = model.preprocessing([astronaut])
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))


def test_a_pickled_object_is_never_run(tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ("this must never run",))

    path = tmp_path / "nima_evil.pt"
    torch.save({"head.weight": Payload()}, path)
    with pytest.raises(NimaWeightsError, match="cannot read weights"):
        load_nima(path)
    assert issubclass(pickle.UnpicklingError, Exception)


def test_weights_for_another_backbone_are_a_clear_error(tmp_path):
    v2 = NIMA("mobilenet_v2")
    path = tmp_path / "nima_v2.safetensors"
    save_nima(v2, path)
    with pytest.raises(NimaWeightsError, match="backbone 'mobilenet_v2', not 'mobilenet_v1'"):
        load_nima(path, expected_backbone="mobilenet_v1")
    # A description edited to claim another backbone is caught by the tensors.
    meta = json.loads(path.with_suffix(".json").read_text())
    meta["backbone"] = "mobilenet_v1"
    path.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(NimaWeightsError, match="tensors are for 'mobilenet_v2'"):
        load_nima(path)


def test_missing_or_corrupt_weights_are_clear_errors(tmp_path):
    with pytest.raises(NimaWeightsError, match="not found"):
        load_nima(tmp_path / "nima_none.safetensors")
    bad = tmp_path / "nima_bad.safetensors"
    bad.write_bytes(b"\x00" * 64)
    with pytest.raises(NimaWeightsError):
        load_nima(bad)


# --- importing idealo's weights -------------------------------------------------------


def _write_keras_h5(model: NIMA, path: Path) -> None:
    """Write ``model`` the way Keras' save_weights lays out idealo's NIMA file."""
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    with h5py.File(path, "w") as f:
        base = f.create_group("mobilenet_1.00_224").create_group("mobilenet_1.00_224")
        for key in state:
            if not key.startswith("backbone.") or not key.endswith(".weight") or "_bn" in key:
                continue
            layer = key.split(".")[1]
            w = state[key]
            group = base.create_group(layer)
            if layer.startswith("conv_dw"):
                group["depthwise_kernel:0"] = w.transpose(2, 3, 0, 1)
            else:
                group["kernel:0"] = w.transpose(2, 3, 1, 0)
            bn = base.create_group(f"{layer}_bn")
            prefix = f"backbone.{layer}_bn."
            bn["gamma:0"] = state[prefix + "weight"]
            bn["beta:0"] = state[prefix + "bias"]
            bn["moving_mean:0"] = state[prefix + "running_mean"]
            bn["moving_variance:0"] = state[prefix + "running_var"]
        dense = f.create_group("dense_1").create_group("dense_1")
        dense["kernel:0"] = state["head.weight"].T
        dense["bias:0"] = state["head.bias"]


def test_keras_h5_import_reproduces_the_network(tmp_path, chelsea):
    torch.manual_seed(3)
    model = NIMA("mobilenet_v1").eval()
    with torch.no_grad():  # non-trivial batch-norm statistics, so a mix-up would show
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    path = tmp_path / "weights_mobilenet_technical_0.11.hdf5"
    _write_keras_h5(model, path)
    imported = NIMA("mobilenet_v1").eval()
    imported.load_state_dict(import_weights(path))
    x = model.preprocessing([chelsea])
    with torch.no_grad():
        torch.testing.assert_close(model(x), imported(x))


def test_non_model_files_are_refused(tmp_path):
    text = tmp_path / "model.tflite"
    text.write_bytes(b"not a flatbuffer at all" * 10)
    with pytest.raises(NimaImportError):
        import_weights(text)
    empty_h5 = tmp_path / "model.hdf5"
    with h5py.File(empty_h5, "w") as f:
        f.create_group("nothing")
    with pytest.raises(NimaImportError, match="no weight"):
        import_weights(empty_h5)
    with pytest.raises(NimaImportError, match=r"expected a \.tflite"):
        import_weights(tmp_path / "model.onnx")


@pytest.mark.slow
@pytest.mark.parametrize("source", ["imported", "shipped"])
@pytest.mark.parametrize("name", ["technical", "aesthetic"])
def test_weights_match_the_tflite_interpreter_on_real_photos(
    nima_tflite, real_photos, name, source
):
    """Imported from the .tflite here, or shipped in the package (float16): both give
    idealo's scores."""
    interpreter_module = pytest.importorskip(
        "ai_edge_litert.interpreter", reason="ai-edge-litert not installed"
    )
    path = nima_tflite / f"{name}_model.tflite"
    if source == "imported":
        model = NIMA("mobilenet_v1").eval()
        model.load_state_dict(state_from_tflite(path.read_bytes()))
    else:
        (shipped,) = [p for p in packaged_nima_files() if p.stem == f"nima_{name}"]
        model, meta = load_nima(shipped)
        assert meta["name"] == name and meta["source"]["file"] == path.name
    interpreter = interpreter_module.Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    source_in, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    assert len(real_photos) >= 20
    x = model.preprocessing(real_photos)
    with torch.no_grad():
        ours = model(x).float().numpy()
    theirs = []
    for item in x.permute(0, 2, 3, 1).numpy():
        interpreter.set_tensor(source_in["index"], item[None].astype(np.float32))
        interpreter.invoke()
        theirs.append(interpreter.get_tensor(target["index"])[0].copy())
    theirs = np.array(theirs)
    assert np.abs(ours - theirs).max() <= 0.02
    assert np.abs(distribution_mean_std(ours)[0] - distribution_mean_std(theirs)[0]).max() <= 0.05
    # Not a trivial match: the photos get different scores.
    assert np.ptp(distribution_mean_std(ours)[0]) > 0.3


def test_the_shipped_weights_carry_their_licence_and_attribution():
    files = packaged_nima_files()
    assert sorted(p.stem for p in files) == ["nima_aesthetic", "nima_technical"]
    folder = files[0].parent
    licence = (folder / "LICENSE-NIMA-WEIGHTS").read_text()
    assert "Apache License" in licence and "Version 2.0" in licence
    notice = (folder / "NOTICE").read_text()
    assert "idealo" in notice and "image-quality-assessment" in notice
    for path in files:
        model, meta = load_nima(path)
        assert isinstance(model, NIMA)
        assert meta["backbone"] == "mobilenet_v1" and "idealo" in meta["trained_on"]


def test_cli_import_writes_safetensors_and_description(nima_tflite, tmp_path):
    out = tmp_path / "nima_technical.safetensors"
    result = runner.invoke(
        app, ["nima", "import", str(nima_tflite / "technical_model.tflite"), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["backbone"] == "mobilenet_v1" and meta["name"] == "technical"
    assert (
        meta["source"]["sha256"]
        == "c5ed895dcd58ac0e23b9057118c184cd3a9ee78182547ac8ebaf7492ab9f52f2"
    )
    assert "TID2013" in meta["trained_on"]
    assert meta["preprocessing"] == {"size": 224, "resample": "nearest", "scaling": "tf"}
    model, _ = load_nima(out)
    assert isinstance(model, NIMA)


# --- NIMA as a feature ----------------------------------------------------------------


def _items(tmp_path, images) -> list[InputItem]:
    items = []
    for i, image in enumerate(images):
        path = tmp_path / f"p{i}.png"
        path.write_bytes(encode(image))
        items.append(InputItem(str(path), path))
    return items


def test_without_nima_weights_the_features_are_nan_and_marked_off(tmp_path, astronaut):
    extractor = FeatureExtractor(ExtractConfig(segmenter=SegmenterConfig(kind="none")))
    row = extractor.row(_items(tmp_path, [astronaut])[0])
    assert row["status"] == "ok" and row["nima"] == "off"
    for name in ("technical", "aesthetic"):
        assert math.isnan(row[f"nima_{name}_mean"]) and math.isnan(row[f"nima_{name}_std"])


def test_cli_warns_once_when_the_shipped_weights_are_missing(tmp_path, astronaut, monkeypatch):
    import photoqc.models.nima.weights as nima_weights

    monkeypatch.delenv("PHOTOQC_WEIGHTS_DIR", raising=False)
    monkeypatch.setattr(nima_weights, "packaged_nima_files", lambda: ())
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.png").write_bytes(encode(astronaut))
    result = runner.invoke(
        app, ["features", str(folder), "-o", str(tmp_path / "f.csv"), "-s", "none"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("NIMA is off") == 1
    table = pd.read_csv(tmp_path / "f.csv")
    assert table["nima"].tolist() == ["off"] and table["nima_aesthetic_mean"].isna().all()


def test_nima_is_on_by_default_and_off_on_request(tmp_path, astronaut, monkeypatch):
    monkeypatch.delenv("PHOTOQC_WEIGHTS_DIR", raising=False)
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.png").write_bytes(encode(astronaut))
    on, off = tmp_path / "on.csv", tmp_path / "off.csv"
    result = runner.invoke(app, ["features", str(folder), "-o", str(on), "-s", "none"])
    assert result.exit_code == 0 and "NIMA is off" not in result.output, result.output
    row = pd.read_csv(on).iloc[0]
    assert 1.0 < row["nima_technical_mean"] < 10.0 and 1.0 < row["nima_aesthetic_mean"] < 10.0
    result = runner.invoke(
        app, ["features", str(folder), "-o", str(off), "-s", "none", "--no-nima"]
    )
    assert result.exit_code == 0 and "NIMA is off" not in result.output, result.output
    row = pd.read_csv(off).iloc[0]
    assert row["nima"] == "off" and math.isnan(row["nima_technical_mean"])


def test_configured_nima_models_fill_their_columns_in_batches(tmp_path, astronaut, chelsea, coffee):
    torch.manual_seed(4)
    weights = tmp_path / "nima_technical.safetensors"
    save_nima(NIMA("mobilenet_v1").eval(), weights)
    images = [astronaut, chelsea, coffee]
    config, warnings = ExtractConfig.resolve(
        RecipeOptions(segmenter="none", nima_weights=(str(weights),), batch_size=2)
    )
    assert not warnings and config.nima_models == ("technical", "aesthetic")
    rows = FeatureExtractor(config).rows(
        [*_items(tmp_path, images), InputItem("gone", tmp_path / "gone.png")]
    )
    assert [r["status"] for r in rows] == ["ok", "ok", "ok", "error"]
    expected = NimaPredictor([weights]).scores(images)
    for row, scores in zip(rows, expected, strict=False):
        assert row["nima"] == "technical=nima_technical.safetensors"
        assert row["nima_technical_mean"] == pytest.approx(scores["technical"][0], abs=1e-5)
        assert 1 <= row["nima_technical_mean"] <= 10 and row["nima_technical_std"] > 0
        assert math.isnan(row["nima_aesthetic_mean"])  # not configured


def test_cli_refuses_a_nima_file_for_an_unknown_backbone(tmp_path, astronaut):
    bad = tmp_path / "nima_x.safetensors"
    save_nima(NIMA("mobilenet_v1"), bad)
    meta = json.loads(bad.with_suffix(".json").read_text())
    meta["backbone"] = "resnet_9000"
    bad.with_suffix(".json").write_text(json.dumps(meta))
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.png").write_bytes(encode(astronaut))
    result = runner.invoke(
        app,
        [
            "features",
            str(folder),
            "-o",
            str(tmp_path / "f.csv"),
            "-s",
            "none",
            "--nima-weights",
            str(bad),
        ],
    )
    assert result.exit_code == 1 and "resnet_9000" in result.output


# --- ratings and training -------------------------------------------------------------


def test_ratings_problems_are_reported_together_with_line_numbers(tmp_path, astronaut):
    (tmp_path / "a.png").write_bytes(encode(astronaut))
    csv = tmp_path / "r.csv"
    csv.write_text("image,mos\na.png,5\nmissing.png,6\na.png,abc\na.png,42\n")
    with pytest.raises(RatingsError) as info:
        read_ratings(csv)
    message = str(info.value)
    assert "3 problem(s)" in message
    assert "line 3: file not found" in message
    assert "line 4: missing or non-numeric" in message
    assert "line 5: mos 42 outside" in message
    good = tmp_path / "g.csv"
    good.write_text("image,mos,std\na.png,42,10\n")
    parsed = read_ratings(good, mos_range=(0, 100))
    assert parsed.kind == "mos" and parsed.targets.shape == (1, 10)


def _small_ratings(tmp_path, photos) -> Ratings:
    """Photos and blurred/darkened copies with votes that favour the originals."""
    paths, targets = [], []
    for i, photo in enumerate(photos):
        for j, (image, centre) in enumerate(
            [
                (photo, 7),
                (cv2.GaussianBlur(photo, (0, 0), 4), 3),
                ((photo * 0.3).astype(np.uint8), 2),
            ]
        ):
            path = tmp_path / f"r{i}_{j}.png"
            path.write_bytes(encode(image))
            paths.append(path)
            votes = np.exp(-0.5 * ((np.arange(1, 11) - centre) / 1.2) ** 2)
            targets.append(votes / votes.sum())
    return Ratings(paths, np.array(targets), "votes")


@pytest.mark.slow
def test_interrupted_then_resumed_training_finishes_like_an_uninterrupted_run(
    tmp_path, astronaut, chelsea, coffee
):
    ratings = _small_ratings(tmp_path, [astronaut, chelsea, coffee])
    config = NimaTrainConfig(
        backbone="mobilenet_v1",
        epochs_head=2,
        epochs_all=1,
        batch_size=4,
        max_steps_per_epoch=2,
        val_fraction=0.3,
        allow_download=False,
    )
    straight = train_nima(ratings, tmp_path / "straight", config)

    def stop_after_first(epoch, metrics):
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_nima(ratings, tmp_path / "resumed", config, on_epoch=stop_after_first)
    assert (tmp_path / "resumed" / "checkpoint.pt").is_file()
    assert not (tmp_path / "resumed" / "nima_custom.safetensors").exists()
    resumed = train_nima(ratings, tmp_path / "resumed", config)
    assert resumed.resumed_from_epoch == 1
    assert len(resumed.history) == len(straight.history) == 4  # before + 3 epochs
    a, _ = load_nima(straight.weights)
    b, _ = load_nima(resumed.weights)
    for (key, ta), tb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(ta, tb), key
    meta = json.loads(resumed.weights.with_suffix(".json").read_text())
    assert set(meta["validation"]) >= {"emd", "lcc", "srcc"}


@pytest.mark.slow
def test_resume_refuses_a_checkpoint_with_other_settings(tmp_path, astronaut, chelsea):
    ratings = _small_ratings(tmp_path, [astronaut, chelsea])
    config = NimaTrainConfig(
        epochs_head=1, epochs_all=0, batch_size=4, max_steps_per_epoch=1, allow_download=False
    )
    train_nima(ratings, tmp_path / "run", config)
    with pytest.raises(PhotoqcError, match="other settings"):
        train_nima(
            ratings, tmp_path / "run", NimaTrainConfig(**{**config.__dict__, "lr_head": 0.5})
        )


@pytest.mark.slow
def test_fine_tuning_imported_technical_model_lowers_validation_emd(
    nima_tflite, clive_dir, tmp_path
):
    weights = tmp_path / "nima_technical.safetensors"
    model = NIMA("mobilenet_v1")
    model.load_state_dict(import_weights(nima_tflite / "technical_model.tflite"))
    save_nima(model, weights)
    table = pd.read_csv(clive_dir / "labels.csv").head(96)
    csv = tmp_path / "ratings.csv"
    table.assign(image=[str(clive_dir / p) for p in table["image"]]).to_csv(csv, index=False)
    ratings = read_ratings(csv, mos_range=(0, 100))
    config = NimaTrainConfig(
        init=str(weights),
        name="clive",
        epochs_head=2,
        epochs_all=0,
        batch_size=16,
        val_fraction=0.25,
    )
    result = train_nima(ratings, tmp_path / "ft", config)
    before = result.history[0]["emd"]
    assert result.metrics["emd"] < before - 0.01, (before, result.metrics)


@pytest.mark.slow
def test_importing_the_same_weights_twice_gives_the_same_file(nima_tflite, tmp_path):
    # Models and the feature cache name NIMA files by sha256: a re-import must match.
    from photoqc.models.nima import sha256_of

    source = nima_tflite / "technical_model.tflite"
    outputs = [tmp_path / f"{d}" / "nima_technical.safetensors" for d in ("a", "b")]
    for out in outputs:
        result = runner.invoke(app, ["nima", "import", str(source), "--out", str(out)])
        assert result.exit_code == 0, result.output
        time.sleep(1.1)  # creation times (seconds) differ between the two imports
    assert sha256_of(outputs[0]) == sha256_of(outputs[1])
    assert "created" in json.loads(outputs[0].with_suffix(".json").read_text())


def test_nima_columns_are_named_by_the_weights_not_the_file_name(tmp_path, astronaut):
    # Found in a user trial: weights imported to `tech.safetensors` filled nima_tech_* and
    # left nima_technical_* empty.
    torch.manual_seed(1)
    weights = tmp_path / "tech.safetensors"
    save_nima(NIMA("mobilenet_v1").eval(), weights, name="technical")
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.png").write_bytes(encode(astronaut))
    out = tmp_path / "f.csv"
    result = runner.invoke(
        app,
        ["features", str(folder), "-o", str(out), "-s", "none", "--nima-weights", str(weights)],
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert table["nima_technical_mean"].notna().all()
    assert not [c for c in table.columns if c.startswith("nima_tech_")]


def test_import_names_the_model_by_what_the_file_is(nima_tflite, tmp_path):
    # The file renamed beyond recognition is still known by its contents.
    renamed = tmp_path / "weights.tflite"
    shutil.copy(nima_tflite / "technical_model.tflite", renamed)
    out = tmp_path / "tech.safetensors"
    result = runner.invoke(app, ["nima", "import", str(renamed), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.with_suffix(".json").read_text())["name"] == "technical"
    assert "nima_technical_mean" in result.output


def test_import_of_an_unknown_file_asks_for_a_name(tmp_path):
    from photoqc.pipelines.training.nima_import import import_nima

    unknown = tmp_path / "weights.tflite"
    unknown.write_bytes(b"not a model")
    with pytest.raises(NimaImportError, match="--name"):
        import_nima(unknown, tmp_path / "w.safetensors")
