// Non-variadic wrappers around libvips calls Swift cannot make directly.
//
// libvips passes optional arguments as NULL-terminated varargs, which Swift cannot call; each
// wrapper below fixes the option list one Swift caller needs. Every function returns what the
// wrapped vips call returns (0 / non-NULL on success) and leaves the reason in vips_error_buffer().
#pragma once
#include <vips/vips.h>

/// VIPS_INIT is a macro (it checks the ABI the header was compiled against), so wrap it.
static inline int shim_vips_init(const char *argv0) {
    return VIPS_INIT(argv0);
}

/// Opens an in-memory image lazily: only the header is parsed until pixels are asked for.
/// `buf` must outlive the returned image.
static inline VipsImage *shim_vips_header_from_buffer(const void *buf, size_t len) {
    return vips_image_new_from_buffer(buf, len, "", "access", VIPS_ACCESS_SEQUENTIAL, NULL);
}

/// Decodes and resizes in one step so the loader can shrink on load (JPEG DCT scaling, WebP
/// and HEIF scaling), auto-rotating by EXIF orientation. `loader_options` go to the loader,
/// e.g. "fail_on=truncated": thumbnail_buffer's own fail_on argument is not forwarded to the
/// loader in libvips 8.14, the option string is. `buf` must outlive `*out`.
static inline int shim_vips_thumbnail_buffer(const void *buf, size_t len, VipsImage **out,
                                             int width, int height, VipsInteresting crop,
                                             const char *loader_options) {
    return vips_thumbnail_buffer((void *)buf, len, out, width,
                                 "height", height,
                                 "crop", crop,
                                 "option_string", loader_options,
                                 NULL);
}

/// Like shim_vips_thumbnail_buffer without a crop and never enlarging: the whole upright image
/// fitted inside `width` x `height` (an image already smaller comes back at its own size).
static inline int shim_vips_thumbnail_buffer_fit_down(const void *buf, size_t len, VipsImage **out,
                                                      int width, int height, const char *loader_options) {
    return vips_thumbnail_buffer((void *)buf, len, out, width,
                                 "height", height,
                                 "size", VIPS_SIZE_DOWN,
                                 "option_string", loader_options,
                                 NULL);
}

/// Places the image at (`x`, `y`) on a `width` x `height` black canvas.
static inline int shim_vips_embed_black(VipsImage *in, VipsImage **out, int x, int y, int width, int height) {
    return vips_embed(in, out, x, y, width, height, "extend", VIPS_EXTEND_BLACK, NULL);
}

/// Decodes a JPEG scaled down by `shrink` (1, 2, 4 or 8) inside libjpeg (DCT scaling): the
/// cheapest way to shrink, since only a 1/shrink-sized image is ever reconstructed. `fail_on`
/// decides which damage is an error. `buf` must outlive `*out`.
static inline int shim_vips_jpegload_buffer(const void *buf, size_t len, VipsImage **out,
                                            int shrink, VipsFailOn fail_on) {
    return vips_jpegload_buffer((void *)buf, len, out,
                                "shrink", shrink,
                                "fail_on", fail_on,
                                "access", VIPS_ACCESS_SEQUENTIAL,
                                NULL);
}

/// Resamples by `hscale` x `vscale` with vips_resize's default kernel (lanczos3), as
/// vips_thumbnail does after shrink-on-load.
static inline int shim_vips_resize(VipsImage *in, VipsImage **out, double hscale, double vscale) {
    return vips_resize(in, out, hscale, "vscale", vscale, NULL);
}

/// A one-band mask of `text` in a Pango `font` ("DejaVu Sans Bold 28") at `dpi` (test rendering).
static inline int shim_vips_text(VipsImage **out, const char *text, const char *font, int dpi) {
    return vips_text(out, text, "font", font, "dpi", dpi, NULL);
}

/// `in` turned by `angle` degrees (clockwise), the canvas grown to hold it, black around (test rendering).
static inline int shim_vips_rotate(VipsImage *in, VipsImage **out, double angle) {
    return vips_rotate(in, out, angle, NULL);
}

static inline int shim_vips_colourspace(VipsImage *in, VipsImage **out, VipsInterpretation space) {
    return vips_colourspace(in, out, space, NULL);
}

/// Blends the alpha band away onto a solid background colour.
static inline int shim_vips_flatten(VipsImage *in, VipsImage **out, double red, double green, double blue) {
    double colour[3] = { red, green, blue };
    VipsArrayDouble *background = vips_array_double_new(colour, 3);
    int result = vips_flatten(in, out, "background", background, NULL);
    vips_area_unref(VIPS_AREA(background));
    return result;
}

static inline int shim_vips_cast(VipsImage *in, VipsImage **out, VipsBandFormat format) {
    return vips_cast(in, out, format, NULL);
}

static inline int shim_vips_extract_area(VipsImage *in, VipsImage **out, int left, int top, int width, int height) {
    return vips_extract_area(in, out, left, top, width, height, NULL);
}

static inline int shim_vips_extract_bands(VipsImage *in, VipsImage **out, int first, int count) {
    return vips_extract_band(in, out, first, "n", count, NULL);
}

/// Repeats a one-band image into three identical bands.
static inline int shim_vips_replicate_band3(VipsImage *in, VipsImage **out) {
    VipsImage *bands[3] = { in, in, in };
    return vips_bandjoin(bands, out, 3, NULL);
}

static inline int shim_vips_autorot(VipsImage *in, VipsImage **out) {
    return vips_autorot(in, out, NULL);
}

/// Relabels how the bands are to be read (sRGB, B_W, CMYK, ...) without touching pixels.
static inline int shim_vips_copy_interpretation(VipsImage *in, VipsImage **out, VipsInterpretation interpretation) {
    return vips_copy(in, out, "interpretation", interpretation, NULL);
}

/// Encodes with the saver `suffix` selects, e.g. ".jpg[Q=90]"; free `*buf` with g_free.
static inline int shim_vips_write_to_buffer(VipsImage *in, const char *suffix, void **buf, size_t *size) {
    return vips_image_write_to_buffer(in, suffix, buf, size, NULL);
}

/// Name of the loader that opened the image ("jpegload_buffer", ...), or NULL.
static inline const char *shim_vips_loader_name(VipsImage *image) {
    const char *name = NULL;
    if (vips_image_get_typeof(image, VIPS_META_LOADER) == 0 ||
        vips_image_get_string(image, VIPS_META_LOADER, &name) != 0) {
        vips_error_clear();
        return NULL;
    }
    return name;
}

/// EXIF orientation (1-8) the loader found, or 1 when there is none.
static inline int shim_vips_orientation(VipsImage *image) {
    int orientation = 1;
    if (vips_image_get_typeof(image, VIPS_META_ORIENTATION) == 0 ||
        vips_image_get_int(image, VIPS_META_ORIENTATION, &orientation) != 0) {
        vips_error_clear();
        return 1;
    }
    return orientation;
}

static inline void shim_vips_set_orientation(VipsImage *image, int orientation) {
    vips_image_set_int(image, VIPS_META_ORIENTATION, orientation);
}

static inline void shim_vips_unref(VipsImage *image) {
    g_object_unref(image);
}

static inline void shim_g_free(void *pointer) {
    g_free(pointer);
}
