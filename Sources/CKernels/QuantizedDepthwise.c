// An INT8 depthwise convolution (NHWC, uint8 in and out, symmetric int8 weights per channel) with the bias,
// requantization and clamp fused into the store (Requantize.h).
//
// The arithmetic is f32 on exact integers: each input byte is widened and centred on its zero point
// (x - z in [-255, 255]), weights are held as floats, and a window of up to 64 products of at most
// 255 * 128 sums below 2^24, so every accumulator holds the exact int32 sum. Why not integer lanes: a
// depthwise layer does few multiplies per byte it reads, the widening costs the same either way, and the f32
// FMA path is what the f32 kernel (Depthwise.c) already tiles well; what INT8 saves here is memory: a quarter
// of the bytes read and written.
//
// Tiling as in Depthwise.c: strips of up to 8 neighbouring output pixels x 8 channels, each input vector of a
// window row loaded (and widened) once and fed to every pixel whose window covers it; 3- and 5-wide windows
// with stride 1 and 2 are compiled unrolled, in a checked variant for strips reaching into the horizontal
// padding. Other windows and channel tails take a per-pixel path. Padding taps are skipped (they add 0).
#include "CKernels.h"

#include <pthreadpool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "Window.h"
#include "Requantize.h"

enum { CK_QDW_PIXELS = 8 };

struct ck_qdepthwise {
    size_t channels, stride_c;  // channels, and the packed row width (channels rounded up to 16)
    size_t kh, kw, sh, sw, pad_top, pad_left;
    size_t in_h, in_w, out_h, out_w;
    float zero_point;           // the input's
    ck_requant requant;
    float *packed;              // kh * kw rows of stride_c weights
};

ck_qdepthwise *ck_qdepthwise_create(size_t channels, size_t kernel_h, size_t kernel_w, size_t stride_h, size_t stride_w,
                                    size_t pad_top, size_t pad_left, size_t input_h, size_t input_w, size_t output_h,
                                    size_t output_w, const int8_t *weights, const float *weight_scales,
                                    const float *bias, const ck_quantization *quantization) {
    if (channels == 0 || kernel_h == 0 || kernel_w == 0 || stride_h == 0 || stride_w == 0 || input_h == 0 ||
        input_w == 0 || output_h == 0 || output_w == 0 || pad_top >= kernel_h || pad_left >= kernel_w ||
        kernel_h * kernel_w > 64 || ck_int8_level() < 1) {
        return NULL;
    }
    ck_qdepthwise *op = calloc(1, sizeof *op);
    if (op == NULL) return NULL;
    const size_t stride_c = (channels + 15) & ~(size_t)15, taps = kernel_h * kernel_w;
    op->channels = channels;
    op->stride_c = stride_c;
    op->kh = kernel_h;
    op->kw = kernel_w;
    op->sh = stride_h;
    op->sw = stride_w;
    op->pad_top = pad_top;
    op->pad_left = pad_left;
    op->in_h = input_h;
    op->in_w = input_w;
    op->out_h = output_h;
    op->out_w = output_w;
    op->zero_point = (float)quantization->input_zero_point;
    op->packed = ck_alloc_packed(taps * stride_c);
    if (op->packed == NULL || !ck_requant_init(&op->requant, channels, quantization, weight_scales, bias)) {
        ck_qdepthwise_destroy(op);
        return NULL;
    }
    for (size_t c = 0; c < channels; c++) {
        for (size_t t = 0; t < taps; t++) op->packed[t * stride_c + c] = (float)weights[c * taps + t];
    }
    return op;
}

void ck_qdepthwise_destroy(ck_qdepthwise *op) {
    if (op == NULL) return;
    ck_requant_free(&op->requant);
    free(op->packed);
    free(op);
}

#if CK_HAVE_X86
typedef struct {
    const ck_qdepthwise *op;
    const uint8_t *input;
    uint8_t *output;
} ck_qdw_job;

// The rows of one output row's window: its image, the input row of the first tap row, and the tap rows inside.
typedef struct {
    const uint8_t *image;
    ptrdiff_t iy0;
    size_t ky_begin, ky_end;
} ck_qdw_window;

static ck_qdw_window ck_qdw_window_of_row(const ck_qdepthwise *op, const uint8_t *input, size_t row) {
    const size_t image = row / op->out_h, oy = row % op->out_h;
    const ptrdiff_t iy0 = (ptrdiff_t)(oy * op->sh) - (ptrdiff_t)op->pad_top;
    ck_qdw_window win = {input + image * op->in_h * op->in_w * op->channels, iy0, 0, op->kh};
    if (iy0 < 0) win.ky_begin = (size_t)(-iy0);
    const ptrdiff_t limit = (ptrdiff_t)op->in_h - iy0;
    if (limit < (ptrdiff_t)op->kh) win.ky_end = (size_t)limit;
    return win;
}

// `pixels` neighbouring output pixels from column ox0, channels [c_begin, c_end) in groups of 8, for a kw-wide
// window moving `stride` columns per pixel (all compile-time constants); see Depthwise.c's ck_dw_strip.
static inline __attribute__((always_inline)) CK_TARGET void
ck_qdw_strip(const int pixels, const int kw, const int stride, const int checked, const ck_qdepthwise *op,
             const ck_qdw_window *win, size_t ox0, size_t c_begin, size_t c_end, uint8_t *out) {
    const size_t C = op->channels, S = op->stride_c, row = op->in_w * C;
    const int span = (pixels - 1) * stride + kw;
    const ptrdiff_t ix0 = (ptrdiff_t)(ox0 * (size_t)stride) - (ptrdiff_t)op->pad_left;
    const ptrdiff_t limit = (ptrdiff_t)op->in_w - ix0;
    const int j_begin = checked && ix0 < 0 ? (int)(-ix0) : 0;
    const int j_end = checked && limit < span ? (int)limit : span;
    const __m256 zero_point = _mm256_set1_ps(op->zero_point);
    for (size_t c = c_begin; c < c_end; c += 8) {
        __m256 acc[8];
        for (int p = 0; p < pixels; p++) acc[p] = _mm256_setzero_ps();
        for (size_t ky = win->ky_begin; ky < win->ky_end; ky++) {
            const uint8_t *x = win->image + (size_t)(win->iy0 + (ptrdiff_t)ky) * row + c;
            const float *w = op->packed + ky * (size_t)kw * S + c;
            __m256 wv[5];
#pragma clang loop unroll(full)
            for (int kx = 0; kx < kw; kx++) wv[kx] = _mm256_load_ps(w + kx * S);
#pragma clang loop unroll(full)
            for (int j = 0; j < span; j++) {
                if (checked && (j < j_begin || j >= j_end)) continue;
                const __m256 xv = ck_load_centred8(x + (ix0 + j) * (ptrdiff_t)C, zero_point);
#pragma clang loop unroll(full)
                for (int p = 0; p < pixels; p++) {
                    const int kx = j - p * stride;
                    if (kx >= 0 && kx < kw) acc[p] = _mm256_fmadd_ps(xv, wv[kx], acc[p]);
                }
            }
        }
        for (int p = 0; p < pixels; p++) ck_store_bytes(out + p * C + c, ck_requant8(acc[p], &op->requant, c), 8);
    }
}

typedef void (*ck_qdw_strip_fn)(const ck_qdepthwise *, const ck_qdw_window *, size_t, size_t, size_t, uint8_t *);

#define CK_DEFINE_QDW_STRIP(PIXELS, KW, STRIDE, CHECKED)                                                              \
    static CK_TARGET void ck_qdw_strip_##PIXELS##_##KW##_##STRIDE##_##CHECKED(                                         \
        const ck_qdepthwise *op, const ck_qdw_window *win, size_t ox0, size_t c0, size_t c1, uint8_t *out) {            \
        ck_qdw_strip(PIXELS, KW, STRIDE, CHECKED, op, win, ox0, c0, c1, out);                                         \
    }
#define CK_DEFINE_QDW_STRIPS(KW, STRIDE, CHECKED)                                                                     \
    CK_DEFINE_QDW_STRIP(1, KW, STRIDE, CHECKED) CK_DEFINE_QDW_STRIP(2, KW, STRIDE, CHECKED)                            \
    CK_DEFINE_QDW_STRIP(3, KW, STRIDE, CHECKED) CK_DEFINE_QDW_STRIP(4, KW, STRIDE, CHECKED)                            \
    CK_DEFINE_QDW_STRIP(5, KW, STRIDE, CHECKED) CK_DEFINE_QDW_STRIP(6, KW, STRIDE, CHECKED)                            \
    CK_DEFINE_QDW_STRIP(7, KW, STRIDE, CHECKED) CK_DEFINE_QDW_STRIP(8, KW, STRIDE, CHECKED)                            \
    static const ck_qdw_strip_fn ck_qdw_strips_##KW##_##STRIDE##_##CHECKED[CK_QDW_PIXELS + 1] = {                      \
        NULL, ck_qdw_strip_1_##KW##_##STRIDE##_##CHECKED, ck_qdw_strip_2_##KW##_##STRIDE##_##CHECKED,                  \
        ck_qdw_strip_3_##KW##_##STRIDE##_##CHECKED, ck_qdw_strip_4_##KW##_##STRIDE##_##CHECKED,                        \
        ck_qdw_strip_5_##KW##_##STRIDE##_##CHECKED, ck_qdw_strip_6_##KW##_##STRIDE##_##CHECKED,                        \
        ck_qdw_strip_7_##KW##_##STRIDE##_##CHECKED, ck_qdw_strip_8_##KW##_##STRIDE##_##CHECKED};
CK_DEFINE_QDW_STRIPS(3, 1, 0) CK_DEFINE_QDW_STRIPS(3, 2, 0) CK_DEFINE_QDW_STRIPS(5, 1, 0) CK_DEFINE_QDW_STRIPS(5, 2, 0)
CK_DEFINE_QDW_STRIPS(3, 1, 1) CK_DEFINE_QDW_STRIPS(3, 2, 1) CK_DEFINE_QDW_STRIPS(5, 1, 1) CK_DEFINE_QDW_STRIPS(5, 2, 1)

static const ck_qdw_strip_fn *ck_qdw_strips_for(size_t kw, size_t stride, int checked) {
    if (kw == 3 && stride == 1) return checked ? ck_qdw_strips_3_1_1 : ck_qdw_strips_3_1_0;
    if (kw == 3 && stride == 2) return checked ? ck_qdw_strips_3_2_1 : ck_qdw_strips_3_2_0;
    if (kw == 5 && stride == 1) return checked ? ck_qdw_strips_5_1_1 : ck_qdw_strips_5_1_0;
    if (kw == 5 && stride == 2) return checked ? ck_qdw_strips_5_2_1 : ck_qdw_strips_5_2_0;
    return NULL;
}

// One output pixel at column ox, channels [c, c_end), any geometry: 8 channels at a time, then one by one.
static CK_TARGET void ck_qdw_pixel(const ck_qdepthwise *op, const ck_qdw_window *win, size_t ox, size_t c, size_t c_end,
                                   uint8_t *out) {
    const size_t C = op->channels, S = op->stride_c, row = op->in_w * C;
    const ptrdiff_t ix0 = (ptrdiff_t)(ox * op->sw) - (ptrdiff_t)op->pad_left;
    size_t kx_begin, kx_end;
    ck_window_columns(ix0, op->kw, op->in_w, &kx_begin, &kx_end);
    const __m256 zero_point = _mm256_set1_ps(op->zero_point);
    for (; c + 8 <= c_end; c += 8) {
        __m256 acc = _mm256_setzero_ps();
        for (size_t ky = win->ky_begin; ky < win->ky_end; ky++) {
            const uint8_t *x = win->image + (size_t)(win->iy0 + (ptrdiff_t)ky) * row + c;
            const float *w = op->packed + ky * op->kw * S + c;
            for (size_t kx = kx_begin; kx < kx_end; kx++) {
                acc = _mm256_fmadd_ps(ck_load_centred8(x + (ix0 + (ptrdiff_t)kx) * (ptrdiff_t)C, zero_point),
                                      _mm256_load_ps(w + kx * S), acc);
            }
        }
        ck_store_bytes(out + c, ck_requant8(acc, &op->requant, c), 8);
    }
    for (; c < c_end; c++) {
        float acc = 0;
        for (size_t ky = win->ky_begin; ky < win->ky_end; ky++) {
            const uint8_t *x = win->image + (size_t)(win->iy0 + (ptrdiff_t)ky) * row + c;
            const float *w = op->packed + ky * op->kw * S + c;
            for (size_t kx = kx_begin; kx < kx_end; kx++) {
                acc += ((float)x[(ix0 + (ptrdiff_t)kx) * (ptrdiff_t)C] - op->zero_point) * w[kx * S];
            }
        }
        out[c] = ck_requant1(acc, &op->requant, c);
    }
}

static CK_TARGET void ck_qdw_task(void *context, size_t first_row, size_t first_channel, size_t row_count,
                                  size_t channel_count) {
    const ck_qdw_job *job = context;
    const ck_qdepthwise *op = job->op;
    const size_t C = op->channels, c_end = first_channel + channel_count;
    const int has_strips = ck_qdw_strips_for(op->kw, op->sw, 0) != NULL;
    const size_t c8_end = has_strips ? first_channel + (channel_count & ~(size_t)7) : first_channel;
    for (size_t r = first_row; r < first_row + row_count; r++) {
        const ck_qdw_window win = ck_qdw_window_of_row(op, job->input, r);
        uint8_t *out = job->output + r * op->out_w * C;
        if (c8_end > first_channel) {
            for (size_t ox = 0; ox < op->out_w; ox += CK_QDW_PIXELS) {
                const size_t left = op->out_w - ox, pixels = left < CK_QDW_PIXELS ? left : CK_QDW_PIXELS;
                const int checked = ox * op->sw < op->pad_left || (ox + pixels - 1) * op->sw + op->kw > op->in_w + op->pad_left;
                ck_qdw_strips_for(op->kw, op->sw, checked)[pixels](op, &win, ox, first_channel, c8_end, out + ox * C);
            }
        }
        if (c8_end < c_end) {
            for (size_t ox = 0; ox < op->out_w; ox++) ck_qdw_pixel(op, &win, ox, c8_end, c_end, out + ox * C);
        }
    }
}
#endif

void ck_qdepthwise_run(const ck_qdepthwise *op, size_t batch, const uint8_t *input, uint8_t *output, void *threadpool,
                       int yield_workers) {
#if CK_HAVE_X86
    const size_t rows = batch * op->out_h;
    if (rows == 0) return;
    pthreadpool_t pool = threadpool;
    const size_t threads = pool != NULL ? pthreadpool_get_threads_count(pool) : 1;
    size_t rows_per_task, channels_per_task;
    ck_split_tasks(threads, rows, op->channels, 16, 0, &rows_per_task, &channels_per_task);
    ck_qdw_job job = {op, input, output};
    pthreadpool_parallelize_2d_tile_2d(pool, ck_qdw_task, &job, rows, op->channels, rows_per_task, channels_per_task,
                                       PTHREADPOOL_FLAG_DISABLE_DENORMALS | (yield_workers ? PTHREADPOOL_FLAG_YIELD_WORKERS : 0));
#else
    (void)op; (void)batch; (void)input; (void)output; (void)threadpool; (void)yield_workers;
#endif
}
