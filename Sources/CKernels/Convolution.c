// A register-tiled f32 dense convolution (NHWC, groups 1, dilation 1) with fused bias and clamp, written
// because Debian's XNNPACK build runs a network's first convolution (3 input channels) with an SSE kernel:
// EfficientNet-Lite0's 3x3 stride-2 stem took 1.5x onnxruntime's time.
//
// It is a GEMM whose A matrix (im2col) is never built: for one window row ky, an output pixel's inputs
// (kx, input channel) are kw * cin contiguous floats of NHWC input. Tiles are up to 6 neighbouring output
// pixels x 16 output channels (12 ymm accumulators) like the pointwise kernel; weights are packed per panel of
// 16 output channels as the bias, then one 16-wide row per (ky, kx, input channel). Pixels whose window
// reaches into the horizontal padding are computed one at a time over their valid taps; rows at the top and
// bottom skip the padding rows.
#include "CKernels.h"

#include <pthreadpool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "Window.h"

enum { CK_CONV_PIXELS = 6, CK_CONV_NR = 16 };

struct ck_convolution {
    size_t cin, cout, panels;
    size_t kh, kw, sh, sw, pad_top, pad_left;
    size_t in_h, in_w, out_h, out_w;
    size_t inner_begin, inner_end;  // output columns [inner_begin, inner_end) read no horizontal padding
    ck_epilogue epilogue;
    float *packed;  // panels x (1 + kh * kw * cin) rows of 16 floats
};

ck_convolution *ck_convolution_create(size_t input_channels, size_t output_channels, size_t kernel_h, size_t kernel_w,
                                      size_t stride_h, size_t stride_w, size_t pad_top, size_t pad_left, size_t input_h,
                                      size_t input_w, size_t output_h, size_t output_w, const float *weights,
                                      const float *bias, float output_min, float output_max) {
    if (input_channels == 0 || output_channels == 0 || kernel_h == 0 || kernel_w == 0 || stride_h == 0 ||
        stride_w == 0 || input_h == 0 || input_w == 0 || output_h == 0 || output_w == 0 || pad_top >= kernel_h ||
        pad_left >= kernel_w) {
        return NULL;
    }
    ck_convolution *op = calloc(1, sizeof *op);
    if (op == NULL) return NULL;
    size_t inner_begin = (pad_left + stride_w - 1) / stride_w;
    size_t inner_end = input_w + pad_left >= kernel_w ? (input_w + pad_left - kernel_w) / stride_w + 1 : 0;
    if (inner_end > output_w) inner_end = output_w;
    if (inner_begin > inner_end) inner_begin = inner_end;
    *op = (ck_convolution){input_channels, output_channels, (output_channels + CK_CONV_NR - 1) / CK_CONV_NR,
                           kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left, input_h, input_w, output_h,
                           output_w, inner_begin, inner_end, ck_epilogue_clamp(output_min, output_max), NULL};
    const size_t k = kernel_h * kernel_w * input_channels;
    op->packed = ck_alloc_packed(op->panels * (1 + k) * CK_CONV_NR);
    if (op->packed == NULL) {
        free(op);
        return NULL;
    }
    for (size_t o = 0; o < output_channels; o++) {
        float *panel = op->packed + (o / CK_CONV_NR) * (1 + k) * CK_CONV_NR;
        const size_t lane = o % CK_CONV_NR;
        panel[lane] = bias != NULL ? bias[o] : 0.0f;
        for (size_t ci = 0; ci < input_channels; ci++) {
            for (size_t ky = 0; ky < kernel_h; ky++) {
                for (size_t kx = 0; kx < kernel_w; kx++) {
                    const size_t row = (ky * kernel_w + kx) * input_channels + ci;
                    panel[(1 + row) * CK_CONV_NR + lane] = weights[((o * input_channels + ci) * kernel_h + ky) * kernel_w + kx];
                }
            }
        }
    }
    return op;
}

void ck_convolution_set_hardswish(ck_convolution *op, float scale, float shift) {
    op->epilogue.hardswish = 1;
    op->epilogue.scale = scale;
    op->epilogue.shift = shift;
}

void ck_convolution_destroy(ck_convolution *op) {
    if (op == NULL) return;
    free(op->packed);
    free(op);
}

#if CK_HAVE_X86
typedef struct {
    const ck_convolution *op;
    const float *input;
    float *output;
} ck_convolution_job;

// Applies the epilogue to and stores `columns` (<= 16) output channels of one pixel.
static inline __attribute__((always_inline)) CK_TARGET void
ck_conv_store(__m256 a0, __m256 a1, const ck_epilogue *epilogue, float *out, size_t columns) {
    a0 = ck_epilogue_apply(a0, epilogue);
    a1 = ck_epilogue_apply(a1, epilogue);
    if (columns == CK_CONV_NR) {
        _mm256_storeu_ps(out, a0);
        _mm256_storeu_ps(out + 8, a1);
    } else {
        float spill[CK_CONV_NR];
        _mm256_storeu_ps(spill, a0);
        _mm256_storeu_ps(spill + 8, a1);
        memcpy(out, spill, columns * sizeof(float));
    }
}

// `pixels` (a compile-time constant at every call site) neighbouring inner output pixels from input column ix0,
// one panel of 16 output channels.
static inline __attribute__((always_inline)) CK_TARGET void
ck_conv_tile(const int pixels, const ck_convolution *op, const ck_window *win, size_t ix0, const float *panel,
             float *out, size_t columns) {
    const size_t cin = op->cin, segment = op->kw * cin, row = op->in_w * cin, step = op->sw * cin;
    __m256 acc[CK_CONV_PIXELS][2];
    for (int p = 0; p < pixels; p++) {
        acc[p][0] = _mm256_load_ps(panel);
        acc[p][1] = _mm256_load_ps(panel + 8);
    }
    for (size_t ky = win->ky_begin; ky < win->ky_end; ky++) {
        const float *a = win->image + (size_t)(win->iy0 + (ptrdiff_t)ky) * row + ix0 * cin;
        const float *w = panel + (1 + ky * segment) * CK_CONV_NR;
        for (size_t t = 0; t < segment; t++, w += CK_CONV_NR) {
            const __m256 b0 = _mm256_load_ps(w), b1 = _mm256_load_ps(w + 8);
            for (int p = 0; p < pixels; p++) {
                const __m256 x = _mm256_broadcast_ss(a + p * step + t);
                acc[p][0] = _mm256_fmadd_ps(x, b0, acc[p][0]);
                acc[p][1] = _mm256_fmadd_ps(x, b1, acc[p][1]);
            }
        }
    }
    for (int p = 0; p < pixels; p++) ck_conv_store(acc[p][0], acc[p][1], &op->epilogue, out + p * op->cout, columns);
}

typedef void (*ck_conv_tile_fn)(const ck_convolution *, const ck_window *, size_t, const float *, float *, size_t);

#define CK_DEFINE_CONV_TILE(PIXELS)                                                                                  \
    static CK_TARGET void ck_conv_tile_##PIXELS(const ck_convolution *op, const ck_window *win, size_t ix0,    \
                                                const float *panel, float *out, size_t columns) {                   \
        ck_conv_tile(PIXELS, op, win, ix0, panel, out, columns);                                                    \
    }
CK_DEFINE_CONV_TILE(1) CK_DEFINE_CONV_TILE(2) CK_DEFINE_CONV_TILE(3) CK_DEFINE_CONV_TILE(4) CK_DEFINE_CONV_TILE(5) CK_DEFINE_CONV_TILE(6)

static const ck_conv_tile_fn ck_conv_tiles[CK_CONV_PIXELS + 1] = {
    NULL, ck_conv_tile_1, ck_conv_tile_2, ck_conv_tile_3, ck_conv_tile_4, ck_conv_tile_5, ck_conv_tile_6,
};

// One output pixel in any column (taps in the horizontal padding are skipped), one panel.
static CK_TARGET void ck_conv_edge_pixel(const ck_convolution *op, const ck_window *win, size_t ox,
                                         const float *panel, float *out, size_t columns) {
    const size_t cin = op->cin, row = op->in_w * cin;
    const ptrdiff_t ix0 = (ptrdiff_t)(ox * op->sw) - (ptrdiff_t)op->pad_left;
    size_t kx_begin, kx_end;
    ck_window_columns(ix0, op->kw, op->in_w, &kx_begin, &kx_end);
    __m256 a0 = _mm256_load_ps(panel), a1 = _mm256_load_ps(panel + 8);
    for (size_t ky = win->ky_begin; ky < win->ky_end; ky++) {
        const float *a = win->image + (size_t)(win->iy0 + (ptrdiff_t)ky) * row;
        for (size_t kx = kx_begin; kx < kx_end; kx++) {
            const float *x = a + (size_t)(ix0 + (ptrdiff_t)kx) * cin;
            const float *w = panel + (1 + (ky * op->kw + kx) * cin) * CK_CONV_NR;
            for (size_t ci = 0; ci < cin; ci++, w += CK_CONV_NR) {
                const __m256 v = _mm256_broadcast_ss(x + ci);
                a0 = _mm256_fmadd_ps(v, _mm256_load_ps(w), a0);
                a1 = _mm256_fmadd_ps(v, _mm256_load_ps(w + 8), a1);
            }
        }
    }
    ck_conv_store(a0, a1, &op->epilogue, out, columns);
}

// `pixels` consecutive output pixels in raster order (possibly across output rows), each from its own window
// origin `base[p]`, for a convolution without padding, one panel: tiles stay full on small images, where a
// row of 7 pixels would otherwise be a tile of 6 and one of 1.
static inline __attribute__((always_inline)) CK_TARGET void
ck_conv_flat_tile(const int pixels, const ck_convolution *op, const float *const *base, const float *panel, float *out,
                  size_t columns) {
    const size_t segment = op->kw * op->cin, row = op->in_w * op->cin;
    __m256 acc[CK_CONV_PIXELS][2];
    for (int p = 0; p < pixels; p++) {
        acc[p][0] = _mm256_load_ps(panel);
        acc[p][1] = _mm256_load_ps(panel + 8);
    }
    for (size_t ky = 0; ky < op->kh; ky++) {
        const float *a[CK_CONV_PIXELS];
        for (int p = 0; p < pixels; p++) a[p] = base[p] + ky * row;
        const float *w = panel + (1 + ky * segment) * CK_CONV_NR;
        for (size_t t = 0; t < segment; t++, w += CK_CONV_NR) {
            const __m256 b0 = _mm256_load_ps(w), b1 = _mm256_load_ps(w + 8);
            for (int p = 0; p < pixels; p++) {
                const __m256 x = _mm256_broadcast_ss(a[p] + t);
                acc[p][0] = _mm256_fmadd_ps(x, b0, acc[p][0]);
                acc[p][1] = _mm256_fmadd_ps(x, b1, acc[p][1]);
            }
        }
    }
    for (int p = 0; p < pixels; p++) ck_conv_store(acc[p][0], acc[p][1], &op->epilogue, out + p * op->cout, columns);
}

typedef void (*ck_conv_flat_fn)(const ck_convolution *, const float *const *, const float *, float *, size_t);
#define CK_DEFINE_FLAT_TILE(PIXELS)                                                                                  \
    static CK_TARGET void ck_conv_flat_##PIXELS(const ck_convolution *op, const float *const *base,                \
                                                const float *panel, float *out, size_t columns) {                   \
        ck_conv_flat_tile(PIXELS, op, base, panel, out, columns);                                                   \
    }
CK_DEFINE_FLAT_TILE(1) CK_DEFINE_FLAT_TILE(2) CK_DEFINE_FLAT_TILE(3) CK_DEFINE_FLAT_TILE(4) CK_DEFINE_FLAT_TILE(5) CK_DEFINE_FLAT_TILE(6)

static const ck_conv_flat_fn ck_conv_flats[CK_CONV_PIXELS + 1] = {
    NULL, ck_conv_flat_1, ck_conv_flat_2, ck_conv_flat_3, ck_conv_flat_4, ck_conv_flat_5, ck_conv_flat_6,
};

// Whether no output pixel's window reaches into padding (then tiles may run across output rows).
static inline int ck_conv_is_flat(const ck_convolution *op) {
    return op->pad_top == 0 && op->pad_left == 0 && op->inner_begin == 0 && op->inner_end == op->out_w &&
           (op->out_h - 1) * op->sh + op->kh <= op->in_h;
}

// Output rows [first_row, first_row + row_count) of the whole batch (row index = image * out_h + y), panels
// [first_panel, first_panel + panel_count).
static CK_TARGET void ck_conv_task(void *context, size_t first_row, size_t first_panel, size_t row_count,
                                   size_t panel_count) {
    const ck_convolution_job *job = context;
    const ck_convolution *op = job->op;
    const size_t k = op->kh * op->kw * op->cin;
    if (ck_conv_is_flat(op)) {
        // The task's output pixels in raster order, 6 at a time whatever the row length.
        const size_t first = first_row * op->out_w, end = (first_row + row_count) * op->out_w;
        for (size_t panel = first_panel; panel < first_panel + panel_count; panel++) {
            const float *w = op->packed + panel * (1 + k) * CK_CONV_NR;
            const size_t column = panel * CK_CONV_NR;
            const size_t columns = op->cout - column < CK_CONV_NR ? op->cout - column : CK_CONV_NR;
            for (size_t pixel = first; pixel < end; pixel += CK_CONV_PIXELS) {
                const size_t count = end - pixel < CK_CONV_PIXELS ? end - pixel : CK_CONV_PIXELS;
                const float *base[CK_CONV_PIXELS];
                for (size_t p = 0; p < count; p++) {
                    const size_t row = (pixel + p) / op->out_w, ox = (pixel + p) % op->out_w;
                    const size_t image = row / op->out_h, oy = row % op->out_h;
                    base[p] = job->input + ((image * op->in_h + oy * op->sh) * op->in_w + ox * op->sw) * op->cin;
                }
                ck_conv_flats[count](op, base, w, job->output + pixel * op->cout + column, columns);
            }
        }
        return;
    }
    for (size_t r = first_row; r < first_row + row_count; r++) {
        const ck_window win = ck_window_of_row(job->input, r, op->out_h, op->in_h, op->in_w, op->cin, op->sh, op->pad_top, op->kh);
        float *out_row = job->output + r * op->out_w * op->cout;
        for (size_t panel = first_panel; panel < first_panel + panel_count; panel++) {
            const float *w = op->packed + panel * (1 + k) * CK_CONV_NR;
            const size_t column = panel * CK_CONV_NR;
            const size_t columns = op->cout - column < CK_CONV_NR ? op->cout - column : CK_CONV_NR;
            float *out = out_row + column;
            for (size_t ox = 0; ox < op->inner_begin; ox++) ck_conv_edge_pixel(op, &win, ox, w, out + ox * op->cout, columns);
            for (size_t ox = op->inner_begin; ox < op->inner_end; ox += CK_CONV_PIXELS) {
                const size_t left = op->inner_end - ox;
                ck_conv_tiles[left < CK_CONV_PIXELS ? left : CK_CONV_PIXELS](op, &win, ox * op->sw - op->pad_left, w,
                                                                              out + ox * op->cout, columns);
            }
            for (size_t ox = op->inner_end; ox < op->out_w; ox++) ck_conv_edge_pixel(op, &win, ox, w, out + ox * op->cout, columns);
        }
    }
}
#endif

void ck_convolution_run(const ck_convolution *op, size_t batch, const float *input, float *output, void *threadpool,
                        int yield_workers) {
#if CK_HAVE_X86
    const size_t rows = batch * op->out_h;
    if (rows == 0) return;
    pthreadpool_t pool = threadpool;
    const size_t threads = pool != NULL ? pthreadpool_get_threads_count(pool) : 1;
    size_t rows_per_task, panels_per_task;
    const size_t weights = op->kh * op->kw * op->cin * op->cout, activations = batch * op->in_h * op->in_w * op->cin;
    ck_split_tasks(threads, rows, op->panels, 1, weights > activations, &rows_per_task, &panels_per_task);
    ck_convolution_job job = {op, input, output};
    pthreadpool_parallelize_2d_tile_2d(pool, ck_conv_task, &job, rows, op->panels, rows_per_task, panels_per_task,
                                       PTHREADPOOL_FLAG_DISABLE_DENORMALS | (yield_workers ? PTHREADPOOL_FLAG_YIELD_WORKERS : 0));
#else
    (void)op; (void)batch; (void)input; (void)output; (void)threadpool; (void)yield_workers;
#endif
}
