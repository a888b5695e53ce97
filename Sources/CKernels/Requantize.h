// What the INT8 kernels share: the CPU levels, and turning 8 int32 (or exact-integer f32) accumulators into 8
// quantized bytes. Internal to CKernels; include after Window.h (for CK_TARGET).
//
// An output is q = clamp(round_half_even(acc * multiplier[c] + offset[c]), q_min, q_max), where
// acc = sum (x - x_zero_point) * w over the window, multiplier = x_scale * w_scale[c] / y_scale and
// offset = bias[c] / y_scale + y_zero_point: ONNX's Dequantize -> Conv -> Quantize with the scales folded, so the result
// differs from the file's fp32 arithmetic only where a value lies within a rounding error of a tie.
#pragma once
#include <stddef.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "CKernels.h"

#if CK_HAVE_X86
// Level 2 (ck_int8_level): AVX-512 with VNNI's vpdpbusd.
#define CK_VNNI_TARGET __attribute__((target("avx2,fma,avx512f,avx512vl,avx512bw,avx512vnni")))
#endif

// A quantized output's per-channel constants, each `channels` rounded up to 16 floats, 64-byte aligned.
typedef struct {
    float *multiplier;
    float *offset;
    int q_min, q_max;  // the clamp in quantized units (the zero point is in `offset`)
} ck_requant;

// Fills `r` for `channels` outputs (free with ck_requant_free); 0 when out of memory.
static inline int ck_requant_init(ck_requant *r, size_t channels, const ck_quantization *q, const float *weight_scales,
                                  const float *bias) {
    const size_t padded = (channels + 15) & ~(size_t)15;
    r->multiplier = ck_alloc_packed(padded);
    r->offset = ck_alloc_packed(padded);
    if (r->multiplier == NULL || r->offset == NULL) {
        free(r->multiplier);
        free(r->offset);
        return 0;
    }
    for (size_t c = 0; c < channels; c++) {
        r->multiplier[c] = q->input_scale * weight_scales[c] / q->output_scale;
        // The zero point goes in with the offset: rounding t + z is rounding t, plus z (z is an integer).
        r->offset[c] = (bias != NULL ? bias[c] / q->output_scale : 0.0f) + (float)q->output_zero_point;
    }
    r->q_min = q->output_min;
    r->q_max = q->output_max;
    return 1;
}

static inline void ck_requant_free(ck_requant *r) {
    free(r->multiplier);
    free(r->offset);
}

static inline uint8_t ck_requant1(float acc, const ck_requant *r, size_t c) {
    // nearbyintf rounds half to even in the default rounding mode, as ONNX's QuantizeLinear does.
    long v = (long)nearbyintf(fmaf(acc, r->multiplier[c], r->offset[c]));
    v = v < r->q_min ? r->q_min : (v > r->q_max ? r->q_max : v);
    return (uint8_t)v;
}

#if CK_HAVE_X86
// 8 channels from `c` as int32, rounded half to even (cvtps in the default MXCSR mode), zero point included.
static inline __attribute__((always_inline)) CK_TARGET __m256i ck_requant_lanes(__m256 acc, const ck_requant *r, size_t c) {
    return _mm256_cvtps_epi32(_mm256_fmadd_ps(acc, _mm256_load_ps(r->multiplier + c), _mm256_load_ps(r->offset + c)));
}

// The clamp, on bytes: narrowing already saturated to 0..255.
static inline __attribute__((always_inline)) CK_TARGET __m128i ck_clamp_bytes(__m128i bytes, const ck_requant *r) {
    return _mm_min_epu8(_mm_max_epu8(bytes, _mm_set1_epi8((char)r->q_min)), _mm_set1_epi8((char)r->q_max));
}

// Channels [c, c + 8) from f32 accumulators, as 8 bytes in the low half of the result.
static inline __attribute__((always_inline)) CK_TARGET __m128i ck_requant8(__m256 acc, const ck_requant *r, size_t c) {
    const __m256i v = ck_requant_lanes(acc, r, c);
    const __m128i words = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    return ck_clamp_bytes(_mm_packus_epi16(words, words), r);
}

// Channels [c, c + 16) from two vectors of f32 accumulators, as 16 bytes.
static inline __attribute__((always_inline)) CK_TARGET __m128i ck_requant16(__m256 low, __m256 high, const ck_requant *r, size_t c) {
    // packs works within 128-bit lanes: [l0-3 h0-3 l4-7 h4-7], put back in order by the permute.
    const __m256i words = _mm256_permute4x64_epi64(
        _mm256_packs_epi32(ck_requant_lanes(low, r, c), ck_requant_lanes(high, r, c + 8)), 0xD8);
    return ck_clamp_bytes(_mm_packus_epi16(_mm256_castsi256_si128(words), _mm256_extracti128_si256(words, 1)), r);
}

// Level 2: channels [c, c + 16) from 16 exact int32 sums, as 16 bytes: ck_requant16's arithmetic (the same FMA,
// rounding and clamp, so the same bytes) in half the instructions. Clamping the int32 to [q_min, q_max] within
// 0..255 equals ck_requant16's saturating packs followed by its byte clamp.
static inline __attribute__((always_inline)) CK_VNNI_TARGET __m128i ck_requant16_exact(__m512i sum, const ck_requant *r, size_t c) {
    const __m512 v = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), _mm512_load_ps(r->multiplier + c), _mm512_load_ps(r->offset + c));
    const __m512i q = _mm512_min_epi32(_mm512_max_epi32(_mm512_cvtps_epi32(v), _mm512_set1_epi32(r->q_min)), _mm512_set1_epi32(r->q_max));
    return _mm512_cvtepi32_epi8(q);
}

// Stores the first `count` (<= 8) bytes of `bytes` at `out`.
static inline __attribute__((always_inline)) CK_TARGET void ck_store_bytes(uint8_t *out, __m128i bytes, size_t count) {
    if (count == 8) {
        _mm_storel_epi64((__m128i *)out, bytes);
    } else {
        uint8_t spill[16];
        _mm_storeu_si128((__m128i *)spill, bytes);
        memcpy(out, spill, count);
    }
}

// 8 bytes from `in` as f32 values minus `zero_point`: exact integers in [-255, 255].
static inline __attribute__((always_inline)) CK_TARGET __m256 ck_load_centred8(const uint8_t *in, __m256 zero_point) {
    const __m128i bytes = _mm_loadl_epi64((const __m128i *)in);
    return _mm256_sub_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(bytes)), zero_point);
}
#endif
