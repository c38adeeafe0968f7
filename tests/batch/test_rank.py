"""``photoqc rank``: ordering rules, near-duplicates on real pixels, the command end to end
(resume, a scores CSV ranked without scoring), the service's ``POST /v1/rank`` giving the
same answers, and the listings report in Chromium at phone and desktop widths."""

from __future__ import annotations

import csv
import io

import cv2
import httpx
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from skimage import data, util
from typer.testing import CliRunner

from photoqc.assess.covers import NO_PUBLISHABLE, RANK_COLUMNS, rank_groups
from photoqc.cli import app
from photoqc.perceptual_hash import (
    DUPLICATE_DISTANCE,
    hash_text,
    parse_hashes,
    photo_distance,
    photo_hashes,
)

runner = CliRunner()


def _jpeg_roundtrip(rgb: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def _crop(rgb: np.ndarray, share: float) -> np.ndarray:
    h, w = rgb.shape[:2]
    dy, dx = int(h * share), int(w * share)
    return rgb[dy : h - dy, dx : w - dx]


PHOTOS = {
    "astronaut": data.astronaut,
    "coffee": data.coffee,
    "chelsea": data.chelsea,
    "rocket": data.rocket,
    "motorcycle": lambda: data.stereo_motorcycle()[0],
}


# --- near-duplicates on real pixels -----------------------------------------------------


@pytest.mark.parametrize("name", sorted(PHOTOS))
@pytest.mark.parametrize(
    "copy",
    [
        pytest.param(
            lambda a: cv2.resize(
                a, (a.shape[1] // 2, a.shape[0] // 2), interpolation=cv2.INTER_AREA
            ),
            id="half-size",
        ),
        pytest.param(lambda a: _jpeg_roundtrip(a, 30), id="jpeg-q30"),
        pytest.param(lambda a: _crop(a, 0.05), id="cropped-5pc"),
        pytest.param(lambda a: a[int(a.shape[0] * 0.06) :, : int(a.shape[1] * 0.94)], id="corner"),
    ],
)
def test_resized_recompressed_and_cropped_copies_are_near_duplicates(name, copy):
    photo = PHOTOS[name]()
    distance = photo_distance(photo_hashes(photo), photo_hashes(copy(photo)))
    assert distance <= DUPLICATE_DISTANCE, (name, distance)


@pytest.mark.parametrize("name", sorted(PHOTOS))
def test_other_photos_of_one_scene_are_not_near_duplicates(name):
    photo = PHOTOS[name]()
    w = photo.shape[1]
    views = {
        "shifted a quarter": (photo[:, : int(w * 0.75)], photo[:, int(w * 0.25) :]),
        "close-up": (photo, _crop(photo, 0.25)),
    }
    for what, (a, b) in views.items():
        distance = photo_distance(photo_hashes(a), photo_hashes(b))
        assert distance > DUPLICATE_DISTANCE, (name, what, distance)
    for other in PHOTOS:
        if other != name:
            distance = photo_distance(photo_hashes(photo), photo_hashes(PHOTOS[other]()))
            assert distance > 2 * DUPLICATE_DISTANCE - 4, (name, other, distance)


def test_hashes_survive_a_table():
    hashes = photo_hashes(data.coffee())
    assert parse_hashes(hash_text(hashes)) == hashes
    assert parse_hashes("") is None and parse_hashes("not a hash") is None


# --- ordering rules (tables in, tables out) ---------------------------------------------


def _row(image, p_good, verdict, group="L1", aesthetic=5.0, **extra):
    return {
        "listing_id": group,
        "image": image,
        "status": "ok",
        "error": "",
        "p_good": p_good,
        "verdict": verdict,
        "reasons": "" if verdict == "good" else "too dark: brightness 0.07",
        "nima_aesthetic_mean": aesthetic,
        **extra,
    }


def _error_row(image, group="L1"):
    return {
        "listing_id": group,
        "image": image,
        "status": "error",
        "error": "not a recognised image format",
        "p_good": np.nan,
        "verdict": "",
        "reasons": "",
    }


def test_a_good_photo_always_beats_a_bad_one_however_attractive():
    # The bad photo's cover score (p_good 0.47, NIMA 9) is above the good one's (0.50, NIMA 2).
    frame = pd.DataFrame(
        [_row("bad.jpg", 0.47, "bad", aesthetic=9.0), _row("good.jpg", 0.50, "good", aesthetic=2.0)]
    )
    ranked, summary = rank_groups(frame, "listing_id")
    scores = dict(zip(ranked["image"], ranked["cover_score"], strict=True))
    assert scores["bad.jpg"] > scores["good.jpg"]
    assert list(ranked["image"]) == ["good.jpg", "bad.jpg"]
    assert list(ranked["is_cover"]) == [True, False]
    assert ranked["why"][0] == "the only good photo of 2"
    assert ranked["why"][1].startswith("bad: too dark")
    assert summary.unpublishable == []
    assert list(ranked.columns) == ["listing_id", "image", *RANK_COLUMNS]


def test_the_learned_impression_orders_good_photos_when_the_model_has_one():
    rows = [
        _row("a.jpg", 0.80, "good", aesthetic=7.0, nima_embedding_quality=0.40),
        _row("b.jpg", 0.70, "good", aesthetic=3.0, nima_embedding_quality=0.70),
    ]
    ranked, _ = rank_groups(pd.DataFrame(rows), "listing_id")
    assert list(ranked["image"]) == ["b.jpg", "a.jpg"]  # 0.5 x 0.7 + 0.5 x 0.7 > 0.5 x 0.8 + 0.2
    assert ranked["cover_score"].iloc[0] == pytest.approx(0.70)
    without, _ = rank_groups(
        pd.DataFrame(rows).drop(columns="nima_embedding_quality"), "listing_id"
    )
    assert list(without["image"]) == ["a.jpg", "b.jpg"]  # then p_good and the aesthetic score


def test_a_listing_with_only_bad_photos_says_so_in_every_row_and_the_summary():
    frame = pd.DataFrame(
        [
            _row("a.jpg", 0.3, "bad", group="L9"),
            _row("b.jpg", 0.1, "bad", group="L9"),
            _error_row("c.jpg", group="L9"),
            _row("d.jpg", 0.9, "good", group="L2"),
        ]
    )
    ranked, summary = rank_groups(frame, "listing_id")
    bad = ranked[ranked["listing_id"] == "L9"]
    assert all(why.startswith(NO_PUBLISHABLE) for why in bad["why"])
    assert list(bad["image"]) == ["a.jpg", "b.jpg", "c.jpg"]
    assert "the least bad of 2 photos" in bad["why"].iloc[0]
    assert summary.unpublishable == ["L9"] and summary.groups == 2
    assert not ranked[ranked["listing_id"] == "L2"]["why"].iloc[0].startswith(NO_PUBLISHABLE)


def test_error_rows_rank_last_and_are_never_the_cover():
    frame = pd.DataFrame(
        [_error_row("broken.jpg"), _row("x.jpg", 0.2, "bad"), _row("y.jpg", 0.6, "good")]
    )
    ranked, summary = rank_groups(frame, "listing_id")
    assert list(ranked["image"]) == ["y.jpg", "x.jpg", "broken.jpg"]
    assert list(ranked["rank"]) == [1, 2, 3]
    assert not ranked["is_cover"].iloc[2] and summary.errors == 1
    assert ranked["why"].iloc[2].startswith("ranked last: could not be judged")
    alone, _ = rank_groups(pd.DataFrame([_error_row("only.jpg")]), "listing_id")
    assert not alone["is_cover"].iloc[0]


def test_ties_are_broken_by_name_whatever_the_input_order():
    rows = [_row(f"{name}.jpg", 0.8, "good") for name in "dbca"]
    orders = []
    for seed in range(5):
        shuffled = pd.DataFrame(rows).sample(frac=1, random_state=seed)
        ranked, _ = rank_groups(shuffled, "listing_id")
        orders.append(list(ranked["image"]))
    assert all(order == ["a.jpg", "b.jpg", "c.jpg", "d.jpg"] for order in orders), orders


def test_the_cover_says_what_it_leads_on():
    frame = pd.DataFrame(
        [
            _row(
                "a.jpg", 0.90, "good", aesthetic=6.5, sharpness_laplacian=900.0, underexposure=0.0
            ),
            _row(
                "b.jpg", 0.85, "good", aesthetic=5.0, sharpness_laplacian=300.0, underexposure=0.2
            ),
            _row(
                "c.jpg", 0.80, "good", aesthetic=5.5, sharpness_laplacian=500.0, underexposure=0.1
            ),
        ]
    )
    ranked, _ = rank_groups(frame, "listing_id")
    assert ranked["why"].iloc[0] == (
        "good, and the best-lit, sharpest and most attractive of 3 good photos"
    )
    assert ranked["why"].iloc[1].startswith("good, behind a.jpg (cover score")


def _listing_with_a_near_duplicate() -> pd.DataFrame:
    """A good photo, a near-duplicate of it (also good) and another, bad photo."""
    photo, other = data.astronaut(), data.coffee()
    return pd.DataFrame(
        [
            _row("original.jpg", 0.90, "good", phash=hash_text(photo_hashes(photo))),
            _row("copy.jpg", 0.88, "good", phash=hash_text(photo_hashes(_crop(photo, 0.03)))),
            _row("other.jpg", 0.20, "bad", phash=hash_text(photo_hashes(other))),
        ]
    )


def test_a_duplicate_never_goes_ahead_of_a_distinct_photo():
    ranked, summary = rank_groups(_listing_with_a_near_duplicate(), "listing_id")
    assert list(ranked["image"]) == ["original.jpg", "other.jpg", "copy.jpg"]
    assert list(ranked["duplicate_of"]) == ["", "", "original.jpg"]
    assert summary.duplicates == 1
    assert "near-duplicate of original.jpg" in ranked["why"].iloc[2]


def test_the_cover_of_two_good_photos_one_a_near_duplicate_is_not_the_only_good_one():
    ranked, _ = rank_groups(_listing_with_a_near_duplicate(), "listing_id")
    why = ranked["why"].iloc[0]
    assert not why.startswith("the only good photo of 3") or "near-duplicate" in why
    assert why == "the only good photo of 3 but for a near-duplicate of one already placed"


# --- the command, the service and the report ----------------------------------------------


LISTINGS = {
    # name: (listing, how it is made)
    "astronaut.jpg": ("L1", lambda: data.astronaut()),
    "astronaut_copy.jpg": ("L1", lambda: cv2.resize(_crop(data.astronaut(), 0.03), (420, 420))),
    "coffee.jpg": ("L1", lambda: data.coffee()),
    "broken.jpg": ("L1", None),
    "coffee_noisy.jpg": (
        "L2",
        lambda: (util.random_noise(data.coffee(), var=0.02, rng=0) * 255).astype(np.uint8),
    ),
    "coffee_dark.jpg": ("L2", lambda: (data.coffee() * 0.12).astype(np.uint8)),
}


@pytest.fixture(scope="module")
def ranked_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rank")
    for name, (_, make) in LISTINGS.items():
        if make is None:
            (folder / name).write_bytes(b"not a photo at all")
        else:
            Image.fromarray(make()).save(folder / name, quality=92)
    with (folder / "listings.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "listing_id", "seller"])
        writer.writerows([(name, listing, "s1") for name, (listing, _) in LISTINGS.items()])
    out = folder / "ranked.csv"
    result = runner.invoke(
        app, ["rank", str(folder / "listings.csv"), "--group-by", "listing_id", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    return folder, out, result.output


@pytest.mark.slow
def test_rank_writes_one_row_per_photo_with_the_cover_first(ranked_run):
    folder, out, output = ranked_run
    ranked = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(ranked.columns) == ["listing_id", "image", *RANK_COLUMNS]
    assert sorted(ranked["image"]) == sorted(LISTINGS)
    one = ranked[ranked["listing_id"] == "L1"]
    assert one["is_cover"].iloc[0] == "True" and one["verdict"].iloc[0] == "good"
    assert one["image"].iloc[-1] == "broken.jpg" and one["status"].iloc[-1] == "error"
    assert dict(zip(one["image"], one["duplicate_of"], strict=True))["astronaut_copy.jpg"] == (
        "astronaut.jpg"
    )
    two = ranked[ranked["listing_id"] == "L2"]
    assert all(why.startswith(NO_PUBLISHABLE) for why in two["why"])
    assert "2 listings (listing_id) ranked" in output and "1 with no publishable photo" in output
    # The dark and the noisy coffee are one picture: the better-ranked one is kept.
    assert sorted(two["duplicate_of"]) == ["", two["image"].iloc[0]]
    assert "2 near-duplicates flagged" in output
    scores = pd.read_csv(folder / "ranked.scores.csv", nrows=1)
    assert list(scores.columns[:2]) == ["image", "listing_id"]  # carried through


@pytest.mark.slow
def test_rank_resumes_and_ranks_a_scores_csv_without_scoring(ranked_run):
    folder, out, _ = ranked_run
    before = out.read_bytes()
    scores = folder / "ranked.scores.csv"
    lines = scores.read_bytes().split(b"\r\n")
    scores.write_bytes(b"\r\n".join(lines[:-3]) + b"\r\n")  # the last two rows lost
    result = runner.invoke(
        app, ["rank", str(folder / "listings.csv"), "--group-by", "listing_id", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "2 scored now" in result.output and "4 already there" in result.output
    # The same rows: the two scored again in a batch of their own agree to float noise
    # (NIMA's kernels sum in another order for another batch size).
    resumed, first = (
        pd.read_csv(io.BytesIO(b), keep_default_na=False) for b in (out.read_bytes(), before)
    )
    numbers = ["cover_score", "p_good"]
    pd.testing.assert_frame_equal(resumed.drop(columns=numbers), first.drop(columns=numbers))
    for column in numbers:
        got, want = (pd.to_numeric(f[column], errors="coerce") for f in (resumed, first))
        assert np.allclose(got, want, atol=1e-6, equal_nan=True), column
    before = out.read_bytes()
    again = folder / "again.csv"
    result = runner.invoke(
        app, ["rank", str(scores), "--group-by", "listing_id", "--out", str(again)]
    )
    assert result.exit_code == 0, result.output
    assert "scored now" not in result.output and again.read_bytes() == before
    wrong = runner.invoke(app, ["rank", str(scores), "--group-by", "seller", "--out", str(again)])
    assert wrong.exit_code == 1 and "--carry seller" in wrong.output


@pytest.mark.slow
def test_the_service_ranks_a_listing_as_the_command_does(ranked_run):
    from conftest import ServeProcess as Server

    folder, out, _ = ranked_run
    ranked = pd.read_csv(out, keep_default_na=False)
    expected = ranked[ranked["listing_id"] == "L1"]
    server = Server("--max-photos", "4")
    try:
        names = sorted(expected["image"])  # another order than the answer's
        files = [("images", (n, (folder / n).read_bytes(), "image/jpeg")) for n in names]
        response = httpx.post(server.url + "/v1/rank", files=files, timeout=120)
        assert response.status_code == 200, response.text
        answer = response.json()
        too_many = httpx.post(server.url + "/v1/rank", files=files + files[:1], timeout=60)
    finally:
        server.stop()
    photos = answer["photos"]
    assert [p["image"] for p in photos] == list(expected["image"])
    for photo, (_, row) in zip(photos, expected.iterrows(), strict=True):
        assert photo["rank"] == row["rank"] and photo["is_cover"] == bool(row["is_cover"])
        assert photo["why"] == row["why"] and photo["duplicate_of"] == row["duplicate_of"]
        assert photo["verdict"] == row["verdict"] and photo["status"] == row["status"]
        # Reasons as /v1/check gives them: a list of objects, whose texts the table joins.
        assert isinstance(photo["reasons"], list)
        assert "; ".join(r["text"] for r in photo["reasons"]) == row["reasons"]
        if row["status"] == "ok":
            # The service measures one photo at a time, the command in batches: NIMA's
            # float32 kernels sum in another order, and the heads carry that to ~1e-8.
            assert photo["p_good"] == pytest.approx(float(row["p_good"]), abs=1e-6)
    assert answer["summary"] == {"photos": 4, "publishable": True, "duplicates": 1, "errors": 1}
    assert too_many.status_code == 413 and too_many.json()["error"]["code"] == "too_many_photos"


@pytest.mark.parametrize("width", [420, 1280])
def test_the_listings_report_lays_out_at_phone_and_desktop_widths(ranked_run, browser, width):
    folder, out, _ = ranked_run
    html = folder / "report.html"
    result = runner.invoke(app, ["report", str(out), "--out", str(html)])
    assert result.exit_code == 0, result.output
    assert "2 listings in rank order" in result.output
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.goto(html.as_uri())
    assert page.locator("section.listing").count() == 2
    cards = page.locator('section[data-listing="L1"] .photo')
    assert cards.count() == 4
    assert cards.first.locator(".badge").inner_text() == "cover"
    boxes = [cards.nth(i).bounding_box() for i in range(4)]
    tops = {round(box["y"]) for box in boxes}
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    if width == 1280:
        assert len(tops) == 1  # a listing's photos on one line
    else:
        assert len(tops) == 2 and all(box["x"] + box["width"] <= width for box in boxes)
    shot = np.asarray(Image.open(io.BytesIO(page.screenshot())).convert("RGB")).astype(int)
    assert shot.shape[1] == width
    cover = boxes[0]
    # The cover's 3 px frame is drawn in the cover colour (#0969da) on its left edge.
    x, y = int(cover["x"]) + 1, int(cover["y"] + cover["height"] / 2)
    assert np.abs(shot[y, x] - [9, 105, 218]).max() < 40, shot[y, x]
    second = boxes[1]
    assert (
        np.abs(
            shot[int(second["y"] + second["height"] / 2), int(second["x"]) + 1] - [9, 105, 218]
        ).max()
        > 60
    )
    assert page.locator("p.none").count() == 1
    page.close()


def test_a_long_path_stays_inside_its_card_and_reasons_are_said_once(tmp_path, browser):
    """Found in a first-hour trial: long photo paths ran over the next card's text, and a
    bad card printed its reasons twice (in `why` and again below it)."""
    deep = "/".join(["a_very_long_folder_name_without_spaces"] * 6)
    ranked = pd.DataFrame(
        {
            "listing_id": ["L9"] * 3,
            "image": [f"{deep}/cover.jpg", f"{deep}/second.jpg", f"{deep}/blurry.jpg"],
            "rank": [1, 2, 3],
            "is_cover": [True, False, False],
            "cover_score": [0.9, 0.8, 0.1],
            "p_good": [0.9, 0.8, 0.1],
            "verdict": ["good", "good", "bad"],
            "reasons": ["", "", "blurry: fine detail 0.02 (good photos: ~0.19)"],
            "why": [
                "good, with the highest cover score of 2 good photos",
                f"good, behind {deep}/cover.jpg (cover score 0.80 against 0.90)",
                "bad: blurry: fine detail 0.02 (good photos: ~0.19)",
            ],
            "duplicate_of": ["", "", ""],
            "status": ["ok"] * 3,
            "error": [""] * 3,
        }
    )
    table = tmp_path / "ranked.csv"
    ranked.to_csv(table, index=False)
    html = tmp_path / "report.html"
    result = runner.invoke(app, ["report", str(table), "--out", str(html)])
    assert result.exit_code == 0, result.output
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(html.as_uri())
    cards = page.locator(".photo")
    assert cards.count() == 3
    boxes = [cards.nth(i).bounding_box() for i in range(3)]
    for i in range(3):  # nothing drawn past a card's own edge
        card = cards.nth(i)
        assert card.evaluate("c => c.scrollWidth <= c.clientWidth"), i
        for part in card.locator(".why, .name, .reasons").all():
            box = part.bounding_box()
            assert box["x"] + box["width"] <= boxes[i]["x"] + boxes[i]["width"] + 0.5
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    bad = cards.nth(2).inner_text()
    assert bad.count("blurry: fine detail 0.02") == 1
    page.screenshot(path=str(tmp_path / "long_paths.png"))
    page.close()
