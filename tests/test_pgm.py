"""data.image (the PGM reader, grey images through Pillow) and data.datasets.orl (the ORL
faces from a zip or a directory): the formats, and a clear error for each way a file is bad."""

import re
import zipfile

import numpy as np
import pytest
from conftest import shared_data

from deepwise.data.datasets import ORLFaces, read_orl
from deepwise.data.image import ImageFormatError, parse_pgm, read_grey, read_pgm


def _p5(img: np.ndarray, maxval: int = 255, comment: bytes = b"") -> bytes:
    h, w = img.shape
    body = img.astype(">u2" if maxval > 255 else np.uint8).tobytes()
    return b"P5\n" + comment + f"{w} {h}\n{maxval}\n".encode() + body


def test_p5_8_bit_with_comments_and_whitespace_pixels():
    img = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    img[0, 0] = 10  # the byte of '\n' right after the header must be read as a pixel
    data = _p5(img, comment=b"# made by a test\n#another\n")
    out = parse_pgm(data)
    assert out.dtype == np.uint8 and out.shape == (3, 4)
    np.testing.assert_array_equal(out, img)


def test_p5_16_bit_is_big_endian():
    img = np.array([[0, 1, 256], [1000, 65535, 513]], dtype=np.uint16)
    out = parse_pgm(_p5(img, maxval=65535))
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, img)


def test_p2_text():
    data = b"P2\n# comment\n3 2\n1000\n0 1 2\n  999 1000\n7"
    out = parse_pgm(data)
    assert out.dtype == np.uint16  # maxval > 255
    np.testing.assert_array_equal(out, [[0, 1, 2], [999, 1000, 7]])
    np.testing.assert_array_equal(parse_pgm(b"P2 2 1 255 3 4"), [[3, 4]])


@pytest.mark.parametrize("data, message", [
    (b"P6\n2 2\n255\n" + bytes(12), "not a PGM file: it starts with b'P6' (a colour PPM)"),
    (b"\x89PNG\r\n", "not a PGM file: it starts with b'\\x89PNG'"),
    (b"P5\n92", "truncated PGM header: the height is missing"),
    (b"P5\n2 2\n", "truncated PGM header: maxval is missing"),
    (b"P5\n2 x\n255\n" + bytes(4), "bad PGM header: height is b'x'"),
    (b"P5\n0 2\n255\n", "the image is 0x2"),
    (b"P5\n2 2\n70000\n" + bytes(8), "maxval is 70000, expected 1..65535"),
    (b"P5\n4 3\n255\n" + bytes(11), "needs 12 bytes of pixels (1 per pixel), the file has 11"),
    (b"P5\n2 2\n300\n" + bytes(7), "needs 8 bytes of pixels (2 per pixel), the file has 7"),
    (b"P5\n2 1\n100\n\x05\xc8", "a pixel value 200 is above the header's maxval 100"),
    (b"P2\n2 2\n255\n1 2 3", "a 2x2 P2 (text) PGM needs 4 pixel values, the file has 3"),
    (b"P2\n2 1\n255\n1 a", "P2 pixel b'a' is not a non-negative integer"),
])
def test_malformed_files_name_the_file_and_the_problem(tmp_path, data, message):
    path = tmp_path / "bad.pgm"
    path.write_bytes(data)
    pattern = re.escape(f"'{path}': ") + ".*" + re.escape(message)
    with pytest.raises(ImageFormatError, match=pattern):
        read_pgm(path)


def test_read_grey_pgm_png_colour_and_size(tmp_path):
    from PIL import Image

    img = (np.arange(20, dtype=np.uint8).reshape(4, 5) * 12)
    (tmp_path / "a.pgm").write_bytes(_p5(img))
    np.testing.assert_allclose(read_grey(tmp_path / "a.pgm"), img / 255, rtol=1e-6)
    (tmp_path / "b.pgm").write_bytes(_p5(img.astype(np.uint16) * 100, maxval=30000))
    np.testing.assert_allclose(read_grey(tmp_path / "b.pgm"), img.astype(int) * 100 / 30000,
                               rtol=1e-6)
    Image.fromarray(img).save(tmp_path / "a.png")
    np.testing.assert_allclose(read_grey(tmp_path / "a.png"), img / 255, rtol=1e-6)
    # a colour image becomes grey: pure red is ITU-R 601 luma 0.299
    rgb = np.zeros((4, 5, 3), np.uint8)
    rgb[..., 0] = 255
    Image.fromarray(rgb).save(tmp_path / "red.png")
    np.testing.assert_allclose(read_grey(tmp_path / "red.png"), 76 / 255, rtol=1e-6)
    # a different size is refused, or resized on request
    with pytest.raises(ImageFormatError, match=r"the image is 5x4 .width x height., expected "
                                               r"92x112"):
        read_grey(tmp_path / "a.png", size=(92, 112))
    assert read_grey(tmp_path / "a.png", size=(10, 8), resize=True).shape == (8, 10)


def test_read_grey_refuses_a_file_that_is_no_image(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not a picture\n")
    with pytest.raises(ImageFormatError, match="notes.txt': not an image file"):
        read_grey(path)
    (tmp_path / "cut.png").write_bytes((tmp_path / "notes.txt").read_bytes()[:0] +
                                       b"\x89PNG\r\n\x1a\n" + bytes(10))
    with pytest.raises(ImageFormatError, match="cut.png'"):
        read_grey(tmp_path / "cut.png")


def _tiny_orl(tmp_path, people=3, photos=4):
    rng = np.random.default_rng(0)
    z = tmp_path / "faces.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for p in range(1, people + 1):
            for i in range(1, photos + 1):
                zf.writestr(f"att_faces/s{p}/{i}.pgm", _p5(rng.integers(0, 256, (6, 5))))
        zf.writestr("att_faces/README", "ignored")
    return z


def test_orl_reader_zip_and_directory(tmp_path):
    z = _tiny_orl(tmp_path, people=11)
    images, person, photo = read_orl(z)
    assert images.shape == (44, 6, 5) and images.dtype == np.uint8
    assert person.tolist()[:8] == [1, 1, 1, 1, 2, 2, 2, 2] and person[-1] == 11  # numeric order
    with zipfile.ZipFile(z) as zf:
        zf.extractall(tmp_path / "dir")
    images2, person2, photo2 = read_orl(tmp_path / "dir")
    np.testing.assert_array_equal(images, images2)
    np.testing.assert_array_equal(photo, photo2)
    ds = ORLFaces(z, people=[2, 11], photos=[1, 2])
    x, y = ds.arrays()
    assert x.shape == (4, 1, 6, 5) and y.tolist() == [0, 0, 1, 1] and ds.classes == ["s2", "s11"]
    assert ds.photos.tolist() == [1, 2, 1, 2]


def test_orl_reader_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_orl(tmp_path / "missing.zip")
    (tmp_path / "x.zip").write_text("hello")
    with pytest.raises(ImageFormatError, match="not a zip file or a directory"):
        read_orl(tmp_path / "x.zip")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImageFormatError, match="holds no ORL photo"):
        read_orl(tmp_path / "empty")
    z = _tiny_orl(tmp_path)
    with zipfile.ZipFile(z, "a") as zf:
        zf.writestr("att_faces/s9/1.pgm", b"P5\n5 6\n255\n" + bytes(3))
    with pytest.raises(ImageFormatError, match=r"faces.zip!att_faces/s9/1.pgm': truncated"):
        read_orl(z)
    with pytest.raises(ValueError, match=r"has no photos of people \[7\]"):
        ORLFaces(_tiny_orl(tmp_path), people=[1, 7])


def test_the_real_orl_zip():
    ds = ORLFaces(shared_data("orl-faces/orl_faces.zip"))
    x, y = ds.arrays()
    assert x.shape == (320, 1, 112, 92) and len(ds.classes) == 32
    assert np.bincount(y).tolist() == [10] * 32
    assert 0.2 < x.mean() < 0.7 and x.min() >= 0 and x.max() <= 1
