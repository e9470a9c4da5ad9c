"""Image uploads for the studio: whatever a communicator drops in becomes a small, clean file in
the issue's ``images/`` folder.

``store_image`` takes the uploaded bytes and their file name. It accepts JPEG, PNG, WebP, GIF
(the first frame) and HEIC/HEIF from iPhones (through pillow-heif), turns the picture upright
by its EXIF orientation, converts it to sRGB, scales it to at most 1200 px wide (twice the
600 px email column, for sharp phone screens), and writes a new file with no metadata at all:
no EXIF, no GPS position, no XMP, no comment, no colour profile. Photos become progressive
JPEG at quality 82 (a camera's picture always counts as a photo, black-and-white ones too);
pictures with transparency or few colours (logos, diagrams) become optimised PNG. The name
is an ASCII slug of the original one, never overwriting another file; the same picture
uploaded again reuses the file it became the first time.

Refused, with a Swedish ``ImageError`` that says what to do: uploads over 25 MB, SVG (it can
hold script), anything Pillow cannot open as one of those formats, and images with more pixels
than ``PIL.Image.MAX_IMAGE_PIXELS`` (decompression bombs).
"""

from __future__ import annotations

import io
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from pipeline.errors import NewsletterError

try:
    from pillow_heif import register_heif_opener
except ImportError:  # pragma: no cover - pillow-heif is a dependency; HEIC is refused without it
    HEIC = False
else:
    register_heif_opener()
    HEIC = True

MAX_UPLOAD_BYTES = 25 * 1024 * 1024
MAX_WIDTH = 1200  # twice the email's 600 px column
MAX_HEIGHT = 4800  # at that width: four screens of a phone, taller is a mistake
JPEG_QUALITY = 82
FEW_COLOURS = 256  # at most this many colours (and not from a camera): a logo or diagram
# Pillow's openers to try; the JPEG one also opens cameras' multi-picture files (MPO).
FORMATS = ("JPEG", "PNG", "WEBP", "GIF", *(("HEIF",) if HEIC else ()))
PHOTO_FORMATS = ("JPEG", "MPO", "HEIF")  # a camera's: a photo even in black and white
_ORIENTATION = 0x0112
_HEIC_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
_AGAIN = "Spara bilden som JPEG eller PNG och försök igen."


class ImageError(NewsletterError):
    """An upload that cannot become an image of the issue; the message says what to do."""


@dataclass(frozen=True)
class StoredImage:
    name: str  # from the issue folder, as a section's image.src: "images/konferens.jpg"
    width: int
    height: int
    bytes: int


def store_image(folder: Path, data: bytes, filename: str) -> StoredImage:
    """Convert the upload and store it in ``folder/images``; what was stored, or reused."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImageError(f"Filen är {len(data) / 1024 / 1024:.0f} MB, och högst "
                         f"{MAX_UPLOAD_BYTES // 1024 // 1024} MB tas emot. Spara bilden i "
                         f"mindre storlek. {_AGAIN}")
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")  # a text file starts with '<'
    if filename.lower().endswith((".svg", ".svgz")) or (
            head.startswith(b"<") and re.search(rb"<svg[\s>/]", head, re.IGNORECASE)):
        raise ImageError(f"SVG-bilder tas inte emot, eftersom de kan innehålla skript. {_AGAIN}")
    if not HEIC and data[4:8] == b"ftyp" and data[8:12] in _HEIC_BRANDS:  # pragma: no cover
        raise ImageError("HEIC-bilder från iPhone kan inte läsas på den här datorn (pillow-heif "
                         "saknas). " + _AGAIN)
    picture, photo = _decode(data)
    shown_height = picture.height * min(1.0, MAX_WIDTH / picture.width)
    if shown_height > MAX_HEIGHT:  # a strip no email or page can show
        raise ImageError(f"Bilden är {picture.width} × {picture.height} pixlar: för hög för "
                         f"ett nyhetsbrev. Beskär den så att den blir lägre. {_AGAIN}")
    png = picture.mode == "RGBA" or (not photo and picture.getcolors(FEW_COLOURS) is not None)
    if picture.width > MAX_WIDTH:
        height = max(1, round(picture.height * MAX_WIDTH / picture.width))
        picture = picture.resize((MAX_WIDTH, height), Image.Resampling.LANCZOS, reducing_gap=3)
    fresh = Image.frombytes(picture.mode, picture.size, picture.tobytes())  # no info carried
    out = io.BytesIO()
    if png:
        fresh.save(out, "PNG", optimize=True)
    else:
        fresh.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
    name = _store(folder, out.getvalue(), _slug(filename) + (".png" if png else ".jpg"))
    return StoredImage(name, fresh.width, fresh.height, len(out.getvalue()))


def _decode(data: bytes) -> tuple[Image.Image, bool]:
    """The first frame, cleaned (JPEG decoded at the smallest scale still wide enough), and
    whether it comes from a camera."""
    unreadable = ("Filen går inte att läsa som en bild. Bilder i JPEG, PNG, WebP, GIF och "
                  f"HEIC (iPhone) tas emot. {_AGAIN}")
    too_many = ("Bilden har för många bildpunkter för att öppnas säkert (högst "
                f"{(Image.MAX_IMAGE_PIXELS or 0) // 1_000_000} miljoner). Spara den i mindre "
                f"storlek. {_AGAIN}")
    try:
        image = Image.open(io.BytesIO(data), formats=FORMATS)
        limit = Image.MAX_IMAGE_PIXELS
        if limit is not None and image.width * image.height > limit:
            raise ImageError(too_many)
        if image.format in ("JPEG", "MPO"):
            upright = image.getexif().get(_ORIENTATION) in (5, 6, 7, 8)
            shown = image.height if upright else image.width
            if shown > MAX_WIDTH:
                scale = MAX_WIDTH / shown
                image.draft(None, (int(image.width * scale) + 1, int(image.height * scale) + 1))
        image.load()
        return _clean(image), image.format in PHOTO_FORMATS
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(too_many) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageError(unreadable) from exc


def _clean(image: Image.Image) -> Image.Image:
    """Upright, sRGB, RGB or (if some pixel is see-through) RGBA."""
    icc = image.info.get("icc_profile")
    alpha = image.has_transparency_data
    upright = ImageOps.exif_transpose(image) or image
    if upright.mode not in ("RGB", "RGBA", "CMYK"):
        upright = upright.convert("RGBA" if alpha else "RGB")
    if alpha and upright.mode == "RGBA" and upright.getchannel("A").getextrema()[0] == 255:
        upright, alpha = upright.convert("RGB"), False  # an alpha channel nobody sees
    mode = "RGBA" if alpha else "RGB"
    if icc:
        try:
            converted = ImageCms.profileToProfile(
                upright, ImageCms.ImageCmsProfile(io.BytesIO(icc)),
                ImageCms.createProfile("sRGB"), outputMode=mode)
            upright = converted or upright
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            pass  # a broken or mismatched profile: keep the colours as they are
    return upright if upright.mode == mode else upright.convert(mode)


def _slug(filename: str) -> str:
    """'Konferens i Västerås (1).HEIC' → 'konferens-i-vasteras-1'."""
    stem = PureWindowsPath(filename).name  # drop any folders, / or \\ alike
    stem = stem.rsplit(".", 1)[0] if "." in stem.lstrip(".") else stem
    ascii_only = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_only.lower()).strip("-")[:60].rstrip("-")
    return slug or "bild"


def _store(folder: Path, encoded: bytes, wanted: str) -> str:
    """Write ``encoded`` under a free name like ``wanted`` (or reuse an identical file)."""
    images = folder / "images"
    if images.is_symlink() or (images.exists() and not images.is_dir()):
        raise ImageError(f"{images} är ingen vanlig mapp. Ta bort den och skapa en mapp med "
                         "namnet images i numrets mapp, och ladda sedan upp bilden igen.")
    if not folder.is_dir():
        raise ImageError(f"Numrets mapp {folder} finns inte. Öppna numret från listan och "
                         "ladda upp bilden igen.")
    images.mkdir(exist_ok=True)
    for existing in sorted(images.iterdir()):
        if (not existing.is_symlink() and existing.is_file()
                and existing.stat().st_size == len(encoded) and existing.read_bytes() == encoded):
            return f"images/{existing.name}"
    stem, extension = wanted.rsplit(".", 1)
    for number in range(1, 1000):
        name = f"{stem}.{extension}" if number == 1 else f"{stem}-{number}.{extension}"
        try:
            with (images / name).open("xb") as file:  # never replaces a file
                file.write(encoded)
        except FileExistsError:
            continue
        return f"images/{name}"
    raise ImageError(f"Det finns redan för många bilder som heter {wanted}. Byt namn på "
                     "bilden och ladda upp den igen.")
