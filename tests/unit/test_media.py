"""Media: H.264 encoding with thumbnail and spritesheet; image decoding with limits; data URLs."""

from __future__ import annotations

import base64
import io
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image

from vidserve.api.errors import media_error
from vidserve.engine.base import GenerationCancelled
from vidserve.media import probe
from vidserve.media.encode import (
    SPRITE_COLUMNS,
    SPRITE_ROWS,
    SPRITE_TILE_MAX_HEIGHT,
    SPRITE_TILE_WIDTH,
    encode_video,
    probe_video,
    sprite_indices,
)
from vidserve.media.errors import MediaError
from vidserve.media.images import decode_image, fit_image, parse_data_url
from vidserve.media.probe import iter_frames

W, H, FPS = 160, 96, 10


def solid(value: int, width: int = W, height: int = H) -> np.ndarray:
    """A frame whose grey level identifies it (after lossy coding, within a few levels)."""
    return np.full((height, width, 3), value, dtype=np.uint8)


def level(i: int, n: int) -> int:
    return round(20 + 215 * i / max(n - 1, 1))


def numbered(n: int) -> Iterator[np.ndarray]:
    for i in range(n):
        yield solid(level(i, n))


# --------------------------------------------------------------------------- encode


@pytest.mark.parametrize(("n", "fps"), [(30, 10), (48, 24), (7, 24)])
def test_encode_then_probe_gives_exact_size_frames_duration(
    tmp_path: Path, n: int, fps: int
) -> None:
    path = tmp_path / "clip.mp4"
    clip = encode_video(numbered(n), path, width=W, height=H, fps=fps, expected_frames=n)
    assert clip.frames == n
    assert clip.duration == pytest.approx(n / fps)
    width, height, frames, duration = probe_video(path)
    assert (width, height, frames) == (W, H, n)
    assert abs(duration - n / fps) <= 1 / fps
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert stream.frames == n
        assert stream.duration is not None and stream.time_base is not None
        assert abs(float(stream.duration * stream.time_base) - n / fps) <= 1 / fps
        assert container.format.name.startswith("mov,mp4")


def test_decoded_frames_match_what_was_fed(tmp_path: Path) -> None:
    n = 20
    path = tmp_path / "clip.mp4"
    encode_video(numbered(n), path, width=W, height=H, fps=FPS, expected_frames=n, crf=10)
    with av.open(str(path)) as container:
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(decoded) == n
    for i, frame in enumerate(decoded):
        assert abs(float(frame.mean()) - level(i, n)) < 4, i


def test_faststart_puts_moov_before_mdat(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    encode_video(numbered(12), path, width=W, height=H, fps=FPS, expected_frames=12)
    data = path.read_bytes()
    assert 0 <= data.index(b"moov") < data.index(b"mdat")


def test_frames_of_another_size_are_resized(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    frames = [solid(100, 100, 60), solid(100, 320, 200), solid(100)]
    clip = encode_video(iter(frames), path, width=W, height=H, fps=FPS, expected_frames=3)
    assert clip.frames == 3
    assert probe_video(path)[:3] == (W, H, 3)


def test_on_frame_counts_every_frame(tmp_path: Path) -> None:
    seen: list[int] = []
    encode_video(
        numbered(9),
        tmp_path / "c.mp4",
        width=W,
        height=H,
        fps=FPS,
        expected_frames=9,
        on_frame=seen.append,
    )
    assert seen == list(range(1, 10))


def test_frames_are_consumed_lazily(tmp_path: Path) -> None:
    produced: list[int] = []
    encoded_when_produced: list[int] = []
    counter = {"encoded": 0}

    def frames() -> Iterator[np.ndarray]:
        for i in range(10):
            produced.append(i)
            encoded_when_produced.append(counter["encoded"])
            yield solid(level(i, 10))

    def on_frame(count: int) -> None:
        counter["encoded"] = count

    encode_video(
        frames(),
        tmp_path / "c.mp4",
        width=W,
        height=H,
        fps=FPS,
        expected_frames=10,
        on_frame=on_frame,
    )
    # frame i is only pulled after frame i-1 went to the encoder: one frame in flight
    assert encoded_when_produced == list(range(10))


def test_thumbnail_is_a_webp_of_the_middle_frame(tmp_path: Path) -> None:
    n = 21
    clip = encode_video(
        numbered(n), tmp_path / "c.mp4", width=W, height=H, fps=FPS, expected_frames=n
    )
    with Image.open(io.BytesIO(clip.thumbnail)) as thumb:
        assert thumb.format == "WEBP"
        assert thumb.size == (W, H)
        mean = float(np.asarray(thumb.convert("RGB")).mean())
    assert abs(mean - level(n // 2, n)) < 3


def test_thumbnail_falls_back_to_the_last_frame(tmp_path: Path) -> None:
    # the producer stopped early: 5 frames of an expected 40 (the middle would be 20)
    frames = [solid(v) for v in (10, 60, 110, 160, 210)]
    clip = encode_video(
        iter(frames), tmp_path / "c.mp4", width=W, height=H, fps=FPS, expected_frames=40
    )
    assert clip.frames == 5
    with Image.open(io.BytesIO(clip.thumbnail)) as thumb:
        assert abs(float(np.asarray(thumb.convert("RGB")).mean()) - 210) < 3


def test_spritesheet_is_a_jpeg_grid_of_evenly_spaced_frames(tmp_path: Path) -> None:
    n = 100
    clip = encode_video(
        numbered(n), tmp_path / "c.mp4", width=W, height=H, fps=FPS, expected_frames=n
    )
    tile_w = SPRITE_TILE_WIDTH
    tile_h = round(SPRITE_TILE_WIDTH * H / W)
    with Image.open(io.BytesIO(clip.spritesheet)) as sheet:
        assert sheet.format == "JPEG"
        assert sheet.size == (tile_w * SPRITE_COLUMNS, tile_h * SPRITE_ROWS)
        pixels = np.asarray(sheet.convert("RGB")).astype(float)
    indices = sprite_indices(n)
    assert indices[0] == 0 and indices[-1] == n - 1
    assert indices == sorted(indices) and len(set(indices)) == 25
    for k, index in enumerate(indices):
        row, col = divmod(k, SPRITE_COLUMNS)
        tile = pixels[
            row * tile_h + 4 : (row + 1) * tile_h - 4, col * tile_w + 4 : (col + 1) * tile_w - 4
        ]
        assert abs(tile.mean() - level(index, n)) < 4, k


def test_spritesheet_keeps_the_aspect_ratio_of_portrait_video(tmp_path: Path) -> None:
    clip = encode_video(
        (solid(90, 96, 160) for _ in range(4)),
        tmp_path / "c.mp4",
        width=96,
        height=160,
        fps=FPS,
        expected_frames=4,
    )
    with Image.open(io.BytesIO(clip.spritesheet)) as sheet:
        assert sheet.size == (256 * 5, round(256 * 160 / 96) * 5)


def test_no_frames_is_an_error_and_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "c.mp4"
    with pytest.raises(ValueError, match="no frames"):
        encode_video(iter([]), path, width=W, height=H, fps=FPS, expected_frames=10)
    assert not path.exists()


def test_an_error_from_the_frames_propagates_and_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "c.mp4"

    def frames() -> Iterator[np.ndarray]:
        yield solid(10)
        yield solid(20)
        raise GenerationCancelled("stop")

    with pytest.raises(GenerationCancelled):
        encode_video(frames(), path, width=W, height=H, fps=FPS, expected_frames=10)
    assert not path.exists()


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((H, W, 3), dtype=np.float32),
        np.zeros((H, W), dtype=np.uint8),
        np.zeros((H, W, 4), dtype=np.uint8),
    ],
)
def test_malformed_frames_are_rejected(tmp_path: Path, bad: np.ndarray) -> None:
    with pytest.raises(ValueError):
        encode_video(iter([bad]), tmp_path / "c.mp4", width=W, height=H, fps=FPS, expected_frames=1)


def test_odd_sizes_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="even"):
        encode_video(
            numbered(2), tmp_path / "c.mp4", width=W + 1, height=H, fps=FPS, expected_frames=2
        )


def test_encodes_a_procedural_clip(tmp_path: Path) -> None:
    from vidserve.domain import GenerationRequest
    from vidserve.engine.procedural import ProceduralBackend

    req = GenerationRequest(
        model="m", prompt="snow over a forest", width=W, height=H, seconds=1, seed=3
    )
    frames = ProceduralBackend().generate(req, lambda d, t: None, lambda: False).frames
    clip = encode_video(
        frames, tmp_path / "c.mp4", width=W, height=H, fps=req.fps, expected_frames=req.num_frames
    )
    assert probe_video(tmp_path / "c.mp4")[:3] == (W, H, 24)
    assert clip.duration == pytest.approx(1.0)


# --------------------------------------------------------------------------- images


def encoded(image: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **params)
    return buf.getvalue()


def gradient(width: int = 40, height: int = 30) -> Image.Image:
    xs = np.linspace(0, 255, width, dtype=np.uint8)
    arr = np.zeros((height, width, 3), dtype=np.uint8)
    arr[..., 0] = xs
    arr[..., 1] = 255 - xs[None, :]
    return Image.fromarray(arr, "RGB")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_decode_accepted_formats(fmt: str) -> None:
    frame = decode_image(encoded(gradient(), fmt), max_pixels=10_000)
    assert frame.shape == (30, 40, 3)
    assert frame.dtype == np.uint8 and frame.flags["C_CONTIGUOUS"]
    assert frame[:, 35:, 0].mean() > 200 and frame[:, :5, 0].mean() < 50


@pytest.mark.parametrize("mode", ["RGBA", "L", "P", "LA", "CMYK"])
def test_decode_converts_to_rgb(mode: str) -> None:
    image = gradient().convert(mode)
    fmt = "JPEG" if mode in ("L", "CMYK") else "PNG"
    frame = decode_image(encoded(image, fmt), max_pixels=10_000)
    assert frame.shape == (30, 40, 3)


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF", "ICO"])
def test_other_formats_are_rejected(fmt: str) -> None:
    with pytest.raises(MediaError) as info:
        decode_image(encoded(gradient(), fmt), max_pixels=10_000)
    err = info.value
    assert err.subject == "image" and err.code == "invalid_image"
    assert "is not a PNG, JPEG or WebP image" in err.message
    mapped = media_error(err)  # the API's 400, on the parameter that carried the image
    assert (mapped.status_code, mapped.param) == (400, "input_reference")
    assert mapped.code == "invalid_image"
    assert mapped.message == err.message


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not an image at all",
        encoded(gradient(), "PNG")[:60],
        b"\x89PNG\r\n\x1a\n" + b"\0" * 40,
    ],
)
def test_garbage_and_truncated_data_are_rejected(data: bytes) -> None:
    with pytest.raises(MediaError) as info:
        decode_image(data, max_pixels=10_000)
    assert info.value.code == "invalid_image"


def test_pixel_limit() -> None:
    data = encoded(gradient(100, 50), "PNG")
    assert decode_image(data, max_pixels=5000).shape == (50, 100, 3)
    with pytest.raises(MediaError) as info:
        decode_image(data, max_pixels=4999)
    assert info.value.code == "invalid_image"
    assert "100 x 50 = 5000 pixels, more than the limit of 4999" in info.value.message


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims a size in its header but has a bogus body: never decodable."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"\0" * 16)


def test_pixel_limit_is_checked_before_decoding() -> None:
    # 10000 x 10000 with a bogus body: only the header is read, so the size error wins over
    # the decoding error the body would cause
    with pytest.raises(MediaError) as info:
        decode_image(png_header_only(10000, 10000), max_pixels=40_000_000)
    assert "has 10000 x 10000 = 100000000 pixels, more than the limit of 40000000" in (
        info.value.message
    )
    # under the limit, the same bogus body is a decoding error
    with pytest.raises(MediaError) as info:
        decode_image(png_header_only(100, 100), max_pixels=40_000_000)
    assert "could not be decoded" in info.value.message


def test_pillow_decompression_bomb_guard_becomes_a_clean_error() -> None:
    # 60000 x 60000 is beyond Pillow's own hard limit: it refuses while reading the header
    pillow_limit = 2 * int(Image.MAX_IMAGE_PIXELS or 0)
    for limit, shown in ((40_000_000, 40_000_000), (10**12, pillow_limit)):
        with pytest.raises(MediaError) as info:
            decode_image(png_header_only(60000, 60000), max_pixels=limit)
        assert info.value.code == "invalid_image"
        assert f"3600000000 pixels, more than the limit of {shown}" in info.value.message


def test_exif_orientation_is_applied() -> None:
    arr = np.zeros((20, 40, 3), dtype=np.uint8)
    arr[:, :20] = (255, 0, 0)  # left half red
    arr[:, 20:] = (0, 0, 255)  # right half blue
    image = Image.fromarray(arr, "RGB")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    frame = decode_image(encoded(image, "JPEG", exif=exif.tobytes(), quality=95), max_pixels=10_000)
    assert frame.shape == (40, 20, 3)
    assert frame[:15, :, 0].mean() > 200 and frame[:15, :, 2].mean() < 60  # red on top
    assert frame[25:, :, 2].mean() > 200  # blue below


def test_format_is_judged_from_content_not_name() -> None:
    # a WebP payload is accepted whatever it is called; a GIF named .png is not
    webp = encoded(gradient(), "WEBP")
    assert decode_image(webp, max_pixels=10_000).shape == (30, 40, 3)
    with pytest.raises(MediaError):
        decode_image(encoded(gradient(), "GIF"), max_pixels=10_000)


def test_fit_image_centre_crops_then_resizes() -> None:
    arr = np.zeros((100, 200, 3), dtype=np.uint8)
    arr[:, :50] = (255, 0, 0)  # left quarter red
    arr[:, 50:150] = (0, 0, 255)  # centre blue
    arr[:, 150:] = (0, 255, 0)  # right quarter green
    square = fit_image(arr, 50, 50)
    assert square.shape == (50, 50, 3)
    assert square[..., 2].mean() > 240 and square[..., 0].mean() < 10  # only the centre kept
    wide = fit_image(arr, 80, 40)  # same aspect: nothing cropped
    assert wide.shape == (40, 80, 3)
    assert wide[:, :10, 0].mean() > 200 and wide[:, -10:, 1].mean() > 200
    tall = fit_image(arr, 30, 60)
    assert tall.shape == (60, 30, 3) and tall[..., 2].mean() > 240
    same = fit_image(arr, 200, 100)
    assert np.array_equal(same, arr)


# --------------------------------------------------------------------------- data URLs


@pytest.mark.parametrize("media_type", ["image/png", "image/jpeg", "image/webp", "IMAGE/PNG"])
def test_parse_data_url(media_type: str) -> None:
    payload = encoded(gradient(), "PNG")
    url = f"data:{media_type};base64,{base64.b64encode(payload).decode()}"
    assert parse_data_url(url) == payload


def test_parse_data_url_tolerates_whitespace_and_parameters() -> None:
    payload = b"\x89PNG fake but base64 is fine"
    text = base64.b64encode(payload).decode()
    url = f"data:image/png;name=x.png;base64,{text[:10]}\n{text[10:]}"
    assert parse_data_url(url) == payload


@pytest.mark.parametrize(
    "url",
    [
        "data:image/gif;base64,R0lGODlhAQABAAAAACw=",
        "data:text/plain;base64,aGVsbG8=",
        "data:;base64,aGVsbG8=",
        "data:image/png,rawbytes",  # not base64
        "data:image/png;base64,!!!notbase64!!!",
        "data:image/png;base64,abc",  # bad padding
        "data:image/png;base64,",
        "https://example.com/cat.png",
        "",
    ],
)
def test_parse_data_url_rejects(url: str) -> None:
    with pytest.raises(MediaError) as info:
        parse_data_url(url)
    assert info.value.subject == "image"
    assert info.value.code == "invalid_value"
    assert media_error(info.value).param == "input_reference"


def test_data_url_round_trip_to_frame() -> None:
    payload = encoded(gradient(), "WEBP")
    url = "data:image/webp;base64," + base64.b64encode(payload).decode()
    frame = decode_image(parse_data_url(url), max_pixels=10_000)
    assert frame.shape == (30, 40, 3)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_decode_with_fit_reduces_and_matches_a_full_decode(fmt: str) -> None:
    """Decoding reduced (JPEG draft, whole-factor reduce) gives the size asked for and
    nearly the pixels a full decode plus resize gives."""
    data = encoded(gradient(1600, 1200), fmt)
    reduced = decode_image(data, max_pixels=10_000_000, fit=(160, 90))
    assert reduced.shape == (90, 160, 3)
    reference = fit_image(decode_image(data, max_pixels=10_000_000), 160, 90)
    assert np.abs(reduced.astype(int) - reference.astype(int)).mean() < 3


def test_decode_refuses_a_size_mismatch_from_the_header_alone() -> None:
    """Without resizing, a wrong size is refused before the pixel data is read at all."""
    header = png_header_only(6000, 6000)  # no IDAT: decoding would fail with a different error
    with pytest.raises(MediaError, match="must match the requested width and height"):
        decode_image(header, max_pixels=40_000_000, fit=(1280, 720), resize=False)


def test_decode_with_fit_honours_exif_orientation() -> None:
    image = Image.new("RGB", (80, 40), (10, 200, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90: the picture is 40 wide, 80 tall
    data = encoded(image, "JPEG", exif=exif.tobytes(), quality=95)
    assert decode_image(data, max_pixels=10_000, fit=(40, 80), resize=False).shape == (80, 40, 3)
    with pytest.raises(MediaError, match="must match"):
        decode_image(data, max_pixels=10_000, fit=(80, 40), resize=False)


@pytest.mark.parametrize("size", [(4, 256), (256, 4), (2, 1000), (1000, 2), (720, 1280)])
def test_spritesheet_of_extreme_aspect_ratios_is_bounded(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    """Tiles keep the clip's aspect within a bounded box: the sheet stays small and valid."""
    width, height = size
    frames = (np.full((height, width, 3), 40 * k % 255, np.uint8) for k in range(6))
    clip = encode_video(frames, tmp_path / "x.mp4", width=width, height=height, fps=24,
                        expected_frames=6)
    with Image.open(io.BytesIO(clip.spritesheet)) as sheet:
        tile_w, tile_h = sheet.width // SPRITE_COLUMNS, sheet.height // SPRITE_ROWS
    assert tile_w <= SPRITE_TILE_WIDTH and tile_h <= SPRITE_TILE_MAX_HEIGHT
    assert max(tile_w, tile_h) >= min(SPRITE_TILE_WIDTH, SPRITE_TILE_MAX_HEIGHT)  # not a speck
    aspect = width / height
    assert abs(tile_w / tile_h - aspect) / aspect < 0.5 or min(tile_w, tile_h) <= 4


def _keyframed_clip(path: Path, count: int, fps: int, gop: int) -> Path:
    """An H.264 MP4 of ``count`` distinct frames with a keyframe every ``gop`` frames."""
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps, options={"g": str(gop),
                                                                   "preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        for frame in numbered(count):
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


@pytest.mark.parametrize(
    ("fps", "count", "tail"),
    [(24, 60, 1), (24, 60, 24), (24, 37, 1), (24, 37, 12), (24, 1, 1), (24, 12, 24),
     (30, 40, 9), (12, 20, 5), (24, 90, 1), (24, 90, 40)],
    ids=["whole-last", "whole-second", "mid-gop-last", "mid-gop-half", "first", "shorter",
         "faster", "slower", "past-the-end-last", "past-the-end-tail"],
)
def test_the_tail_decoded_from_its_keyframe_is_the_full_decodes_tail(
    tmp_path: Path, fps: int, count: int, tail: int
) -> None:
    """An extension's last second and seam, read from the keyframe before them, are exactly
    the frames the encoder gets last from the full decode (same fps, resampled, and past the
    clip's end, where its last frame repeats)."""
    clip = _keyframed_clip(tmp_path / "clip.mp4", 60, 24, gop=8)
    size = {"width": W // 2, "height": H // 2, "fps": fps, "count": count}
    expected = list(iter_frames(clip, **size))[-tail:]
    first = max(0, count - tail)
    # decoded: the clip's first frame, then from the keyframe before the first asked for
    # (``max_frames`` refuses a decode of more: one from the start would be refused)
    keyframe = 8 * (min(59, round(first * 24 / fps)) // 8)
    decoded = 1 + (60 - keyframe) + 1
    got = list(iter_frames(clip, **size, first=first, max_frames=decoded))
    assert len(got) == len(expected) == min(tail, count)
    assert all(np.array_equal(a, b) for a, b in zip(got, expected, strict=True))
    if decoded < min(60, round((count - 1) * 24 / fps) + 1):  # what a full decode reads
        with pytest.raises(MediaError, match="more frames"):
            list(iter_frames(clip, **size, max_frames=decoded))


@pytest.mark.parametrize("past", [0.5, 1000.0], ids=["a-later-keyframe", "the-last-keyframe"])
def test_a_seek_that_lands_past_the_tail_decodes_it_from_the_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, past: float
) -> None:
    """A demuxer whose seek lands after the frames asked for costs a decode from the start,
    never a wrong frame."""
    clip = _keyframed_clip(tmp_path / "clip.mp4", 60, 24, gop=8)
    size = {"width": W // 2, "height": H // 2, "fps": 24, "count": 60}
    expected = list(iter_frames(clip, **size))[-5:]
    opened = probe._open
    seeks: list[int] = []

    class Overshooting:
        def __init__(self, container: Any) -> None:
            self.container = container

        def __getattr__(self, name: str) -> Any:
            return getattr(self.container, name)

        def seek(self, offset: int, **kw: Any) -> None:
            seeks.append(offset)
            if len(seeks) == 1:  # the tail's seek: to a keyframe after the frames asked for
                offset += int(past / kw["stream"].time_base)
            self.container.seek(offset, **kw)

    monkeypatch.setattr(probe, "_open", lambda *a: Overshooting(opened(*a)))
    got = list(iter_frames(clip, **size, first=55))
    assert len(seeks) == 2  # the overshoot was noticed: decoded again from the start
    assert all(np.array_equal(a, b) for a, b in zip(got, expected, strict=True))


def test_the_tail_of_a_file_that_is_not_a_video_is_invalid(tmp_path: Path) -> None:
    path = tmp_path / "not.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypisom" + b"\x00" * 64)
    with pytest.raises(MediaError):
        list(iter_frames(path, width=W, height=H, fps=24, count=4, first=3))
