import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from artface_align import ImageDecodeError, load_image


def _png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _in_mode(src: Image.Image, mode: str) -> Image.Image:
    if mode in ("I;16", "I", "F"):
        sixteen = Image.fromarray(np.asarray(src.convert("L"), dtype=np.uint16) * 257)  # mode I;16
        return sixteen if mode == "I;16" else sixteen.convert(mode)
    return src.convert(mode)


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA", "CMYK", "P", "LA", "I;16", "I", "F", "1"])
def test_every_mode_becomes_rgb(astronaut, mode):
    src = Image.fromarray(astronaut).resize((64, 48))
    img = _in_mode(src, mode)
    assert img.mode == mode
    out = load_image(img)
    assert out.mode == "RGB" and out.size == (64, 48)
    if mode in ("L", "I;16", "I"):
        # 16-bit is rescaled, not clipped: a mid-grey stays mid-grey
        np.testing.assert_allclose(np.asarray(out)[..., 0], np.asarray(src.convert("L")), atol=1)


def test_sixteen_bit_array_is_rescaled():
    arr = np.full((8, 8, 3), 65535, dtype=np.uint16)
    arr[0, 0] = 0
    out = np.asarray(load_image(arr))
    assert out[1, 1].tolist() == [255, 255, 255] and out[0, 0].tolist() == [0, 0, 0]


def test_rgba_transparency_flattens_on_white():
    arr = np.zeros((4, 4, 4), dtype=np.uint8)  # fully transparent black
    assert np.asarray(load_image(arr))[0, 0].tolist() == [255, 255, 255]


def test_exif_orientation_is_applied(astronaut, tmp_path):
    upright = Image.fromarray(astronaut)
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # what a camera stores for orientation 6
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.jpg"
    stored.save(path, quality=95, exif=exif)
    out = load_image(path)
    assert out.size == upright.size
    diff = np.abs(np.asarray(out, dtype=float) - np.asarray(upright, dtype=float)).mean()
    assert diff < 6  # same picture up to JPEG loss


def test_corrupt_bytes_clear_error():
    with pytest.raises(ImageDecodeError, match="not a recognised image"):
        load_image(b"this is not an image at all", name="record 17")


def test_empty_bytes_clear_error():
    with pytest.raises(ImageDecodeError, match="empty"):
        load_image(b"")


def test_truncated_jpeg_clear_error(astronaut):
    buf = io.BytesIO()
    Image.fromarray(astronaut).save(buf, "JPEG")
    with pytest.raises(ImageDecodeError, match="corrupt or truncated"):
        load_image(buf.getvalue()[: len(buf.getvalue()) // 3], name="half.jpg")


def test_zero_size_array_clear_error():
    with pytest.raises(ImageDecodeError, match="zero-size"):
        load_image(np.zeros((0, 10, 3), dtype=np.uint8))


def test_zero_size_png_header_clear_error():
    png = bytearray(_png_bytes(Image.new("RGB", (1, 1))))
    png[16:24] = struct.pack(">II", 0, 1)
    png[29:33] = struct.pack(">I", zlib.crc32(bytes(png[12:29])))
    with pytest.raises(ImageDecodeError):
        load_image(bytes(png))


def test_decompression_bomb_is_refused_before_decoding():
    # A valid 1x1 PNG whose header claims 100000 x 100000 pixels.
    png = bytearray(_png_bytes(Image.new("RGB", (1, 1))))
    png[16:24] = struct.pack(">II", 100_000, 100_000)
    png[29:33] = struct.pack(">I", zlib.crc32(bytes(png[12:29])))
    with pytest.raises(ImageDecodeError, match="decompression bomb"):
        load_image(bytes(png), name="bomb.png")


def test_pixel_limit_is_configurable(astronaut):
    data = _png_bytes(Image.fromarray(astronaut))
    with pytest.raises(ImageDecodeError, match="exceeds the limit"):
        load_image(data, max_pixels=1000)
    assert load_image(data, max_pixels=512 * 512).size == (512, 512)


def test_pixels_are_numpys_for_every_mode_and_box():
    """``pixels`` (zero-copy export where Pillow has it) gives exactly ``np.asarray``'s array."""
    from skimage import data

    from artface_align.imageio import pixels

    img = Image.fromarray(data.astronaut()).resize((301, 257))
    for mode in ("RGB", "L", "RGBA"):
        im = img.convert(mode)
        for box in (None, (0, 0, 301, 257), (17, 9, 200, 250), (300, 256, 301, 257)):
            got, want = pixels(im, box), np.asarray(im if box is None else im.crop(box))
            assert got.shape == want.shape and got.flags["C_CONTIGUOUS"] and (got == want).all(), (mode, box)


def test_encoded_images_are_pillows():
    """JPEG bytes from the GIL-free encoder are Pillow's byte for byte; PNG keeps every pixel."""
    import io

    from skimage import data

    from artface.pipeline import encode_image

    for size in (64, 256, 512):
        img = Image.fromarray(data.astronaut()).resize((size, size))
        for q in (75, 95):
            buf = io.BytesIO()
            img.save(buf, "JPEG", quality=q, subsampling=0)
            assert encode_image(img, "jpeg", q) == buf.getvalue()
        png = Image.open(io.BytesIO(encode_image(img, "png")))
        assert png.format == "PNG" and png.mode == "RGB" and (np.asarray(png) == np.asarray(img)).all()
        grey = img.convert("L")  # other modes: Pillow's encoder
        assert Image.open(io.BytesIO(encode_image(grey, "jpeg", 90))).mode == "L"
