"""Where a face sits in the paper's images: CelebA aligned faces cropped as DCGAN's crop_celebA.lua.

The datasets crop to this layout, the synthetic faces are drawn in it, and the O1–O6 masks are
placed on it, so the three agree through these constants.
"""

ALIGNED_SIZE = (178, 218)
"""CelebA's ``img_align_celeba`` images: width, height."""

CROP_BOX = (30, 40, 168, 178)
"""crop_celebA.lua's box in the aligned image, ``(x0, y0, x1, y1)``: 138×138 around the face."""

MEAN_LANDMARKS = (
    (0.285, 0.516),  # left eye
    (0.563, 0.516),  # right eye
    (0.418, 0.691),  # nose tip
    (0.299, 0.812),  # left mouth corner
    (0.548, 0.813),  # right mouth corner
)
"""CelebA's 5 landmarks averaged over ids 1–330, mapped into the crop, as fractions of
``(width, height)`` ("left" = image-left). The face sits slightly left of the crop's centre."""
