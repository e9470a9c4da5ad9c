"""Image uploads: real pictures made with Pillow become small, upright, metadata-free files in
the issue's images/ folder; what is not a usable picture is refused in Swedish."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pytest
from PIL import ExifTags, Image, ImageCms, ImageDraw

from pipeline.source import raster_format
from pipeline.studio.images import HEIC, MAX_UPLOAD_BYTES, ImageError, StoredImage, store_image

AGAIN = "Spara bilden som JPEG eller PNG och försök igen."


def photo(width: int, height: int) -> Image.Image:
    """A picture with a photo's many colours, and a red block in its stored top-left corner."""
    picture = Image.merge("RGB", (
        Image.linear_gradient("L").resize((width, height)),
        Image.radial_gradient("L").resize((width, height)),
        Image.effect_noise((width, height), 60).convert("L")))
    ImageDraw.Draw(picture).rectangle((0, 0, width // 5, height // 5), fill=(255, 0, 0))
    return picture


def located_exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.Model] = "iPhone 15"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps.update({1: "N", 2: (59.0, 36.0, 30.0), 3: "E", 4: (16.0, 33.0, 0.0)})
    return exif


def encoded(picture: Image.Image, kind: str, **options: object) -> bytes:
    out = io.BytesIO()
    picture.save(out, kind, **options)
    return out.getvalue()


def assert_clean(folder: Path, stored: StoredImage, kind: str) -> Image.Image:
    data = (folder / stored.name).read_bytes()
    assert stored.bytes == len(data)
    for secret in (b"Exif", b"GPS", b"iPhone", b"xmpmeta", b"hemlig plats", b"ICC_PROFILE"):
        assert secret not in data
    reopened = Image.open(io.BytesIO(data))
    assert reopened.format == kind and (reopened.width, reopened.height) == (
        stored.width, stored.height)
    assert not reopened.getexif() and "icc_profile" not in reopened.info
    assert raster_format(folder / stored.name) == kind  # `check` accepts it
    return reopened


def test_a_large_photo_is_turned_upright_scaled_and_stripped(tmp_path: Path) -> None:
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = encoded(photo(2400, 1600), "JPEG", quality=95, exif=located_exif(6), icc_profile=icc,
                   comment=b"hemlig plats",
                   xmp=b"<x:xmpmeta><exif:GPSLatitude>59,36N</exif:GPSLatitude></x:xmpmeta>")
    assert b"GPS" in data and b"xmpmeta" in data

    stored = store_image(tmp_path, data, "Konferens i Västerås.JPG")

    assert stored.name == "images/konferens-i-vasteras.jpg"
    assert (stored.width, stored.height) == (1200, 1800)  # orientation 6: stored sideways
    reopened = assert_clean(tmp_path, stored, "JPEG")
    assert reopened.info.get("progressive") or reopened.info.get("progression")
    red, green, blue = reopened.convert("RGB").getpixel((1150, 50))  # type: ignore[misc]
    assert red > 200 and green < 60 and blue < 60  # the top-left corner turned to the right
    assert stored.bytes < len(data) // 3


def test_a_png_with_transparency_stays_png_with_its_alpha(tmp_path: Path) -> None:
    logo = Image.new("RGBA", (1600, 800), (0, 0, 0, 0))
    ImageDraw.Draw(logo).ellipse((200, 100, 1400, 700), fill=(107, 45, 130, 255))
    stored = store_image(tmp_path, encoded(logo, "PNG"), "Logo Färg.PNG")

    assert stored.name == "images/logo-farg.png"
    assert (stored.width, stored.height) == (1200, 600)
    reopened = assert_clean(tmp_path, stored, "PNG")
    assert reopened.mode == "RGBA"
    assert reopened.getpixel((5, 5))[3] == 0  # type: ignore[index]
    assert reopened.getpixel((600, 300))[3] == 255  # type: ignore[index]


def test_diagrams_stay_png_photos_become_jpeg_gif_gives_its_first_frame(tmp_path: Path) -> None:
    diagram = Image.new("RGB", (640, 480), "white")
    ImageDraw.Draw(diagram).rectangle((40, 40, 300, 400), fill=(107, 45, 130))
    stored = store_image(tmp_path, encoded(diagram, "PNG"), "diagram.png")
    assert stored.name == "images/diagram.png" and (stored.width, stored.height) == (640, 480)

    frames = [Image.new("P", (300, 200), colour) for colour in (1, 2)]
    gif = encoded(frames[0], "GIF", save_all=True, append_images=frames[1:])
    assert store_image(tmp_path, gif, "rörlig.gif").name == "images/rorlig.png"

    grey = Image.effect_noise((1600, 1200), 40).convert("RGB")  # ≤ 256 colours, but a photo
    stored = store_image(tmp_path, encoded(grey, "JPEG"), "svartvitt.jpg")
    assert stored.name == "images/svartvitt.jpg" and stored.width == 1200

    webp = encoded(photo(900, 600), "WEBP", quality=90, exif=located_exif(1))
    stored = store_image(tmp_path, webp, "foto.webp")
    assert stored.name == "images/foto.jpg" and (stored.width, stored.height) == (900, 600)
    assert_clean(tmp_path, stored, "JPEG")


@pytest.mark.skipif(not HEIC, reason="pillow-heif is not installed, so HEIC is refused")
def test_an_iphone_heic_becomes_a_clean_jpeg(tmp_path: Path) -> None:
    try:
        data = encoded(photo(640, 480), "HEIF", quality=80, exif=located_exif(1).tobytes())
    except (KeyError, OSError, ValueError) as exc:
        pytest.skip(f"pillow-heif cannot write HEIC here ({exc}); reading is what matters")
    assert data[4:8] == b"ftyp"

    stored = store_image(tmp_path, data, "IMG_0042.HEIC")

    assert stored.name == "images/img-0042.jpg" and (stored.width, stored.height) == (640, 480)
    assert_clean(tmp_path, stored, "JPEG")


def png_header(width: int, height: int) -> bytes:
    """A small PNG that declares a huge size: what a decompression bomb looks like."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(
            ">I", zlib.crc32(kind + body))
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(bytes(1000))) + chunk(b"IEND", b""))


@pytest.mark.parametrize(("data", "filename", "said"), [
    (b"this is not a picture at all", "bild.jpg", "går inte att läsa som en bild"),
    (b"", "tom.png", "går inte att läsa som en bild"),
    (b"BM" + bytes(100), "bild.bmp", "går inte att läsa som en bild"),
    (encoded(photo(300, 200), "JPEG")[:400], "halv.jpg", "går inte att läsa som en bild"),
    (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
     "logo.png", "SVG-bilder tas inte emot"),
    (b"<svg/>", "logo.svg", "SVG-bilder tas inte emot"),
    (png_header(100_000, 100_000), "bomb.png", "för många bildpunkter"),
    (png_header(10_000, 10_000), "nastan.png", "för många bildpunkter"),
])
def test_what_is_not_a_usable_picture_is_refused(tmp_path: Path, data: bytes, filename: str,
                                                 said: str) -> None:
    with pytest.raises(ImageError) as refused:
        store_image(tmp_path, data, filename)
    assert said in str(refused.value) and str(refused.value).endswith(AGAIN)
    assert not (tmp_path / "images").exists() or not any((tmp_path / "images").iterdir())


def test_an_upload_over_25_mb_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="högst 25 MB tas emot") as refused:
        store_image(tmp_path, bytes(MAX_UPLOAD_BYTES + 1), "stor.jpg")
    assert str(refused.value).endswith(AGAIN)


def test_names_never_collide_and_the_same_picture_is_reused(tmp_path: Path) -> None:
    first, second = encoded(photo(800, 600), "JPEG"), encoded(photo(700, 500), "JPEG")
    a = store_image(tmp_path, first, "Bild.jpg")
    kept = (tmp_path / a.name).read_bytes()
    b = store_image(tmp_path, second, "bild.jpeg")
    again = store_image(tmp_path, first, "bild.jpg")
    renamed = store_image(tmp_path, first, "Samma bild, nytt namn.jpg")

    assert (a.name, b.name) == ("images/bild.jpg", "images/bild-2.jpg")
    assert again == a and renamed == a
    assert (tmp_path / a.name).read_bytes() == kept
    assert sorted(p.name for p in (tmp_path / "images").iterdir()) == ["bild-2.jpg", "bild.jpg"]

    assert store_image(tmp_path, encoded(photo(200, 100), "JPEG"), "Å ä ö.HEIC").name == (
        "images/a-a-o.jpg")
    assert store_image(tmp_path, encoded(photo(210, 100), "JPEG"), "../../etc/x.jpg").name == (
        "images/x.jpg")
    assert store_image(tmp_path, encoded(photo(220, 100), "JPEG"), "...").name == (
        "images/bild-3.jpg")
    assert not (tmp_path.parent / "etc").exists()


def test_an_images_folder_that_is_a_link_is_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    issue = tmp_path / "2027-2"
    issue.mkdir()
    (issue / "images").symlink_to(elsewhere)
    with pytest.raises(ImageError, match="ingen vanlig mapp"):
        store_image(issue, encoded(photo(100, 100), "JPEG"), "bild.jpg")
    assert not any(elsewhere.iterdir())
