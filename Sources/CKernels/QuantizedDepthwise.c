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
//
// With AVX-512 VNNI (level 2), blocks of 16 channels take integer lanes after all: vpdpbusd adds 4 products
// per int32 lane, so 4 neighbouring columns of a window row (a "quad") go into one instruction once their bytes
// are transposed from NHWC (4 columns x 16 channels) to 16 lanes of 4 columns: one cross-lane dword permute and
// one in-lane byte shuffle. Those shuffles are the cost (a quad per pixel and tap row was slower than the f32
// path), so a strip of up to 8 pixels transposes each quad of its columns once and every pixel whose window
// overlaps it takes it with weights shifted to where its window starts in the quad (4 shifts packed). In a strip
// reaching into the padding, padding columns and rows read zero-point bytes. The sum over every tap of x * w,
// minus z * sum(w) per channel, is the exact sum the f32 path computes: the two levels give the same bytes.
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
    // Level 2: for each window row and shift r (0-3: where a window starts in its first quad), the `quads` quads
    // a window spans, each stride_c lanes of 4 int8 weights (lane i: tap 4j + i - r, or 0); the z * sum(w) of each
    // channel; and stride_c zero-point bytes, read for taps in the padding.
    int level;
    size_t quads;
    int8_t *packed_quads;
    int32_t *zero_point_sums;
    uint8_t *padding;
};

ck_qdepthwise *ck_qdepthwise_create(size_t channels, size_t kernel_h, size_t kernel_w, size_t stride_h, size_t stride_w,
                                    size_t pad_top, size_t pad_left, size_t input_h, size_t input_w, size_t output_h,
                                    size_t output_w, const int8_t *weights, const float *weight_scales,
                                    const float *bias, const ck_quantization *quantization, int level) {
    if (channels == 0 || kernel_h == 0 || kernel_w == 0 || stride_h == 0 || stride_w == 0 || input_h == 0 ||
        input_w == 0 || output_h == 0 || output_w == 0 || pad_top >= kernel_h || pad_left >= kernel_w ||
        kernel_h * kernel_w > 64 || level < 1 || level > ck_int8_level()) {
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
    op->level = level;
    if (level >= 2) {
        op->quads = (kernel_w + 3 + 3) / 4;
        op->packed_quads = calloc(kernel_h * 4 * op->quads * stride_c * 4, 1);
        op->zero_point_sums = calloc(stride_c, sizeof(int32_t));
        op->padding = malloc(stride_c);
        if (op->packed_quads == NULL || op->zero_point_sums == NULL || op->padding == NULL) {
            ck_qdepthwise_destroy(op);
            return NULL;
        }
        memset(op->padding, quantization->input_zero_point, stride_c);
        for (size_t c = 0; c < channels; c++) {
            int32_t sum = 0;
            for (size_t ky = 0; ky < kernel_h; ky++) {
                for (size_t kx = 0; kx < kernel_w; kx++) {
                    const int8_t w = weights[(c * kernel_h + ky) * kernel_w + kx];
                    sum += w;
                    for (size_t r = 0; r < 4; r++) {
                        const size_t lane = kx + r;  // of the quads from the window's first one
                        op->packed_quads[((((ky * 4 + r) * op->quads) + lane / 4) * stride_c + c) * 4 + lane % 4] = w;
                    }
                }
            }
            op->zero_point_sums[c] = quantization->input_zero_point * sum;
        }
    }
    return op;
}

void ck_qdepthwise_destroy(ck_qdepthwise *op) {
    if (op == NULL) return;
    ck_requant_free(&op->requant);
    free(op->packed);
    free(op->packed_quads);
    free(op->zero_point_sums);
    free(op->padding);
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

// Level 2: the 16 channels at `columns[0..3]` (4 taps of a window row) as 16 lanes of 4 bytes, one per tap.
static inline __attribute__((always_inline)) CK_VNNI_TARGET __m512i ck_qdw_quad(const uint8_t *c0, const uint8_t *c1,
                                                                             const uint8_t *c2, const uint8_t *c3) {
    __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)c0));
    v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)c1), 1);
    v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)c2), 2);
    v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)c3), 3);
    // Output dword 4k + i takes dword 4i + k: lane k holds channels 4k..4k+3 of each of the 4 columns; then
    // within a lane, byte 4j + i (channel j, column i) takes byte 4i + j.
    __m512i lanes = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    // Hidden from the optimizer, which otherwise rewrites the one vpermd as 6 narrower shuffles.
    __asm__("" : "+v"(lanes));
    const __m512i taps = _mm512_broadcast_i32x4(_mm_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15));
    return _mm512_shuffle_epi8(_mm512_permutexvar_epi32(lanes, v), taps);
}

// Level 2: stores `pixels` outputs of channels [c, c + 16) from their exact sums of x * w minus z * sum(w).
static inline __attribute__((always_inline)) CK_VNNI_TARGET void
ck_qdw_vnni_store(const int pixels, const ck_qdepthwise *op, const __m512i *acc, size_t c, uint8_t *out) {
    for (int p = 0; p < pixels; p++) {
        _mm_storeu_si128((__m128i *)(out + p * op->channels + c), ck_requant16_exact(acc[p], &op->requant, c));
    }
}

// Level 2: the weights of quad j of tap row ky for a window starting at lane r of its first quad, channel c.
static inline const int8_t *ck_qdw_quad_weights(const ck_qdepthwise *op, size_t ky, size_t r, size_t j, size_t c) {
    return op->packed_quads + ((((ky * 4 + r) * op->quads) + j) * op->stride_c + c) * 4;
}

// Level 2: `pixels` (<= 8) neighbouring output pixels from column ox0 of output row `win`, channels
// [c_begin, c_end) in blocks of 16, for a kw-wide window moving `stride` columns (all compile-time constants).
// The strip's columns are transposed a quad at a time, once per tap row; columns past the last window (weight 0
// for every pixel) repeat its last column. `checked`: some tap lies in the padding, whose columns (and rows)
// read op->padding, zero-point bytes.
static inline __attribute__((always_inline)) CK_VNNI_TARGET void
ck_qdw_vnni_strip(const int pixels, const int kw, const int stride, const int checked, const ck_qdepthwise *op,
                  const ck_qdw_window *win, size_t ox0, size_t c_begin, size_t c_end, uint8_t *out) {
    const size_t C = op->channels, row = op->in_w * C;
    const int span = (pixels - 1) * stride + kw, quads = (span + 3) / 4;
    const ptrdiff_t ix0 = (ptrdiff_t)(ox0 * (size_t)stride) - (ptrdiff_t)op->pad_left;
    for (size_t c = c_begin; c < c_end; c += 16) {
        // Starting from -z * sum(w): the sums come out centred on the zero point, exact integers below 2^24.
        const __m512i start = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_loadu_si512((const void *)(op->zero_point_sums + c)));
        __m512i acc[8];
        for (int p = 0; p < pixels; p++) acc[p] = start;
        for (size_t ky = 0; ky < op->kh; ky++) {
            // Unchecked, every row is inside; checked, a row in the padding reads op->padding throughout.
            const int row_inside = ky >= win->ky_begin && ky < win->ky_end;
            const uint8_t *x = row_inside ? win->image + (size_t)(win->iy0 + (ptrdiff_t)ky) * row + c : NULL;
            __m512i quad[6];
#pragma clang loop unroll(full)
            for (int m = 0; m < quads; m++) {
                const uint8_t *column[4];
#pragma clang loop unroll(full)
                for (int i = 0; i < 4; i++) {
                    const ptrdiff_t at = ix0 + (4 * m + i < span ? 4 * m + i : span - 1);
                    const int inside = !checked || (x != NULL && at >= 0 && at < (ptrdiff_t)op->in_w);
                    column[i] = inside ? x + at * (ptrdiff_t)C : op->padding + c;
                }
                quad[m] = ck_qdw_quad(column[0], column[1], column[2], column[3]);
            }
#pragma clang loop unroll(full)
            for (int p = 0; p < pixels; p++) {
                const int column = p * stride, first = column / 4, shift = column % 4, count = (shift + kw + 3) / 4;
#pragma clang loop unroll(full)
                for (int j = 0; j < count; j++) {
                    const __m512i w = _mm512_loadu_si512((const void *)ck_qdw_quad_weights(op, ky, (size_t)shift, (size_t)j, c));
                    acc[p] = _mm512_dpbusd_epi32(acc[p], quad[first + j], w);
                }
            }
        }
        ck_qdw_vnni_store(pixels, op, acc, c, out);
    }
}

typedef void (*ck_qdw_vnni_fn)(const ck_qdepthwise *, const ck_qdw_window *, size_t, size_t, size_t, uint8_t *);
#define CK_DEFINE_QDW_VNNI(PIXELS, KW, STRIDE, CHECKED)                                                               \
    static CK_VNNI_TARGET void ck_qdw_vnni_##PIXELS##_##KW##_##STRIDE##_##CHECKED(                                     \
        const ck_qdepthwise *op, const ck_qdw_window *win, size_t ox0, size_t c0, size_t c1, uint8_t *out) {            \
        ck_qdw_vnni_strip(PIXELS, KW, STRIDE, CHECKED, op, win, ox0, c0, c1, out);                                    \
    }
#define CK_DEFINE_QDW_VNNIS(KW, STRIDE, CHECKED)                                                                      \
    CK_DEFINE_QDW_VNNI(1, KW, STRIDE, CHECKED) CK_DEFINE_QDW_VNNI(2, KW, STRIDE, CHECKED)                             \
    CK_DEFINE_QDW_VNNI(3, KW, STRIDE, CHECKED) CK_DEFINE_QDW_VNNI(4, KW, STRIDE, CHECKED)                             \
    CK_DEFINE_QDW_VNNI(5, KW, STRIDE, CHECKED) CK_DEFINE_QDW_VNNI(6, KW, STRIDE, CHECKED)                             \
    CK_DEFINE_QDW_VNNI(7, KW, STRIDE, CHECKED) CK_DEFINE_QDW_VNNI(8, KW, STRIDE, CHECKED)                             \
    static const ck_qdw_vnni_fn ck_qdw_vnni_##KW##_##STRIDE##_##CHECKED[CK_QDW_PIXELS + 1] = {                         \
        NULL, ck_qdw_vnni_1_##KW##_##STRIDE##_##CHECKED, ck_qdw_vnni_2_##KW##_##STRIDE##_##CHECKED,                    \
        ck_qdw_vnni_3_##KW##_##STRIDE##_##CHECKED, ck_qdw_vnni_4_##KW##_##STRIDE##_##CHECKED,                          \
        ck_qdw_vnni_5_##KW##_##STRIDE##_##CHECKED, ck_qdw_vnni_6_##KW##_##STRIDE##_##CHECKED,                          \
        ck_qdw_vnni_7_##KW##_##STRIDE##_##CHECKED, ck_qdw_vnni_8_##KW##_##STRIDE##_##CHECKED};
CK_DEFINE_QDW_VNNIS(3, 1, 0) CK_DEFINE_QDW_VNNIS(3, 2, 0) CK_DEFINE_QDW_VNNIS(5, 1, 0) CK_DEFINE_QDW_VNNIS(5, 2, 0)
CK_DEFINE_QDW_VNNIS(3, 1, 1) CK_DEFINE_QDW_VNNIS(3, 2, 1) CK_DEFINE_QDW_VNNIS(5, 1, 1) CK_DEFINE_QDW_VNNIS(5, 2, 1)

// Level 2's strips for a kw-wide window moving `stride` columns; NULL for other windows (they take level 1's path).
static const ck_qdw_vnni_fn *ck_qdw_vnni_strips_for(size_t kw, size_t stride, int checked) {
    if (kw == 3 && stride == 1) return checked ? ck_qdw_vnni_3_1_1 : ck_qdw_vnni_3_1_0;
    if (kw == 3 && stride == 2) return checked ? ck_qdw_vnni_3_2_1 : ck_qdw_vnni_3_2_0;
    if (kw == 5 && stride == 1) return checked ? ck_qdw_vnni_5_1_1 : ck_qdw_vnni_5_1_0;
    if (kw == 5 && stride == 2) return checked ? ck_qdw_vnni_5_2_1 : ck_qdw_vnni_5_2_0;
    return NULL;
}

static CK_TARGET void ck_qdw_task(void *context, size_t first_row, size_t first_channel, size_t row_count,
                                  size_t channel_count) {
    const ck_qdw_job *job = context;
    const ck_qdepthwise *op = job->op;
    const size_t C = op->channels, c_end = first_channel + channel_count;
    // Level 2 takes whole blocks of 16 channels; the rest (and level 1) the f32 path.
    const int vnni = op->level >= 2 && ck_qdw_vnni_strips_for(op->kw, op->sw, 0) != NULL;
    const size_t c16_end = vnni ? first_channel + (channel_count & ~(size_t)15) : first_channel;
    const int has_strips = ck_qdw_strips_for(op->kw, op->sw, 0) != NULL;
    const size_t c8_end = has_strips ? c16_end + ((c_end - c16_end) & ~(size_t)7) : c16_end;
    for (size_t r = first_row; r < first_row + row_count; r++) {
        const ck_qdw_window win = ck_qdw_window_of_row(op, job->input, r);
        uint8_t *out = job->output + r * op->out_w * C;
        if (c16_end > first_channel) {
            const int rows_inside = win.ky_begin == 0 && win.ky_end == op->kh;
            for (size_t ox = 0; ox < op->out_w; ox += CK_QDW_PIXELS) {
                const size_t left = op->out_w - ox, pixels = left < CK_QDW_PIXELS ? left : CK_QDW_PIXELS;
                const int checked = !rows_inside || ox * op->sw < op->pad_left ||
                                    (ox + pixels - 1) * op->sw + op->kw > op->in_w + op->pad_left;
                ck_qdw_vnni_strips_for(op->kw, op->sw, checked)[pixels](op, &win, ox, first_channel, c16_end, out + ox * C);
            }
        }
        if (c8_end > c16_end) {
            for (size_t ox = 0; ox < op->out_w; ox += CK_QDW_PIXELS) {
                const size_t left = op->out_w - ox, pixels = left < CK_QDW_PIXELS ? left : CK_QDW_PIXELS;
                const int checked = ox * op->sw < op->pad_left || (ox + pixels - 1) * op->sw + op->kw > op->in_w + op->pad_left;
                ck_qdw_strips_for(op->kw, op->sw, checked)[pixels](op, &win, ox, c16_end, c8_end, out + ox * C);
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
