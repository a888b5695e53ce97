// The element-wise INT8 steps of a QDQ graph run on our kernels: quantize, dequantize and a quantized Add, each
// as ONNX defines it (x / scale correctly rounded, then rounding half to even), so they give the file's own
// values. Compiled for AVX2 on x86 (the INT8 kernels' baseline); ck_u8_step_run splits a tensor across the pool.
#include "CKernels.h"

#include <math.h>
#include <pthreadpool.h>
#include <stdint.h>

#include "Window.h"

// No fused multiply-adds: ONNX rounds each product (a dequantized value) before adding.
#pragma STDC FP_CONTRACT OFF

#if CK_HAVE_X86
#define CK_EW_TARGET CK_TARGET
#else
#define CK_EW_TARGET
#endif

#if CK_HAVE_X86
// 8 int32 lanes plus a zero point, clamped and narrowed to 8 bytes (the low half of the result).
static inline __attribute__((always_inline)) CK_TARGET __m128i ck_narrow8(__m256i v, int zero_point, int q_min, int q_max) {
    v = _mm256_add_epi32(v, _mm256_set1_epi32(zero_point));
    v = _mm256_min_epi32(_mm256_max_epi32(v, _mm256_set1_epi32(q_min)), _mm256_set1_epi32(q_max));
    const __m128i words = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    return _mm_packus_epi16(words, words);
}

static inline __attribute__((always_inline)) CK_TARGET __m256 ck_widen8(const uint8_t *q, int zero_point) {
    const __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)q));
    return _mm256_cvtepi32_ps(_mm256_sub_epi32(v, _mm256_set1_epi32(zero_point)));
}
#endif

// The tails (and other CPUs) one element at a time, with the same operations as the vector loops.
static inline long ck_round_clamp(float v, int zero_point, int q_min, int q_max) {
    long q = (long)nearbyintf(v) + zero_point;
    return q < q_min ? q_min : (q > q_max ? q_max : q);
}

CK_EW_TARGET void ck_quantize_u8(const float *x, size_t count, float scale, int zero_point, int q_min, int q_max, uint8_t *out) {
    size_t i = 0;
#if CK_HAVE_X86
    const __m256 divisor = _mm256_set1_ps(scale);
    for (; i + 8 <= count; i += 8) {
        // Rounding half to even (the default MXCSR mode), as QuantizeLinear does.
        const __m256i v = _mm256_cvtps_epi32(_mm256_div_ps(_mm256_loadu_ps(x + i), divisor));
        _mm_storel_epi64((__m128i *)(out + i), ck_narrow8(v, zero_point, q_min, q_max));
    }
#endif
    for (; i < count; i++) out[i] = (uint8_t)ck_round_clamp(x[i] / scale, zero_point, q_min, q_max);
}

CK_EW_TARGET void ck_dequantize_u8(const uint8_t *q, size_t count, float scale, int zero_point, float low, float high, float *out) {
    size_t i = 0;
#if CK_HAVE_X86
    const __m256 factor = _mm256_set1_ps(scale), lo = _mm256_set1_ps(low), hi = _mm256_set1_ps(high);
    for (; i + 8 <= count; i += 8) {
        const __m256 v = _mm256_mul_ps(ck_widen8(q + i, zero_point), factor);
        _mm256_storeu_ps(out + i, _mm256_min_ps(_mm256_max_ps(v, lo), hi));
    }
#endif
    for (; i < count; i++) {
        const float v = (float)((int)q[i] - zero_point) * scale;
        out[i] = v < low ? low : (v > high ? high : v);
    }
}

CK_EW_TARGET void ck_add_u8(const uint8_t *a, float a_scale, int a_zero_point, const uint8_t *b, float b_scale, int b_zero_point,
                            size_t count, float y_scale, int y_zero_point, int q_min, int q_max, uint8_t *out) {
    size_t i = 0;
#if CK_HAVE_X86
    const __m256 sa = _mm256_set1_ps(a_scale), sb = _mm256_set1_ps(b_scale), sy = _mm256_set1_ps(y_scale);
    for (; i + 8 <= count; i += 8) {
        // Each product rounded before the sum, as two DequantizeLinear outputs added in fp32 are (no FMA).
        const __m256 sum = _mm256_add_ps(_mm256_mul_ps(ck_widen8(a + i, a_zero_point), sa), _mm256_mul_ps(ck_widen8(b + i, b_zero_point), sb));
        _mm_storel_epi64((__m128i *)(out + i), ck_narrow8(_mm256_cvtps_epi32(_mm256_div_ps(sum, sy)), y_zero_point, q_min, q_max));
    }
#endif
    for (; i < count; i++) {
        const float sum = (float)((int)a[i] - a_zero_point) * a_scale + (float)((int)b[i] - b_zero_point) * b_scale;
        out[i] = (uint8_t)ck_round_clamp(sum / y_scale, y_zero_point, q_min, q_max);
    }
}

typedef struct {
    const ck_u8_step *step;
    const void *a, *b;
    void *out;
} ck_u8_job;

// One task's share of a step: elements [first, first + count).
static void ck_u8_task(void *context, size_t first, size_t count) {
    const ck_u8_job *job = context;
    const ck_u8_step *s = job->step;
    switch (s->kind) {
    case CK_U8_QUANTIZE:
        ck_quantize_u8((const float *)job->a + first, count, s->y_scale, s->y_zero_point, s->q_min, s->q_max,
                       (uint8_t *)job->out + first);
        break;
    case CK_U8_DEQUANTIZE:
        ck_dequantize_u8((const uint8_t *)job->a + first, count, s->a_scale, s->a_zero_point, s->low, s->high,
                         (float *)job->out + first);
        break;
    case CK_U8_ADD:
        ck_add_u8((const uint8_t *)job->a + first, s->a_scale, s->a_zero_point, (const uint8_t *)job->b + first, s->b_scale,
                  s->b_zero_point, count, s->y_scale, s->y_zero_point, s->q_min, s->q_max, (uint8_t *)job->out + first);
        break;
    }
}

void ck_u8_step_run(const ck_u8_step *step, const void *a, const void *b, void *out, void *threadpool, int yield_workers) {
    // Chunks of 16K elements (a multiple of the vectors' 8): a 14x14 tensor stays on one thread, where waking
    // another would cost more than it saves; a stem's 400K elements become 25 tasks.
    enum { CK_U8_CHUNK = 16384 };
    ck_u8_job job = {step, a, b, out};
    pthreadpool_t pool = threadpool;
    if (pool == NULL || step->count <= CK_U8_CHUNK || pthreadpool_get_threads_count(pool) <= 1) {
        ck_u8_task(&job, 0, step->count);
        return;
    }
    pthreadpool_parallelize_1d_tile_1d(pool, ck_u8_task, &job, step->count, CK_U8_CHUNK,
                                       PTHREADPOOL_FLAG_DISABLE_DENORMALS | (yield_workers ? PTHREADPOOL_FLAG_YIELD_WORKERS : 0));
}
