"""Segmenters: the main-object rule, weight resolution, Mask R-CNN wiring, GrabCut quality."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from conftest import synthetic_scene

from photoqc.segmentation import (
    GrabCutSegmenter,
    NoSegmenter,
    SegmenterConfig,
    build_segmenter,
    resolve_segmenter,
)
from photoqc.segmentation.maskrcnn import (
    VARIANTS,
    MaskRCNNSegmenter,
    build_maskrcnn,
    choose_main_object,
    untrained_maskrcnn,
)
from photoqc.weights import WeightsNotFoundError, resolve_weights_file

V1_FILE = VARIANTS["v1"].filename


@pytest.fixture(scope="session")
def random_maskrcnn_dir(tmp_path_factory):
    """A weights folder holding a randomly initialised Mask R-CNN v1 state dict under the
    file name torchvision publishes, so the real loading path is exercised offline."""
    folder = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    model = untrained_maskrcnn("v1")
    torch.save(model.state_dict(), folder / V1_FILE)
    return folder


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    """Point the torch hub cache at an empty folder and forbid downloads."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("PHOTOQC_OFFLINE", "1")
    monkeypatch.delenv("PHOTOQC_WEIGHTS_DIR", raising=False)
    return tmp_path / "torch" / "hub" / "checkpoints"


# --- the main-object rule -------------------------------------------------------------

SIZE = (400, 300)  # width, height


def test_most_confident_of_equal_objects_wins():
    boxes = [[150, 100, 250, 200]] * 3
    assert choose_main_object([0.6, 0.95, 0.7], boxes, [0.1, 0.1, 0.1], SIZE) == 1


def test_larger_object_wins_at_equal_confidence_and_place():
    boxes = [[190, 140, 210, 160], [100, 50, 300, 250]]
    assert choose_main_object([0.9, 0.9], boxes, [0.01, 0.3], SIZE) == 1


def test_centred_object_beats_corner_one_of_the_same_size_and_confidence():
    boxes = [[0, 0, 80, 60], [160, 120, 240, 180]]
    assert choose_main_object([0.9, 0.9], boxes, [0.04, 0.04], SIZE) == 1


def test_large_off_centre_object_beats_small_centred_one():
    boxes = [[0, 0, 250, 200], [190, 140, 210, 160]]
    assert choose_main_object([0.9, 0.9], boxes, [0.4, 0.005], SIZE) == 0


def test_confidence_below_threshold_or_empty_area_never_chosen():
    boxes = [[150, 100, 250, 200], [160, 110, 240, 190]]
    assert choose_main_object([0.3, 0.99], boxes, [0.5, 0.0], SIZE, min_score=0.5) is None
    assert choose_main_object([0.3, 0.6], boxes, [0.5, 0.01], SIZE, min_score=0.5) == 1
    assert choose_main_object([], np.zeros((0, 4)), [], SIZE) is None


# --- weight resolution ----------------------------------------------------------------


def test_explicit_folder_wins_over_hub_cache(tmp_path, empty_hub):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "w-abc.pth").write_bytes(b"x")
    empty_hub.mkdir(parents=True)
    (empty_hub / "w-abc.pth").write_bytes(b"y")
    found = resolve_weights_file(
        "w-abc.pth", "https://example.invalid/w-abc.pth", what="W", weights_dir=mine
    )
    assert found == mine / "w-abc.pth"


def test_environment_folder_then_hub_cache(tmp_path, empty_hub, monkeypatch):
    empty_hub.mkdir(parents=True)
    (empty_hub / "w-abc.pth").write_bytes(b"y")
    url = "https://example.invalid/w-abc.pth"
    assert resolve_weights_file("w-abc.pth", url, what="W") == empty_hub / "w-abc.pth"
    env_dir = tmp_path / "env"
    env_dir.mkdir()
    (env_dir / "w-abc.pth").write_bytes(b"z")
    monkeypatch.setenv("PHOTOQC_WEIGHTS_DIR", str(env_dir))
    assert resolve_weights_file("w-abc.pth", url, what="W") == env_dir / "w-abc.pth"


def test_missing_weights_error_names_file_url_and_where_to_put_it(tmp_path, empty_hub):
    with pytest.raises(WeightsNotFoundError) as info:
        MaskRCNNSegmenter("v1", weights_dir=tmp_path, allow_download=False)
    message = str(info.value)
    assert V1_FILE in message
    assert VARIANTS["v1"].weights.url in message
    assert str(empty_hub) in message
    assert "--weights-dir" in message and "PHOTOQC_WEIGHTS_DIR" in message
    assert str(tmp_path / V1_FILE) in message  # where it looked


def test_auto_falls_back_to_fastcut_with_a_warning_when_weights_are_missing(empty_hub):
    from photoqc.segmentation.fastcut import FastCutSegmenter

    config, warning = resolve_segmenter(SegmenterConfig(kind="auto"))
    assert config.kind == "fastcut"
    assert warning and "falling back to fastcut" in warning and V1_FILE in warning
    assert isinstance(build_segmenter(config), FastCutSegmenter)


def test_maskrcnn_without_weights_is_an_error_not_a_fallback(empty_hub):
    with pytest.raises(WeightsNotFoundError):
        resolve_segmenter(SegmenterConfig(kind="maskrcnn"))


def test_auto_picks_maskrcnn_when_weights_are_in_the_folder(random_maskrcnn_dir, empty_hub):
    config, warning = resolve_segmenter(
        SegmenterConfig(kind="auto", weights_dir=str(random_maskrcnn_dir))
    )
    assert warning is None
    assert config.kind == "maskrcnn"
    assert config.weights_file == str(random_maskrcnn_dir / V1_FILE)


def test_weights_load_never_unpickles_objects(tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ("this must never run",))

    path = tmp_path / V1_FILE
    torch.save({"not": Payload()}, path)
    with pytest.raises(pickle.UnpicklingError):
        build_maskrcnn("v1", path)


# --- Mask R-CNN end to end (random weights: wiring, not accuracy) ---------------------


@pytest.mark.slow
def test_maskrcnn_with_random_weights_from_a_local_file(random_maskrcnn_dir, empty_hub, astronaut):
    segmenter = MaskRCNNSegmenter(
        "v1",
        weights_dir=random_maskrcnn_dir,
        analysis_size=256,
        min_score=0.0,
        allow_download=False,
    )
    # v1's frozen batch norms must use eps 0, as torchvision does for these weights.
    frozen = [m for m in segmenter.model.modules() if type(m).__name__ == "FrozenBatchNorm2d"]
    assert frozen and all(m.eps == 0.0 for m in frozen)
    image = np.ascontiguousarray(astronaut[:400, :300])  # not square, not analysis size
    result = segmenter.segment(image)
    assert result.segmenter == "maskrcnn"
    assert result.weights == V1_FILE
    assert result.mask is not None
    assert result.mask.shape == image.shape[:2] and result.mask.dtype == bool
    assert 0.0 <= result.score <= 1.0
    assert result.label in VARIANTS["v1"].weights.meta["categories"]
    x0, y0, x1, y1 = result.box
    assert -1 <= x0 < x1 <= 301 and -1 <= y0 < y1 <= 401


@pytest.mark.slow
def test_maskrcnn_high_threshold_finds_nothing_on_random_weights(
    random_maskrcnn_dir, empty_hub, chelsea
):
    segmenter = MaskRCNNSegmenter(
        "v1", weights_dir=random_maskrcnn_dir, analysis_size=256, min_score=0.999
    )
    result = segmenter.segment(chelsea)
    assert result.mask is None and result.weights == V1_FILE


def test_unknown_variant_is_a_clear_error(random_maskrcnn_dir):
    with pytest.raises(ValueError, match="unknown Mask R-CNN variant 'v9'"):
        MaskRCNNSegmenter("v9", weights_dir=random_maskrcnn_dir)


# --- GrabCut and none -----------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_grabcut_recovers_a_distinct_central_object(seed):
    image, truth = synthetic_scene(seed=seed)
    result = GrabCutSegmenter().segment(image)
    assert result.segmenter == "grabcut" and result.weights is None
    assert result.mask is not None and result.mask.shape == truth.shape
    iou = (result.mask & truth).sum() / (result.mask | truth).sum()
    assert iou >= 0.8, iou


@pytest.mark.slow
def test_grabcut_recovers_the_object_in_a_large_photo_sized_scene():
    image, truth = synthetic_scene(height=1200, width=1600, seed=4)
    result = GrabCutSegmenter().segment(image)
    iou = (result.mask & truth).sum() / (result.mask | truth).sum()
    assert iou >= 0.8, iou
    expected_box = (1600 * 0.28, 1200 * 0.22, 1600 * 0.72, 1200 * 0.78)
    np.testing.assert_allclose(result.box, expected_box, atol=60)


def test_grabcut_on_flat_or_tiny_images_finds_nothing_without_error():
    assert GrabCutSegmenter().segment(np.full((100, 100, 3), 128, np.uint8)).mask is None
    assert GrabCutSegmenter().segment(np.zeros((4, 4, 3), np.uint8)).mask is None


def test_none_segmenter_returns_no_mask(astronaut):
    result = NoSegmenter().segment(astronaut)
    assert result.mask is None and result.segmenter == "none"


# --- the fast colour graph cut ------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fastcut_recovers_a_distinct_central_object(seed):
    from photoqc.segmentation.fastcut import FastCutSegmenter

    image, truth = synthetic_scene(seed=seed)
    result = FastCutSegmenter().segment(image)
    assert result.segmenter == "fastcut" and result.weights is None
    assert result.mask is not None and result.mask.shape == truth.shape
    iou = (result.mask & truth).sum() / (result.mask | truth).sum()
    assert iou >= 0.8, iou


@pytest.mark.slow
def test_fastcut_agrees_with_grabcut_on_real_photos(astronaut, chelsea, coffee):
    from photoqc.segmentation.fastcut import FastCutSegmenter

    ious = []
    for photo in (astronaut, chelsea, coffee):
        ours = FastCutSegmenter().segment(photo).mask
        theirs = GrabCutSegmenter().segment(photo).mask
        ious.append((ours & theirs).sum() / (ours | theirs).sum())
    assert np.median(ious) >= 0.7, ious


def test_fastcut_on_flat_or_tiny_images_finds_nothing_without_error():
    from photoqc.segmentation.fastcut import FastCutSegmenter

    assert FastCutSegmenter().segment(np.full((100, 100, 3), 128, np.uint8)).mask is None
    assert FastCutSegmenter().segment(np.zeros((4, 4, 3), np.uint8)).mask is None


def test_every_registered_segmenter_builds_and_segments(astronaut):
    from photoqc.segmentation.registry import SEGMENTERS

    for name, entry in SEGMENTERS.items():
        if entry.needs_weights:
            continue
        result = build_segmenter(SegmenterConfig(kind=name)).segment(astronaut)
        assert result.segmenter == name
