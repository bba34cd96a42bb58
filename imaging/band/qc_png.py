"""Quality-control picture of a quantification: axial and coronal SWI slices with the masks."""

from __future__ import annotations

import io
from typing import Final

import nibabel as nib
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

#: Display window of the SWI (percentiles of the crop).
WINDOW_PERCENTILES: Final[tuple[float, float]] = (1.0, 99.0)
#: Overlay colours (RGB) and the band fill opacity.
RIBBON_COLOUR: Final[tuple[int, int, int]] = (0, 210, 255)
BAND_COLOUR: Final[tuple[int, int, int]] = (255, 40, 40)
BAND_OPACITY: Final[float] = 0.6
#: Outline of the precentral labels where world coordinates alone put them (before registration).
BEFORE_COLOUR: Final[tuple[int, int, int]] = (255, 150, 0)
TEXT_COLOUR: Final[tuple[int, int, int]] = (255, 255, 0)
#: Smallest panel height (pixels) and the gap between panels.
MIN_PANEL_PX: Final[int] = 320
MAX_PANEL_PX: Final[int] = 1200
PANEL_GAP_PX: Final[int] = 8
CAPTION_PX: Final[int] = 16
#: Largest number of voxels sampled for the window percentiles.
_WINDOW_SAMPLE: Final[int] = 1_000_000


def _to_ras(
    array: npt.NDArray[np.generic], affine: npt.NDArray[np.float64]
) -> npt.NDArray[np.generic]:
    ornt = nib.orientations.io_orientation(affine)
    return np.asarray(nib.orientations.apply_orientation(array, ornt))


def _ras_zooms(affine: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    ornt = nib.orientations.io_orientation(affine)
    zooms = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
    out = np.empty(3)
    for axis in range(3):
        out[int(ornt[axis, 0])] = zooms[axis]
    return out


def _panel(
    grey: npt.NDArray[np.float32],
    ribbon: npt.NDArray[np.bool_],
    band: npt.NDArray[np.bool_],
    pixel_mm: tuple[float, float],
    height_px: int,
    before: npt.NDArray[np.bool_] | None = None,
) -> Image.Image:
    """One slice (rows top to bottom, columns left to right) as an upscaled RGB image."""
    rows, cols = grey.shape
    row_mm, col_mm = pixel_mm
    scale = height_px / (rows * row_mm)  # pixels per mm, equal on both axes: aspect honoured
    size = (max(1, round(cols * col_mm * scale)), max(1, round(rows * row_mm * scale)))
    base = Image.fromarray((grey * 255).astype(np.uint8), mode="L").resize(
        size, Image.Resampling.BILINEAR
    )
    rgb = np.asarray(base.convert("RGB"), dtype=np.float32)

    def upscale(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
        image = Image.fromarray(mask.astype(np.uint8) * 255, mode="L").resize(
            size, Image.Resampling.NEAREST
        )
        return np.asarray(image) > 0

    band_px = upscale(band)
    ribbon_px = upscale(ribbon)
    rgb[band_px] = (1 - BAND_OPACITY) * rgb[band_px] + BAND_OPACITY * np.asarray(BAND_COLOUR)
    if before is not None:
        before_px = upscale(before)
        rgb[before_px & ~ndimage.binary_erosion(before_px, iterations=2)] = BEFORE_COLOUR
    outline = ribbon_px & ~ndimage.binary_erosion(ribbon_px, iterations=2)
    rgb[outline] = RIBBON_COLOUR
    return Image.fromarray(rgb.clip(0, 255).astype(np.uint8), mode="RGB")


def render_qc_png(
    swi_crop: npt.NDArray[np.floating],
    deep_mask: npt.NDArray[np.bool_],
    band_mask: npt.NDArray[np.bool_],
    crop_affine: npt.NDArray[np.float64],
    *,
    panel_height_px: int = MIN_PANEL_PX,
    before_mask: npt.NDArray[np.bool_] | None = None,
) -> bytes:
    """PNG with an axial and a coronal slice through the centroid of the deep precentral ribbon.

    The SWI is windowed to its 1st-99th percentile in grey; the deep ribbon is outlined in cyan
    and band voxels are filled in red. With ``before_mask`` (the precentral labels where world
    coordinates alone put them, for a registered run) that is outlined in orange underneath, so
    the picture shows the ribbon before and after registration. Slices are shown in neurological convention (patient left
    on the image left, marked L/R), anterior (axial) or superior (coronal) at the top, scaled
    with square millimetres so the voxel aspect is honoured.

    Parameters
    ----------
    swi_crop : ndarray, shape (X, Y, Z)
        Intensities of the crop (``QuantResult.swi_crop``).
    deep_mask, band_mask : ndarray of bool, shape (X, Y, Z)
        ``QuantResult.deep_mask`` and ``QuantResult.band_mask``.
    crop_affine : ndarray, shape (4, 4)
        Voxel-to-world transform of the crop (``QuantResult.crop_affine``).
    panel_height_px : int
        Height of each panel in pixels (clipped to 320-1200).
    before_mask : ndarray of bool, shape (X, Y, Z), optional
        Precentral labels on the crop before registration.

    Returns
    -------
    bytes
        PNG file content.
    """
    if not (swi_crop.shape == deep_mask.shape == band_mask.shape) or swi_crop.ndim != 3:
        raise ValueError("swi_crop, deep_mask and band_mask must be 3-D arrays of one shape")
    height = int(np.clip(panel_height_px, MIN_PANEL_PX, MAX_PANEL_PX))
    swi = np.asarray(_to_ras(np.asarray(swi_crop, dtype=np.float32), crop_affine), np.float32)
    ribbon = _to_ras(deep_mask, crop_affine).astype(bool)
    band = _to_ras(band_mask, crop_affine).astype(bool)
    if before_mask is not None and before_mask.shape != deep_mask.shape:
        raise ValueError("before_mask must have the crop's shape")
    before = None if before_mask is None else _to_ras(before_mask, crop_affine).astype(bool)
    zooms = _ras_zooms(crop_affine)

    flat = swi.reshape(-1)
    sample = flat[:: max(1, flat.size // _WINDOW_SAMPLE)]
    # NaN (outside a QSM or CLEARSWI brain mask) takes no part in the window and shows black.
    sample = sample[np.isfinite(sample)]
    low, high = np.percentile(sample, WINDOW_PERCENTILES) if sample.size else (0.0, 1.0)
    span = float(high - low) if high > low else 1.0
    grey = np.nan_to_num(np.clip((swi - low) / span, 0.0, 1.0), nan=0.0).astype(np.float32)

    if ribbon.any():
        centre = np.round(np.argwhere(ribbon).mean(axis=0)).astype(int)
    else:
        centre = np.asarray(swi.shape) // 2
    _, cy, cz = (int(c) for c in centre)

    # RAS arrays: axis 0 left→right, 1 posterior→anterior, 2 inferior→superior.
    axial = _panel(
        grey[:, :, cz].T[::-1],
        ribbon[:, :, cz].T[::-1],
        band[:, :, cz].T[::-1],
        (float(zooms[1]), float(zooms[0])),
        height,
        None if before is None else before[:, :, cz].T[::-1],
    )
    coronal = _panel(
        grey[:, cy, :].T[::-1],
        ribbon[:, cy, :].T[::-1],
        band[:, cy, :].T[::-1],
        (float(zooms[2]), float(zooms[0])),
        height,
        None if before is None else before[:, cy, :].T[::-1],
    )
    width = axial.width + coronal.width + PANEL_GAP_PX
    canvas = Image.new("RGB", (width, height + CAPTION_PX), (0, 0, 0))
    canvas.paste(axial, (0, CAPTION_PX))
    canvas.paste(coronal, (axial.width + PANEL_GAP_PX, CAPTION_PX))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    draw.text((4, 2), "axial", fill=TEXT_COLOUR, font=font)
    draw.text((axial.width + PANEL_GAP_PX + 4, 2), "coronal", fill=TEXT_COLOUR, font=font)
    if before is not None:
        legend = "orange: labels before registration, cyan: after"
        draw.text((width - 6 * len(legend) - 4, 2), legend, fill=BEFORE_COLOUR, font=font)
    for left, panel in ((0, axial), (axial.width + PANEL_GAP_PX, coronal)):
        middle = CAPTION_PX + panel.height // 2
        draw.text((left + 4, middle), "L", fill=TEXT_COLOUR, font=font)
        draw.text((left + panel.width - 12, middle), "R", fill=TEXT_COLOUR, font=font)
    out = io.BytesIO()
    canvas.save(out, format="PNG", optimize=False)
    return out.getvalue()
