// A register-tiled f32 depthwise convolution (NHWC, one filter per channel) with fused bias and clamp, written
// because Debian's XNNPACK build computes each output pixel's taps into one or two accumulators and waits on
// FMA latency (EfficientNet-Lite0's 5x5 layers ran at about half of onnxruntime's speed).
//
// Layout: weights are packed once as the bias row, then one row per tap (ky, kx), each row `channels` wide
// rounded up to 16, so a tap's channels are contiguous like the NHWC input.
// A row of output pixels is computed in strips of up to 8 neighbouring pixels x 8 channels (8 ymm
// accumulators). For each window row, the kw weight vectors are loaded once and each input vector the strip
// covers is loaded once and fed to every pixel whose window contains it: a 5x5 stride-1 window row costs 5 +
// 12 loads for 40 FMAs, where loading an input per FMA cost 70 loads for 60. That load traffic, not FMA
// latency, was what held a 6-pixel x 16-channel tile to ~20 GMAC/s; the strips reach ~30. Strips are compiled
// for 3- and 5-wide windows with stride 1 and 2 (unrolled, so the pixel/tap pairing is fixed at compile time),
// in a checked variant that skips input columns in the horizontal padding and an unchecked one for the rest.
// Other windows and channel tails (< 8) take a per-pixel path; rows at the top and bottom skip the padding
// rows. Tasks are blocks of output rows times channel ranges, so a 7x7 layer still splits over threads.
#include "CKernels.h"

#include <pthreadpool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "Window.h"

enum { CK_DW_PIXELS = 8, CK_DW_CHANNELS = 16 };

struct ck_depthwise {
    size_t channels, stride_c;  // channels, and the packed row width (channels rounded up to 16)
    size_t kh, kw, sh, sw, pad_top, pad_left;
    size_t in_h, in_w, out_h, out_w;
    ck_epilogue epilogue;
    float *packed;  // (1 + kh * kw) rows of stride_c floats: bias, then taps
};

ck_depthwise *ck_depthwise_create(size_t channels, size_t kernel_h, size_t kernel_w, size_t stride_h, size_t stride_w,
                                  size_t pad_top, size_t pad_left, size_t input_h, size_t input_w, size_t output_h,
                                  size_t output_w, const float *weights, const float *bias, float output_min,
                                  float output_max) {
    if (channels == 0 || kernel_h == 0 || kernel_w == 0 || stride_h == 0 || stride_w == 0 || input_h == 0 ||
        input_w == 0 || output_h == 0 || output_w == 0 || pad_top >= kernel_h || pad_left >= kernel_w) {
        return NULL;
    }
    ck_depthwise *op = calloc(1, sizeof *op);
    if (op == NULL) return NULL;
    const size_t stride_c = (channels + CK_DW_CHANNELS - 1) & ~(size_t)(CK_DW_CHANNELS - 1);
    *op = (ck_depthwise){channels, stride_c, kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left, input_h, input_w,
                         output_h, output_w, ck_epilogue_clamp(output_min, output_max), NULL};
    const size_t taps = kernel_h * kernel_w;
    op->packed = ck_alloc_packed((1 + taps) * stride_c);
    if (op->packed == NULL) {
        free(op);
        return NULL;
    }
    for (size_t c = 0; c < channels; c++) {
        op->packed[c] = bias != NULL ? bias[c] : 0.0f;
        for (size_t t = 0; t < taps; t++) op->packed[(1 + t) * stride_c + c] = weights[c * taps + t];
    }
    return op;
}

void ck_depthwise_set_hardswish(ck_depthwise *op, float scale, float shift) {
    op->epilogue.hardswish = 1;
    op->epilogue.scale = scale;
    op->epilogue.shift = shift;
}

void ck_depthwise_destroy(ck_depthwise *op) {
    if (op == NULL) return;
    free(op->packed);
    free(op);
}

#if CK_HAVE_X86
typedef struct {
    const ck_depthwise *op;
    const float *input;
    float *output;
} ck_depthwise_job;

// `pixels` neighbouring output pixels from column ox0, channels [c_begin, c_end) in groups of 8 (c_end - c_begin a
// multiple of 8), for a kw-wide window moving `stride` columns per pixel; all three compile-time constants at every
// call site. Each input vector of a window row is loaded once and feeds every pixel whose window covers it (up
// to kw FMAs), with the row's kw weight vectors and the pixels' accumulators in registers. With `checked`, input
// columns outside the image (the horizontal padding) are skipped; without, the strip must lie inside.
static inline __attribute__((always_inline)) CK_TARGET void
ck_dw_strip(const int pixels, const int kw, const int stride, const int checked, const ck_depthwise *op,
            const ck_window *win, size_t ox0, size_t c_begin, size_t c_end, float *out) {
    const size_t C = op->channels, S = op->stride_c, row = op->in_w * C;
    const int span = (pixels - 1) * stride + kw;  // input columns the strip reads
    const ptrdiff_t ix0 = (ptrdiff_t)(ox0 * (size_t)stride) - (ptrdiff_t)op->pad_left;
    // Input columns j in [j_begin, j_end) of the strip lie inside the image.
    const ptrdiff_t limit = (ptrdiff_t)op->in_w - ix0;
    const int j_begin = checked && ix0 < 0 ? (int)(-ix0) : 0;
    const int j_end = checked && limit < span ? (int)limit : span;
    for (size_t c = c_begin; c < c_end; c += 8) {
        __m256 acc[8];
        const __m256 bias = _mm256_load_ps(op->packed + c);
        for (int p = 0; p < pixels; p++) acc[p] = bias;
        for (size_t ky = win->ky_begin; ky < win->ky_end; ky++) {
            const float *x = win->image + (size_t)(win->iy0 + (ptrdiff_t)ky) * row + c;
            const float *w = op->packed + (1 + ky * (size_t)kw) * S + c;
            __m256 wv[5];
#pragma clang loop unroll(full)
            for (int kx = 0; kx < kw; kx++) wv[kx] = _mm256_load_ps(w + kx * S);
            // Fully unrolled, so acc[] and wv[] are registers and the kx test below is decided at compile time.
#pragma clang loop unroll(full)
            for (int j = 0; j < span; j++) {
                if (checked && (j < j_begin || j >= j_end)) continue;
                const __m256 xv = _mm256_loadu_ps(x + (ptrdiff_t)(ix0 + j) * (ptrdiff_t)C);
#pragma clang loop unroll(full)
                for (int p = 0; p < pixels; p++) {
                    const int kx = j - p * stride;
                    if (kx >= 0 && kx < kw) acc[p] = _mm256_fmadd_ps(xv, wv[kx], acc[p]);
                }
            }
        }
        for (int p = 0; p < pixels; p++) _mm256_storeu_ps(out + p * C + c, ck_epilogue_apply(acc[p], &op->epilogue));
    }
}

typedef void (*ck_dw_strip_fn)(const ck_depthwise *, const ck_window *, size_t, size_t, size_t, float *);

#define CK_DEFINE_DW_STRIP(PIXELS, KW, STRIDE, CHECKED)                                                               \
    static CK_TARGET void ck_dw_strip_##PIXELS##_##KW##_##STRIDE##_##CHECKED(                                          \
        const ck_depthwise *op, const ck_window *win, size_t ox0, size_t c0, size_t c1, float *out) {                   \
        ck_dw_strip(PIXELS, KW, STRIDE, CHECKED, op, win, ox0, c0, c1, out);                                           \
    }
#define CK_DEFINE_DW_STRIPS(KW, STRIDE, CHECKED)                                                                      \
    CK_DEFINE_DW_STRIP(1, KW, STRIDE, CHECKED) CK_DEFINE_DW_STRIP(2, KW, STRIDE, CHECKED)                              \
    CK_DEFINE_DW_STRIP(3, KW, STRIDE, CHECKED) CK_DEFINE_DW_STRIP(4, KW, STRIDE, CHECKED)                              \
    CK_DEFINE_DW_STRIP(5, KW, STRIDE, CHECKED) CK_DEFINE_DW_STRIP(6, KW, STRIDE, CHECKED)                              \
    CK_DEFINE_DW_STRIP(7, KW, STRIDE, CHECKED) CK_DEFINE_DW_STRIP(8, KW, STRIDE, CHECKED)                              \
    static const ck_dw_strip_fn ck_dw_strips_##KW##_##STRIDE##_##CHECKED[CK_DW_PIXELS + 1] = {                         \
        NULL, ck_dw_strip_1_##KW##_##STRIDE##_##CHECKED, ck_dw_strip_2_##KW##_##STRIDE##_##CHECKED,                    \
        ck_dw_strip_3_##KW##_##STRIDE##_##CHECKED, ck_dw_strip_4_##KW##_##STRIDE##_##CHECKED,                          \
        ck_dw_strip_5_##KW##_##STRIDE##_##CHECKED, ck_dw_strip_6_##KW##_##STRIDE##_##CHECKED,                          \
        ck_dw_strip_7_##KW##_##STRIDE##_##CHECKED, ck_dw_strip_8_##KW##_##STRIDE##_##CHECKED};
CK_DEFINE_DW_STRIPS(3, 1, 0) CK_DEFINE_DW_STRIPS(3, 2, 0) CK_DEFINE_DW_STRIPS(5, 1, 0) CK_DEFINE_DW_STRIPS(5, 2, 0)
CK_DEFINE_DW_STRIPS(3, 1, 1) CK_DEFINE_DW_STRIPS(3, 2, 1) CK_DEFINE_DW_STRIPS(5, 1, 1) CK_DEFINE_DW_STRIPS(5, 2, 1)

// The strip kernels for this window width and stride (unchecked [0] and checked [1]), or NULL: other geometries
// take the per-pixel path.
typedef struct {
    const ck_dw_strip_fn *fns[2];
} ck_dw_strip_set;

static int ck_dw_strips_for(size_t kw, size_t stride, ck_dw_strip_set *set) {
    if (kw == 3 && stride == 1) *set = (ck_dw_strip_set){{ck_dw_strips_3_1_0, ck_dw_strips_3_1_1}};
    else if (kw == 3 && stride == 2) *set = (ck_dw_strip_set){{ck_dw_strips_3_2_0, ck_dw_strips_3_2_1}};
    else if (kw == 5 && stride == 1) *set = (ck_dw_strip_set){{ck_dw_strips_5_1_0, ck_dw_strips_5_1_1}};
    else if (kw == 5 && stride == 2) *set = (ck_dw_strip_set){{ck_dw_strips_5_2_0, ck_dw_strips_5_2_1}};
    else return 0;
    return 1;
}

// One output pixel (any column: taps outside the image are skipped) x (8 * vectors) channels from channel c.
static inline __attribute__((always_inline)) CK_TARGET void
ck_dw_pixel(const int vectors, const ck_depthwise *op, const ck_window *win, ptrdiff_t ix0, size_t kx_begin,
            size_t kx_end, size_t c, float *out) {
    const size_t C = op->channels, S = op->stride_c, row = op->in_w * C;
    __m256 acc[8];
    for (int v = 0; v < vectors; v++) acc[v] = _mm256_load_ps(op->packed + c + 8 * v);
    for (size_t ky = win->ky_begin; ky < win->ky_end; ky++) {
        const float *x = win->image + (size_t)(win->iy0 + (ptrdiff_t)ky) * row + c;
        const float *w = op->packed + (1 + ky * op->kw) * S + c;
        for (size_t kx = kx_begin; kx < kx_end; kx++) {
            const float *xp = x + (size_t)(ix0 + (ptrdiff_t)kx) * C, *wp = w + kx * S;
            for (int v = 0; v < vectors; v++) acc[v] = _mm256_fmadd_ps(_mm256_loadu_ps(xp + 8 * v), _mm256_load_ps(wp + 8 * v), acc[v]);
        }
    }
    for (int v = 0; v < vectors; v++) _mm256_storeu_ps(out + 8 * v, ck_epilogue_apply(acc[v], &op->epilogue));
}

static CK_TARGET void ck_dw_pixel_8(const ck_depthwise *op, const ck_window *win, ptrdiff_t ix0, size_t kx_begin,
                                    size_t kx_end, size_t c, float *out) {
    ck_dw_pixel(8, op, win, ix0, kx_begin, kx_end, c, out);
}
static CK_TARGET void ck_dw_pixel_1(const ck_depthwise *op, const ck_window *win, ptrdiff_t ix0, size_t kx_begin,
                                    size_t kx_end, size_t c, float *out) {
    ck_dw_pixel(1, op, win, ix0, kx_begin, kx_end, c, out);
}

// One output pixel, channels [c, c_end), any column.
static CK_TARGET void ck_dw_edge_pixel(const ck_depthwise *op, const ck_window *win, size_t ox, size_t c, size_t c_end,
                                       float *out) {
    const size_t C = op->channels, S = op->stride_c, row = op->in_w * C;
    const ptrdiff_t ix0 = (ptrdiff_t)(ox * op->sw) - (ptrdiff_t)op->pad_left;
    size_t kx_begin, kx_end;
    ck_window_columns(ix0, op->kw, op->in_w, &kx_begin, &kx_end);
    for (; c + 64 <= c_end; c += 64) ck_dw_pixel_8(op, win, ix0, kx_begin, kx_end, c, out + c);
    for (; c + 8 <= c_end; c += 8) ck_dw_pixel_1(op, win, ix0, kx_begin, kx_end, c, out + c);
    for (; c < c_end; c++) {
        float a = op->packed[c];
        for (size_t ky = win->ky_begin; ky < win->ky_end; ky++) {
            const float *x = win->image + (size_t)(win->iy0 + (ptrdiff_t)ky) * row + c;
            const float *w = op->packed + (1 + ky * op->kw) * S + c;
            for (size_t kx = kx_begin; kx < kx_end; kx++) a += x[(size_t)(ix0 + (ptrdiff_t)kx) * C] * w[kx * S];
        }
        out[c] = ck_epilogue_apply1(a, &op->epilogue);
    }
}

// Output rows [first_row, first_row + row_count) of the whole batch (row index = image * out_h + y), channels
// [first_channel, first_channel + channel_count).
static CK_TARGET void ck_dw_task(void *context, size_t first_row, size_t first_channel, size_t row_count,
                                 size_t channel_count) {
    const ck_depthwise_job *job = context;
    const ck_depthwise *op = job->op;
    const size_t C = op->channels, c_end = first_channel + channel_count;
    // Whole 8-channel groups go to the strip kernels when the geometry has one; the rest to the per-pixel path.
    ck_dw_strip_set strips;
    const size_t c8_end = ck_dw_strips_for(op->kw, op->sw, &strips) ? first_channel + (channel_count & ~(size_t)7) : first_channel;
    for (size_t r = first_row; r < first_row + row_count; r++) {
        const ck_window win = ck_window_of_row(job->input, r, op->out_h, op->in_h, op->in_w, C, op->sh, op->pad_top, op->kh);
        float *out = job->output + r * op->out_w * C;
        if (c8_end > first_channel) {
            for (size_t ox = 0; ox < op->out_w; ox += CK_DW_PIXELS) {
                const size_t left = op->out_w - ox, pixels = left < CK_DW_PIXELS ? left : CK_DW_PIXELS;
                // Checked when the strip's first or last window reaches into the horizontal padding.
                const int checked = ox * op->sw < op->pad_left || (ox + pixels - 1) * op->sw + op->kw > op->in_w + op->pad_left;
                strips.fns[checked][pixels](op, &win, ox, first_channel, c8_end, out + ox * C);
            }
        }
        if (c8_end < c_end) {
            for (size_t ox = 0; ox < op->out_w; ox++) ck_dw_edge_pixel(op, &win, ox, c8_end, c_end, out + ox * C);
        }
    }
}
#endif

void ck_depthwise_run(const ck_depthwise *op, size_t batch, const float *input, float *output, void *threadpool,
                      int yield_workers) {
#if CK_HAVE_X86
    const size_t rows = batch * op->out_h;
    if (rows == 0) return;
    pthreadpool_t pool = threadpool;
    const size_t threads = pool != NULL ? pthreadpool_get_threads_count(pool) : 1;
    size_t rows_per_task, channels_per_task;
    ck_split_tasks(threads, rows, op->channels, 16, 0, &rows_per_task, &channels_per_task);
    ck_depthwise_job job = {op, input, output};
    pthreadpool_parallelize_2d_tile_2d(pool, ck_dw_task, &job, rows, op->channels, rows_per_task, channels_per_task,
                                       PTHREADPOOL_FLAG_DISABLE_DENORMALS | (yield_workers ? PTHREADPOOL_FLAG_YIELD_WORKERS : 0));
#else
    (void)op; (void)batch; (void)input; (void)output; (void)threadpool; (void)yield_workers;
#endif
}
