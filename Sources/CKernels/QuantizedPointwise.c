// An INT8 GEMM for 1x1 convolutions (NHWC, uint8 activations x symmetric int8 weights, int32 sums), with the
// bias, requantization and clamp fused into the store (Requantize.h).
//
// Why two inner loops: x86 multiplies bytes in pairs (vpmaddubsw) only with a 16-bit saturating sum, and
// 255 * 127 * 2 overflows it, which is how onnxruntime's AVX2 kernels move the top-5 of an EfficientNet by
// 0.1 from the file's own arithmetic. Exact instead:
// - level 2, AVX-512 VNNI: vpdpbusd sums four u8 x s8 products straight into 32-bit lanes, 16 channels to a
//   512-bit register. Weights are packed as [panel][k / 4][16 channels][4] (a quad of a panel: one 64-byte load); the input's zero point is folded into the starting sums
//   (sum (x - z) w = sum x w - z sum w), so the rows are read as they are.
// - level 1, AVX2: each task first widens its rows to 16 bits with the zero point subtracted (values in
//   [-255, 255]), then vpmaddwd multiplies pairs into 32-bit lanes; weights are [panel][k / 2][16][2] int16.
// A tile is 6 rows (pixels) x 16 channels on AVX2 (12 ymm accumulators, 2 weight vectors, 1 broadcast input)
// and 6 rows x 32 channels (two panels, 12 zmm accumulators) on VNNI.
// Tasks are blocks of rows times runs of panels, as in the f32 kernel (Pointwise.c).
//
// Any other convolution without groups (3x3, strided 1x1, a stem) is the same GEMM on gathered rows: each
// task copies the kernel_h x kernel_w windows of its output pixels into one row of kh * kw * C bytes
// (padding is the input's zero point, real 0) and multiplies those rows by weights reordered to
// [output][kh][kw][C]. The gathered rows live only in the task's cache-sized scratch, never as a whole
// im2col image.
#include "CKernels.h"

#include <pthreadpool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "Window.h"
#include "Requantize.h"

enum { CK_QMR = 6, CK_QNR = 16, CK_Q_ROWS_PER_TASK = 72 };

struct ck_qpointwise {
    size_t k, n, panels;
    size_t k_packed;     // k rounded up to 4 (level 2) or 2 (level 1)
    int level;
    int input_zero_point;
    ck_requant requant;
    int32_t *initial;    // panels * 16 starting sums: -z * sum w (level 2), 0 (level 1)
    void *packed;        // the weights, as described above
    // A dense convolution (ck_qconv_create): how its rows are gathered. kernel_h == 0 for a plain 1x1.
    size_t channels, kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left, input_h, input_w, output_h, output_w;
};

int ck_int8_level(void) {
#if CK_HAVE_X86
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return 0;
    if (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512f"))
        return 2;
    return 1;
#else
    return 0;
#endif
}

ck_qpointwise *ck_qpointwise_create(size_t input_channels, size_t output_channels, const int8_t *weights,
                                    const float *weight_scales, const float *bias, const ck_quantization *quantization,
                                    int level) {
    if (input_channels == 0 || output_channels == 0 || level < 1 || level > ck_int8_level()) return NULL;
    ck_qpointwise *op = calloc(1, sizeof *op);
    if (op == NULL) return NULL;
    const size_t k = input_channels, n = output_channels, group = level == 2 ? 4 : 2;
    op->k = k;
    op->n = n;
    op->panels = (n + CK_QNR - 1) / CK_QNR;
    op->k_packed = (k + group - 1) / group * group;
    op->level = level;
    op->input_zero_point = quantization->input_zero_point;
    const size_t element = level == 2 ? 1 : 2;
    op->packed = ck_alloc_packed((op->panels * op->k_packed * CK_QNR * element + 3) / 4);
    op->initial = (int32_t *)ck_alloc_packed(op->panels * CK_QNR);
    if (op->packed == NULL || op->initial == NULL || !ck_requant_init(&op->requant, n, quantization, weight_scales, bias)) {
        ck_qpointwise_destroy(op);
        return NULL;
    }
    // Channels past n (the last panel's padding) keep zero weights and constants; their outputs are never stored.
    for (size_t c = 0; c < n; c++) {
        const size_t panel = c / CK_QNR, lane = c % CK_QNR;
        int32_t sum = 0;
        for (size_t p = 0; p < k; p++) {
            const int8_t w = weights[c * k + p];
            sum += w;
            const size_t index = ((panel * (op->k_packed / group) + p / group) * CK_QNR + lane) * group + p % group;
            if (level == 2) ((int8_t *)op->packed)[index] = w;
            else ((int16_t *)op->packed)[index] = w;
        }
        op->initial[c] = level == 2 ? -op->input_zero_point * sum : 0;
    }
    return op;
}

void ck_qpointwise_destroy(ck_qpointwise *op) {
    if (op == NULL) return;
    ck_requant_free(&op->requant);
    free(op->initial);
    free(op->packed);
    free(op);
}

#if CK_HAVE_X86

// Requantizes and stores one tile row: 16 channels from `column`, `columns` of them kept.
static inline __attribute__((always_inline)) CK_TARGET void
ck_q_store_row(const __m256i acc[2], const ck_requant *r, size_t column, size_t columns, uint8_t *out) {
    const __m128i bytes = ck_requant16(_mm256_cvtepi32_ps(acc[0]), _mm256_cvtepi32_ps(acc[1]), r, column);
    if (columns >= 16) {
        _mm_storeu_si128((__m128i *)out, bytes);
    } else {
        uint8_t spill[16];
        _mm_storeu_si128((__m128i *)spill, bytes);
        memcpy(out, spill, columns);
    }
}

static inline int32_t ck_load_i32(const void *p) {
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

// Level 1: `rows` (compile-time) rows of 16-bit centred input x one panel of int16 pairs.
static inline __attribute__((always_inline)) CK_TARGET void
ck_q16_tile(const int rows, size_t pairs, const int16_t *a, size_t lda, const int16_t *w, const ck_requant *r,
            size_t column, size_t columns, uint8_t *out, size_t ldc) {
    __m256i acc[CK_QMR][2];
    for (int i = 0; i < rows; i++) acc[i][0] = acc[i][1] = _mm256_setzero_si256();
#pragma clang loop unroll_count(2)
    for (size_t p = 0; p < pairs; p++) {
        const __m256i b0 = _mm256_load_si256((const __m256i *)w);
        const __m256i b1 = _mm256_load_si256((const __m256i *)(w + 16));
        w += 32;
        for (int i = 0; i < rows; i++) {
            const __m256i x = _mm256_set1_epi32(ck_load_i32(a + (size_t)i * lda + 2 * p));
            acc[i][0] = _mm256_add_epi32(acc[i][0], _mm256_madd_epi16(x, b0));
            acc[i][1] = _mm256_add_epi32(acc[i][1], _mm256_madd_epi16(x, b1));
        }
    }
    for (int i = 0; i < rows; i++) ck_q_store_row(acc[i], r, column, columns, out + (size_t)i * ldc);
}

// Level 2: `rows` rows of raw uint8 input x one or two panels (w1 NULL: one), starting from the zero-point
// sums. One 512-bit register holds a row's 16 channels of a panel and a quad of a panel is one 64-byte load,
// so a step is 1-2 weight loads and `rows` broadcasts for up to 12 vpdpbusd.
static inline __attribute__((always_inline)) CK_VNNI_TARGET void
ck_q8_tile(const int rows, const int two, size_t quads, const uint8_t *a, size_t lda, const int8_t *w0, const int8_t *w1,
           const int32_t *initial, const ck_requant *r, size_t column, size_t columns, uint8_t *out, size_t ldc) {
    __m512i acc[CK_QMR][2];
    const __m512i start0 = _mm512_load_si512((const void *)initial);
    const __m512i start1 = two ? _mm512_load_si512((const void *)(initial + 16)) : _mm512_setzero_si512();
    for (int i = 0; i < rows; i++) {
        acc[i][0] = start0;
        acc[i][1] = start1;
    }
#pragma clang loop unroll_count(2)
    for (size_t q = 0; q < quads; q++) {
        const __m512i b0 = _mm512_load_si512((const void *)(w0 + 64 * q));
        const __m512i b1 = two ? _mm512_load_si512((const void *)(w1 + 64 * q)) : _mm512_setzero_si512();
        for (int i = 0; i < rows; i++) {
            const __m512i x = _mm512_set1_epi32(ck_load_i32(a + (size_t)i * lda + 4 * q));
            acc[i][0] = _mm512_dpbusd_epi32(acc[i][0], x, b0);
            if (two) acc[i][1] = _mm512_dpbusd_epi32(acc[i][1], x, b1);
        }
    }
    for (int i = 0; i < rows; i++) {
        for (int p = 0; p < 1 + two; p++) {
            const size_t offset = 16 * (size_t)p;
            if (columns <= offset) continue;
            const __m128i bytes = ck_requant16_exact(acc[i][p], r, column + offset);
            const size_t kept = columns - offset;
            uint8_t *at = out + (size_t)i * ldc + offset;
            if (kept >= 16) {
                _mm_storeu_si128((__m128i *)at, bytes);
            } else {
                _mm_mask_storeu_epi8(at, (__mmask16)((1u << kept) - 1), bytes);
            }
        }
    }
}

typedef void (*ck_q16_fn)(size_t, const int16_t *, size_t, const int16_t *, const ck_requant *, size_t, size_t, uint8_t *, size_t);
typedef void (*ck_q8_fn)(size_t, const uint8_t *, size_t, const int8_t *, const int8_t *, const int32_t *, const ck_requant *,
                         size_t, size_t, uint8_t *, size_t);

#define CK_DEFINE_QTILES(ROWS)                                                                                        \
    static CK_TARGET void ck_q16_tile_##ROWS(size_t pairs, const int16_t *a, size_t lda, const int16_t *w,            \
                                             const ck_requant *r, size_t column, size_t columns, uint8_t *out,        \
                                             size_t ldc) {                                                            \
        ck_q16_tile(ROWS, pairs, a, lda, w, r, column, columns, out, ldc);                                            \
    }                                                                                                                 \
    static CK_VNNI_TARGET void ck_q8_tile_##ROWS##_1(size_t quads, const uint8_t *a, size_t lda, const int8_t *w0,     \
                                                     const int8_t *w1, const int32_t *initial, const ck_requant *r, \
                                                     size_t column, size_t columns, uint8_t *out, size_t ldc) {     \
        ck_q8_tile(ROWS, 0, quads, a, lda, w0, w1, initial, r, column, columns, out, ldc);                            \
    }                                                                                                                 \
    static CK_VNNI_TARGET void ck_q8_tile_##ROWS##_2(size_t quads, const uint8_t *a, size_t lda, const int8_t *w0,     \
                                                     const int8_t *w1, const int32_t *initial, const ck_requant *r, \
                                                     size_t column, size_t columns, uint8_t *out, size_t ldc) {     \
        ck_q8_tile(ROWS, 1, quads, a, lda, w0, w1, initial, r, column, columns, out, ldc);                            \
    }
CK_DEFINE_QTILES(1) CK_DEFINE_QTILES(2) CK_DEFINE_QTILES(3) CK_DEFINE_QTILES(4) CK_DEFINE_QTILES(5) CK_DEFINE_QTILES(6)

static const ck_q16_fn ck_q16_tiles[CK_QMR + 1] = {NULL, ck_q16_tile_1, ck_q16_tile_2, ck_q16_tile_3,
                                                   ck_q16_tile_4, ck_q16_tile_5, ck_q16_tile_6};
static const ck_q8_fn ck_q8_tiles[2][CK_QMR + 1] = {
    {NULL, ck_q8_tile_1_1, ck_q8_tile_2_1, ck_q8_tile_3_1, ck_q8_tile_4_1, ck_q8_tile_5_1, ck_q8_tile_6_1},
    {NULL, ck_q8_tile_1_2, ck_q8_tile_2_2, ck_q8_tile_3_2, ck_q8_tile_4_2, ck_q8_tile_5_2, ck_q8_tile_6_2},
};

typedef struct {
    const ck_qpointwise *op;
    const uint8_t *input;
    uint8_t *output;
} ck_qjob;

// Level 1's widened rows: one buffer per pool thread, grown as needed and kept for the thread's life.
static _Thread_local int16_t *ck_q_scratch;
static _Thread_local size_t ck_q_scratch_count;

// `row_count` rows of k bytes at `rows` (read up to 3 bytes past the last) times panels
// [first_panel, first_panel + panel_count), into out[row][n].
static CK_TARGET void ck_q_rows(const ck_qpointwise *op, const uint8_t *rows, size_t row_count, size_t first_panel,
                                size_t panel_count, uint8_t *out) {
    const size_t k = op->k, n = op->n, kp = op->k_packed;
    if (op->level == 2) {
        // Panels two at a time (the last alone when their count is odd).
        const size_t end = first_panel + panel_count;
        for (size_t panel = first_panel; panel < end; panel += 2) {
            const int two = panel + 1 < end;
            const int8_t *w = (const int8_t *)op->packed + panel * kp * CK_QNR;
            const size_t column = panel * CK_QNR, columns = n - column;
            for (size_t r = 0; r < row_count; r += CK_QMR) {
                const size_t count = row_count - r < CK_QMR ? row_count - r : CK_QMR;
                ck_q8_tiles[two][count](kp / 4, rows + r * k, k, w, two ? w + kp * CK_QNR : NULL, op->initial + column, &op->requant,
                                        column, columns, out + r * n + column, n);
            }
        }
        return;
    }
    const size_t needed = row_count * kp;
    if (ck_q_scratch_count < needed) {
        free(ck_q_scratch);
        ck_q_scratch = aligned_alloc(64, (needed * sizeof(int16_t) + 63) & ~(size_t)63);
        ck_q_scratch_count = ck_q_scratch != NULL ? needed : 0;
        if (ck_q_scratch == NULL) return;  // out of memory on a pool thread: nothing better to do than skip
    }
    const int16_t zero_point = (int16_t)op->input_zero_point;
    for (size_t r = 0; r < row_count; r++) {
        int16_t *dst = ck_q_scratch + r * kp;
        const uint8_t *src = rows + r * k;
        for (size_t p = 0; p < k; p++) dst[p] = (int16_t)(src[p] - zero_point);
        for (size_t p = k; p < kp; p++) dst[p] = 0;
    }
    for (size_t panel = first_panel; panel < first_panel + panel_count; panel++) {
        const int16_t *w = (const int16_t *)op->packed + panel * kp * CK_QNR;
        const size_t column = panel * CK_QNR, columns = n - column;
        for (size_t r = 0; r < row_count; r += CK_QMR) {
            const size_t count = row_count - r < CK_QMR ? row_count - r : CK_QMR;
            ck_q16_tiles[count](kp / 2, ck_q_scratch + r * kp, kp, w, &op->requant, column, columns, out + r * n + column, n);
        }
    }
}

static void ck_qtask(void *context, size_t first_row, size_t first_panel, size_t row_count, size_t panel_count) {
    const ck_qjob *job = context;
    const ck_qpointwise *op = job->op;
    ck_q_rows(op, job->input + first_row * op->k, row_count, first_panel, panel_count, job->output + first_row * op->n);
}

// A dense convolution's gathered rows: one buffer per pool thread, as ck_q_scratch.
static _Thread_local uint8_t *ck_qc_gathered;
static _Thread_local size_t ck_qc_gathered_count;

// memcpy for the short runs a stem's window rows are (7 taps x 3 channels = 21 bytes): fixed-size copies the
// compiler inlines, overlapping where n is not a multiple, instead of a library call per run.
static inline void ck_copy_run(uint8_t *dst, const uint8_t *src, size_t n) {
    if (n > 32) {
        memcpy(dst, src, n);
    } else if (n >= 16) {
        uint8_t head[16], tail[16];
        memcpy(head, src, 16);
        memcpy(tail, src + n - 16, 16);
        memcpy(dst, head, 16);
        memcpy(dst + n - 16, tail, 16);
    } else if (n >= 8) {
        uint64_t head, tail;
        memcpy(&head, src, 8);
        memcpy(&tail, src + n - 8, 8);
        memcpy(dst, &head, 8);
        memcpy(dst + n - 8, &tail, 8);
    } else {
        for (size_t i = 0; i < n; i++) dst[i] = src[i];
    }
}

// Output pixels [first_row, first_row + row_count) of all images: each pixel's window, [kh][kw][C] bytes.
static void ck_qconv_gather(const ck_qpointwise *op, const uint8_t *input, size_t first_row, size_t row_count, uint8_t *dst) {
    const size_t c = op->channels, plane = op->output_h * op->output_w;
    const uint8_t zero_point = (uint8_t)op->input_zero_point;
    for (size_t r = 0; r < row_count; r++) {
        const size_t pixel = first_row + r, image = pixel / plane, oy = pixel % plane / op->output_w, ox = pixel % op->output_w;
        const uint8_t *source = input + image * op->input_h * op->input_w * c;
        uint8_t *row = dst + r * op->k;
        const size_t window = op->kernel_w * c;
        // The taps of a window row inside the image: [first, last) (NHWC keeps them contiguous).
        const size_t left = ox * op->stride_w;  // the window's first column, plus pad_left
        const size_t first = left < op->pad_left ? op->pad_left - left : 0;
        const size_t end = left < op->input_w + op->pad_left ? op->input_w + op->pad_left - left : 0;
        const size_t last = end < op->kernel_w ? end : op->kernel_w;
        for (size_t ky = 0; ky < op->kernel_h; ky++, row += window) {
            // Unsigned wrap-around makes rows above the image (iy < 0) fail the bound check like those below.
            const size_t iy = oy * op->stride_h + ky - op->pad_top;
            if (iy >= op->input_h || first >= last) {
                memset(row, zero_point, window);
                continue;
            }
            if (first > 0) memset(row, zero_point, first * c);
            ck_copy_run(row + first * c, source + (iy * op->input_w + left + first - op->pad_left) * c, (last - first) * c);
            if (last < op->kernel_w) memset(row + last * c, zero_point, (op->kernel_w - last) * c);
        }
    }
}

static void ck_qconv_task(void *context, size_t first_row, size_t first_panel, size_t row_count, size_t panel_count) {
    const ck_qjob *job = context;
    const ck_qpointwise *op = job->op;
    const size_t needed = row_count * op->k + 4;  // the tiles read up to 3 bytes past the last row
    if (ck_qc_gathered_count < needed) {
        free(ck_qc_gathered);
        ck_qc_gathered = malloc(needed);
        ck_qc_gathered_count = ck_qc_gathered != NULL ? needed : 0;
        if (ck_qc_gathered == NULL) return;  // out of memory on a pool thread, as in ck_q_rows
    }
    ck_qconv_gather(op, job->input, first_row, row_count, ck_qc_gathered);
    ck_q_rows(op, ck_qc_gathered, row_count, first_panel, panel_count, job->output + first_row * op->n);
}

// Runs `task` over `pixels` output rows: blocks of rows, and of panels too when rows are few.
static void ck_q_parallelize(const ck_qpointwise *op, size_t pixels, pthreadpool_task_2d_tile_2d_t task, ck_qjob *job,
                             void *threadpool, int yield_workers) {
    pthreadpool_t pool = threadpool;
    const size_t threads = pool != NULL ? pthreadpool_get_threads_count(pool) : 1;
    const size_t rows_per_task = pixels < CK_Q_ROWS_PER_TASK ? pixels : CK_Q_ROWS_PER_TASK;
    const size_t row_tasks = (pixels + rows_per_task - 1) / rows_per_task;
    size_t panels_per_task = op->panels;
    if (threads > 1 && row_tasks < 4 * threads) {
        // Small images (7x7) have few row blocks: split the channels too so every thread gets work.
        const size_t splits = (4 * threads + row_tasks - 1) / row_tasks;
        panels_per_task = (op->panels + splits - 1) / splits;
    }
    pthreadpool_parallelize_2d_tile_2d(pool, task, job, pixels, op->panels, rows_per_task, panels_per_task,
                                       PTHREADPOOL_FLAG_DISABLE_DENORMALS | (yield_workers ? PTHREADPOOL_FLAG_YIELD_WORKERS : 0));
}
#endif

void ck_qpointwise_run(const ck_qpointwise *op, size_t pixels, const uint8_t *input, uint8_t *output, void *threadpool,
                       int yield_workers) {
#if CK_HAVE_X86
    if (pixels == 0) return;
    ck_qjob job = {op, input, output};
    ck_q_parallelize(op, pixels, op->kernel_h > 0 ? ck_qconv_task : ck_qtask, &job, threadpool, yield_workers);
#else
    (void)op; (void)pixels; (void)input; (void)output; (void)threadpool; (void)yield_workers;
#endif
}

ck_qconv *ck_qconv_create(size_t channels, size_t output_channels, size_t kernel_h, size_t kernel_w, size_t stride_h,
                          size_t stride_w, size_t pad_top, size_t pad_left, size_t input_h, size_t input_w, size_t output_h,
                          size_t output_w, const int8_t *weights, const float *weight_scales, const float *bias,
                          const ck_quantization *quantization, int level) {
    if (channels == 0 || kernel_h == 0 || kernel_w == 0 || stride_h == 0 || stride_w == 0 || pad_top >= kernel_h ||
        pad_left >= kernel_w || output_h == 0 || output_w == 0)
        return NULL;
    const size_t taps = kernel_h * kernel_w, k = taps * channels;
    int8_t *reordered = malloc(output_channels * k);
    if (reordered == NULL) return NULL;
    // ONNX's [O][C][kh][kw] to the gathered rows' [O][kh][kw][C].
    for (size_t o = 0; o < output_channels; o++)
        for (size_t c = 0; c < channels; c++)
            for (size_t t = 0; t < taps; t++) reordered[(o * taps + t) * channels + c] = weights[(o * channels + c) * taps + t];
    ck_qpointwise *op = ck_qpointwise_create(k, output_channels, reordered, weight_scales, bias, quantization, level);
    free(reordered);
    if (op == NULL) return NULL;
    op->channels = channels;
    op->kernel_h = kernel_h;
    op->kernel_w = kernel_w;
    op->stride_h = stride_h;
    op->stride_w = stride_w;
    op->pad_top = pad_top;
    op->pad_left = pad_left;
    op->input_h = input_h;
    op->input_w = input_w;
    op->output_h = output_h;
    op->output_w = output_w;
    return op;
}

void ck_qconv_destroy(ck_qconv *op) { ck_qpointwise_destroy(op); }

void ck_qconv_run(const ck_qconv *op, size_t batch, const uint8_t *input, uint8_t *output, void *threadpool, int yield_workers) {
    ck_qpointwise_run(op, batch * op->output_h * op->output_w, input, output, threadpool, yield_workers);
}
