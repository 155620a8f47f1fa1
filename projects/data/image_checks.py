"""Up-front check of a dataset's image files: missing, unreadable or not the annotated size.

``find_bad_images`` reads every image header (fast); a JPEG/PNG whose end marker is missing (the
usual sign of a truncated download) and, with ``decode=True``, every image, is decoded fully.
``apply_bad_image_policy`` then stops with the list of bad files or drops them with a warning.
"""
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import List, NamedTuple, Optional, Sequence

from PIL import Image

from detectron2.utils import comm
from detectron2.utils.file_io import PathManager

logger = logging.getLogger(__name__)

IMAGE_CHECKS = ("header", "decode", "off")
BAD_IMAGE_POLICIES = ("error", "skip")
END_MARKERS = {"JPEG": b"\xff\xd9", "PNG": b"IEND\xaeB`\x82"}  # last bytes of a complete file
EXIF_ORIENTATION = 0x0112
EXIF_HEADER_FORMATS = ("JPEG", "MPO", "TIFF", "WEBP")  # formats whose EXIF sits before the pixel data
_TRANSPOSED_ORIENTATIONS = (5, 6, 7, 8)  # EXIF orientations that swap width and height
MAX_LISTED = 20


class BadImage(NamedTuple):
    file_name: str
    problem: str


class BadImageError(RuntimeError):
    """Images of a dataset that cannot be used (raised before training with BAD_IMAGE_POLICY error)."""


def _ends_with_marker(f, marker: bytes) -> bool:
    """Whether the file's last bytes (ignoring trailing zero/whitespace padding) are ``marker``."""
    f.seek(0, 2)
    size = f.tell()
    f.seek(max(0, size - 1024))
    return f.read().rstrip(b"\x00\r\n\t ").endswith(marker)


def _oriented_size(image: Image.Image):
    """(width, height) after EXIF orientation, as Detectron2's ``read_image`` returns the image."""
    width, height = image.size
    if image.format not in EXIF_HEADER_FORMATS:  # e.g. PNG: reading its EXIF decodes the whole image
        return width, height
    orientation = image.getexif().get(EXIF_ORIENTATION, 1)
    return (height, width) if orientation in _TRANSPOSED_ORIENTATIONS else (width, height)


def check_image(record: dict, decode: bool = False) -> Optional[str]:
    """The problem with ``record["file_name"]`` ("missing", "unreadable: ...", "size ..."), or None."""
    path = record["file_name"]
    if not PathManager.isfile(path):
        return "missing"
    try:
        with PathManager.open(path, "rb") as f:
            with Image.open(f) as image:
                width, height = _oriented_size(image)
                marker = END_MARKERS.get(image.format)
                if decode or (marker is not None and not _ends_with_marker(f, marker)):
                    f.seek(0)
                    with Image.open(f) as full:
                        full.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        return f"unreadable ({type(error).__name__}: {error})"
    expected = (record.get("width"), record.get("height"))
    if None not in expected and expected != (width, height):
        return f"size {width}x{height} but the annotations say {expected[0]}x{expected[1]}"
    return None


def find_bad_images(records: Sequence[dict], decode: bool = False, num_threads: int = 8) -> List[BadImage]:
    """Check every record's image; in distributed runs each process checks a share (all get the result)."""
    rank, world = comm.get_rank(), comm.get_world_size()
    share = list(records)[rank::world]
    with ThreadPoolExecutor(max_workers=num_threads) as pool:
        problems = list(pool.map(lambda r: check_image(r, decode), share))
    bad = [BadImage(r["file_name"], p) for r, p in zip(share, problems) if p is not None]
    if world > 1:
        bad = [item for part in comm.all_gather(bad) for item in part]
    return sorted(bad)


def describe(bad: Sequence[BadImage]) -> str:
    """One line per bad image (the first MAX_LISTED), for error and log messages."""
    lines = [f"  {item.file_name}: {item.problem}" for item in bad[:MAX_LISTED]]
    if len(bad) > MAX_LISTED:
        lines.append(f"  ... and {len(bad) - MAX_LISTED} more")
    return "\n".join(lines)


def apply_bad_image_policy(records: List[dict], dataset_label: str, check: str = "header",
                           policy: str = "error") -> List[dict]:
    """``records`` without their bad images (policy "skip"), or BadImageError listing them ("error")."""
    if check not in IMAGE_CHECKS:
        raise ValueError(f"DATALOADER.IMAGE_CHECK must be one of {IMAGE_CHECKS}, got {check!r}")
    if policy not in BAD_IMAGE_POLICIES:
        raise ValueError(f"DATALOADER.BAD_IMAGE_POLICY must be one of {BAD_IMAGE_POLICIES}, got {policy!r}")
    if check == "off":
        return records
    bad = find_bad_images(records, decode=check == "decode")
    if not bad:
        return records
    if policy == "error":
        raise BadImageError(
            f"{len(bad)} of {len(records)} images of {dataset_label} cannot be used:\n{describe(bad)}\n"
            "Fix or remove them, or set DATALOADER.BAD_IMAGE_POLICY skip to leave them out."
        )
    logger.warning("Skipping %d of %d images of %s:\n%s", len(bad), len(records), dataset_label, describe(bad))
    bad_names = {item.file_name for item in bad}
    return [r for r in records if r["file_name"] not in bad_names]
