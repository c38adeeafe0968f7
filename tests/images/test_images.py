"""Image loading: every kind of input gives a correct image or a clear ImageLoadError."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from conftest import encode
from PIL import Image
from skimage import data

from photoqc.images import ImageLoadError, load_image


def test_rgb_png_round_trips_exactly(tmp_path, astronaut):
    path = tmp_path / "a.png"
    path.write_bytes(encode(astronaut))
    loaded = load_image(path)
    assert loaded.pixels.dtype == np.uint8
    np.testing.assert_array_equal(loaded.pixels, astronaut)
    assert (loaded.width, loaded.height) == (512, 512)
    assert loaded.format == "PNG"
    assert loaded.file_size == path.stat().st_size
    assert loaded.jpeg_quantization is None


def test_bytes_input_matches_file_input(tmp_path, chelsea):
    blob = encode(chelsea, "JPEG", quality=90)
    (tmp_path / "c.jpg").write_bytes(blob)
    from_bytes = load_image(blob)
    from_file = load_image(tmp_path / "c.jpg")
    np.testing.assert_array_equal(from_bytes.pixels, from_file.pixels)
    assert from_bytes.source == "<bytes>"
    assert from_bytes.file_size == len(blob)
    assert set(from_bytes.jpeg_quantization) == {0, 1}
    assert len(from_bytes.jpeg_quantization[0]) == 64


def test_exif_rotated_jpeg_is_turned_upright(tmp_path):
    # Stored 20 rows x 40 columns: left half red, right half blue.
    stored = np.zeros((20, 40, 3), np.uint8)
    stored[:, :20] = (255, 0, 0)
    stored[:, 20:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = tmp_path / "rotated.jpg"
    Image.fromarray(stored).save(path, "JPEG", quality=95, exif=exif.tobytes())
    loaded = load_image(path)
    assert loaded.exif_orientation == 6
    assert loaded.pixels.shape == (40, 20, 3)
    # Rotating clockwise brings the stored left (red) half to the top.
    top, bottom = loaded.pixels[:15].mean(axis=(0, 1)), loaded.pixels[25:].mean(axis=(0, 1))
    assert top[0] > 200 and top[2] < 60
    assert bottom[2] > 200 and bottom[0] < 60


def test_grayscale_is_expanded_to_equal_channels(tmp_path, astronaut):
    gray = cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)
    path = tmp_path / "g.png"
    path.write_bytes(encode(gray))
    loaded = load_image(path)
    assert loaded.mode == "L"
    for channel in range(3):
        np.testing.assert_array_equal(loaded.pixels[..., channel], gray)


def test_palette_image_keeps_its_colours(tmp_path):
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[:4] = (10, 200, 30)
    rgb[4:] = (250, 240, 5)
    path = tmp_path / "p.png"
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=4).save(path)
    loaded = load_image(path)
    assert loaded.mode == "P"
    np.testing.assert_array_equal(loaded.pixels, rgb)


def test_rgba_is_composited_on_white(tmp_path):
    rgba = np.zeros((4, 3, 4), np.uint8)
    rgba[..., :3] = (200, 0, 0)
    rgba[0, :, 3] = 255  # opaque: the colour itself
    rgba[1, :, 3] = 0  # transparent: white
    rgba[2, :, 3] = 128  # half: a mix
    rgba[3, :, 3] = 255
    path = tmp_path / "a.png"
    path.write_bytes(encode(rgba))
    loaded = load_image(path)
    assert loaded.had_alpha
    np.testing.assert_array_equal(loaded.pixels[0, 0], (200, 0, 0))
    np.testing.assert_array_equal(loaded.pixels[1, 0], (255, 255, 255))
    np.testing.assert_allclose(loaded.pixels[2, 0], (228, 127, 127), atol=1)


def test_la_grayscale_with_alpha_is_composited_on_white(tmp_path):
    la = np.zeros((2, 2, 2), np.uint8)
    la[..., 0] = 40
    la[0, :, 1] = 255
    la[1, :, 1] = 0
    path = tmp_path / "la.png"
    Image.fromarray(la, mode="LA").save(path)
    loaded = load_image(path)
    np.testing.assert_array_equal(loaded.pixels[0, 0], (40, 40, 40))
    np.testing.assert_array_equal(loaded.pixels[1, 0], (255, 255, 255))


def test_cmyk_jpeg_is_converted_to_rgb(tmp_path):
    cmyk = np.zeros((16, 16, 4), np.uint8)
    cmyk[:8] = (0, 255, 255, 0)  # red
    cmyk[8:] = (255, 255, 0, 0)  # blue
    path = tmp_path / "cmyk.jpg"
    Image.fromarray(cmyk, mode="CMYK").save(path, "JPEG", quality=95)
    loaded = load_image(path)
    assert loaded.mode == "CMYK"
    red, blue = loaded.pixels[2, 2].astype(int), loaded.pixels[13, 13].astype(int)
    assert red[0] > 200 and red[1] < 60 and red[2] < 60
    assert blue[2] > 200 and blue[0] < 60 and blue[1] < 60


def test_16bit_grayscale_png_is_scaled_not_truncated(tmp_path):
    ramp = np.linspace(0, 65535, 256).astype(np.uint16).reshape(16, 16)
    path = tmp_path / "g16.png"
    Image.fromarray(ramp).save(path)
    loaded = load_image(path)
    assert loaded.bit_depth == 16
    expected = np.rint(ramp / 257.0).astype(np.uint8)
    np.testing.assert_array_equal(loaded.pixels[..., 0], expected)
    assert loaded.pixels.max() == 255 and loaded.pixels.min() == 0


@pytest.mark.parametrize("ext", [".tif", ".png"])
def test_16bit_rgb_file_keeps_its_colours(tmp_path, ext):
    rgb16 = np.zeros((8, 8, 3), np.uint16)
    rgb16[..., 0] = 65535  # full red
    rgb16[..., 1] = 32896  # half green (128 * 257)
    path = tmp_path / f"rgb16{ext}"
    assert cv2.imwrite(str(path), rgb16[..., ::-1])  # OpenCV writes BGR
    loaded = load_image(path)
    np.testing.assert_allclose(loaded.pixels[0, 0], (255, 128, 0), atol=1)


def test_16bit_grayscale_tiff(tmp_path):
    ramp = np.linspace(0, 65535, 64).astype(np.uint16).reshape(8, 8)
    path = tmp_path / "g16.tif"
    assert cv2.imwrite(str(path), ramp)
    loaded = load_image(path)
    np.testing.assert_allclose(loaded.pixels[..., 1], np.rint(ramp / 257.0), atol=1)


def test_webp_decodes(tmp_path, coffee):
    path = tmp_path / "c.webp"
    path.write_bytes(encode(coffee, "WEBP", quality=90))
    loaded = load_image(path)
    assert loaded.format == "WEBP"
    assert loaded.pixels.shape == coffee.shape
    assert np.abs(loaded.pixels.astype(int) - coffee).mean() < 6


def test_one_pixel_image_loads(tmp_path):
    path = tmp_path / "dot.png"
    path.write_bytes(encode(np.full((1, 1, 3), 77, np.uint8)))
    loaded = load_image(path)
    assert loaded.pixels.shape == (1, 1, 3)
    assert loaded.pixels[0, 0, 0] == 77


def test_empty_file_is_refused(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(ImageLoadError, match="empty file") as info:
        load_image(path)
    assert str(path) in str(info.value)


def test_truncated_jpeg_is_refused(tmp_path, chelsea):
    blob = encode(chelsea, "JPEG", quality=90)
    path = tmp_path / "cut.jpg"
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ImageLoadError, match="truncated"):
        load_image(path)


def test_random_bytes_with_jpg_name_are_refused(tmp_path):
    path = tmp_path / "noise.jpg"
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(ImageLoadError, match="not a recognised image format"):
        load_image(path)


def test_text_file_is_refused(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is not a picture\n")
    with pytest.raises(ImageLoadError, match="not a recognised image format"):
        load_image(path)


def test_missing_file_and_directory_are_refused(tmp_path):
    with pytest.raises(ImageLoadError, match="file not found"):
        load_image(tmp_path / "nope.jpg")
    with pytest.raises(ImageLoadError, match="directory"):
        load_image(tmp_path)


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    # 10000 x 7000 = 70 MP, over the 64 MP default; 1-bit so the test itself stays small.
    path = tmp_path / "bomb.png"
    Image.new("1", (10_000, 7_000)).save(path)
    assert path.stat().st_size < 1_000_000
    with pytest.raises(ImageLoadError, match=r"too large: 10000x7000 = 70\.0 MP"):
        load_image(path)


def test_pixel_limit_is_configurable(tmp_path, astronaut):
    path = tmp_path / "a.png"
    path.write_bytes(encode(astronaut))
    with pytest.raises(ImageLoadError, match=r"exceeds the limit of 0\.1 MP"):
        load_image(path, max_pixels=100_000)
    assert load_image(path, max_pixels=512 * 512).width == 512


@pytest.mark.parametrize("mode", ["RGB", "L"])
@pytest.mark.parametrize("subsampling", [0, 2])
def test_jpegs_decode_to_pillows_pixels_in_every_exif_orientation(mode, subsampling):
    """JPEGs are decoded by OpenCV (faster, straight into numpy); the pixels must be the
    ones Pillow gives, turned upright as ImageOps.exif_transpose turns them."""
    from PIL import ImageOps

    source = Image.fromarray(data.astronaut()[:300, :200]).convert(mode)
    for orientation in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = orientation
        buffer = io.BytesIO()
        source.save(buffer, "JPEG", quality=85, subsampling=subsampling, exif=exif.tobytes())
        loaded = load_image(buffer.getvalue())
        with Image.open(io.BytesIO(buffer.getvalue())) as reference:
            expected = np.asarray(ImageOps.exif_transpose(reference).convert("RGB"))
        assert loaded.exif_orientation == orientation
        assert loaded.pixels.shape == expected.shape, orientation
        assert loaded.pixels.flags.c_contiguous
        np.testing.assert_array_equal(loaded.pixels, expected)


def test_an_object_store_uri_is_read_through_pyarrow_s_file_systems(
    tmp_path, monkeypatch, astronaut
):
    """s3:// and gs:// need a network: photoqc's file system is pointed at a local folder
    here, so what photoqc does with what it gets back is what is tested."""
    import pyarrow.fs as pafs

    from photoqc import images, remote
    from photoqc.images import ImageLoadError, load_image

    (tmp_path / "bucket").mkdir()
    (tmp_path / "bucket" / "a.jpg").write_bytes(encode(astronaut, "JPEG", quality=90))
    (tmp_path / "bucket" / "folder").mkdir()

    def filesystem(scheme, bucket, timeout):
        assert (scheme, bucket) == ("s3", "bucket") and timeout > 0
        return pafs.SubTreeFileSystem(str(tmp_path), pafs.LocalFileSystem())

    monkeypatch.setattr(remote, "_filesystem", filesystem)
    loaded = load_image("s3://bucket/a.jpg")
    assert loaded.pixels.shape == astronaut.shape and loaded.source == "s3://bucket/a.jpg"
    with pytest.raises(ImageLoadError, match="file not found"):
        load_image("s3://bucket/missing.jpg")
    with pytest.raises(ImageLoadError, match="not a file"):
        load_image("s3://bucket/folder")
    monkeypatch.setattr(images, "MAX_REMOTE_BYTES", 100)
    with pytest.raises(ImageLoadError, match="file too large"):
        load_image("s3://bucket/a.jpg")
