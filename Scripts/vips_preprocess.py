"""The Swift Preprocessor (Sources/Imaging/Preprocessor.swift) replayed call for call with pyvips.

Golden fixtures (Scripts/convert_model.py) and the onnxruntime benchmark
(Scripts/bench_onnxruntime.py) both use it, so that their pixels are byte-identical to what the
Swift side computes on the same libvips. Change it together with Preprocessor.swift.
"""
import pyvips


def jpeg_shrink(width: int, height: int, size: int) -> int:
    """Largest JPEG shrink-on-load factor (1, 2, 4, 8) that keeps the shorter side >= size."""
    shorter = min(width, height)
    return next((factor for factor in (8, 4, 2) if shorter >= size * factor), 1)


def _orientation(image: pyvips.Image) -> int:
    # vips_image_get_orientation(): the EXIF orientation, 1 when missing or out of range.
    if image.get_typeof("orientation") == 0:
        return 1
    value = image.get("orientation")
    return value if 1 <= value <= 8 else 1


def _jpeg_thumbnail(data: bytes, width: int, height: int, size: int) -> pyvips.Image:
    # vips_thumbnail's steps for a JPEG, with jpeg_shrink's factor and without its copies.
    image = pyvips.Image.jpegload_buffer(data, shrink=jpeg_shrink(width, height, size),
                                         fail_on="truncated", access="sequential")
    orientation = _orientation(image)
    image = image.colourspace("b-w" if image.bands < 3 else "srgb")
    shrink = min(image.width / size, image.height / size)
    image = image.resize(1 / shrink, vscale=1 / shrink)
    if orientation != 1:
        image = image.copy_memory().autorot()
    crop_width, crop_height = min(size, image.width), min(size, image.height)
    return image.extract_area((image.width - crop_width) // 2, (image.height - crop_height) // 2,
                              crop_width, crop_height)


def thumbnail(data: bytes, size: int) -> pyvips.Image:
    """The resized, auto-rotated, centre-cropped (at most size x size) image, as Swift makes it."""
    header = pyvips.Image.new_from_buffer(data, "", access="sequential")
    if header.get("vips-loader") == "jpegload_buffer":
        return _jpeg_thumbnail(data, header.width, header.height, size)
    return pyvips.Image.thumbnail_buffer(data, size, height=size, crop="centre",
                                         option_string="fail_on=truncated")


def rgb(data: bytes, resize: int, width: int, height: int) -> bytes:
    """HWC RGB uint8 bytes of the width x height centre of the resize x resize thumbnail."""
    image = thumbnail(data, resize)
    if image.interpretation != "srgb":
        image = image.colourspace("srgb")
    if image.hasalpha():
        image = image.flatten(background=[255, 255, 255])
    image = image.cast("uchar")
    if image.bands > 3:
        image = image.extract_band(0, n=3)
    elif image.bands == 1:
        image = image.bandjoin([image, image])
    if image.bands != 3 or image.width < width or image.height < height:
        raise ValueError(f"cannot crop {width}x{height} RGB from {image.width}x{image.height}x{image.bands}")
    image = image.extract_area((image.width - width) // 2, (image.height - height) // 2, width, height)
    return image.write_to_memory()
