// What the kernels share: the AVX2 target and the packed-weight allocation (all three), and for the windowed
// ones (Depthwise.c, Convolution.c) an output row's window and how a run is split into pthreadpool tasks.
// Internal to CKernels.
#pragma once
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define CK_HAVE_X86 1
#define CK_TARGET __attribute__((target("avx2,fma")))
#else
#define CK_HAVE_X86 0
#endif

// `floats` zeroed floats, 64-byte aligned, for packed weights (free with free()); NULL when out of memory.
// Rounded up to whole 64-byte lines (aligned_alloc wants a multiple of the alignment), plus one spare line
// so a kernel's last vector load may run a little past the packed data.
static inline float *ck_alloc_packed(size_t floats) {
    const size_t bytes = (floats * sizeof(float) + 64 + 63) & ~(size_t)63;
    float *packed = aligned_alloc(64, bytes);
    if (packed != NULL) memset(packed, 0, bytes);
    return packed;
}

// What every kernel does to an output after its bias (and a fused residual): clamp to [low, high] (a fused
// Relu/Clip), then, when `hardswish` is set, HardSwish followed by y * scale + shift (PP-LCNet's
// "learnable affine" after each activation). Done in the kernel's store, so the activation costs no pass
// over memory of its own: in PP-OCR's networks those passes were a third of the time.
typedef struct {
    float low, high;
    int hardswish;
    float scale, shift;
} ck_epilogue;

static inline ck_epilogue ck_epilogue_clamp(float low, float high) { return (ck_epilogue){low, high, 0, 1.0f, 0.0f}; }

#if CK_HAVE_X86
static inline __attribute__((always_inline)) CK_TARGET __m256 ck_epilogue_apply(__m256 v, const ck_epilogue *e) {
    v = _mm256_min_ps(_mm256_max_ps(v, _mm256_broadcast_ss(&e->low)), _mm256_broadcast_ss(&e->high));
    if (e->hardswish) {
        // x * clamp(x / 6 + 1/2, 0, 1), as ONNX defines HardSwish.
        __m256 gate = _mm256_fmadd_ps(v, _mm256_set1_ps(1.0f / 6.0f), _mm256_set1_ps(0.5f));
        gate = _mm256_min_ps(_mm256_max_ps(gate, _mm256_setzero_ps()), _mm256_set1_ps(1.0f));
        v = _mm256_fmadd_ps(_mm256_mul_ps(v, gate), _mm256_broadcast_ss(&e->scale), _mm256_broadcast_ss(&e->shift));
    }
    return v;
}
#endif

static inline float ck_epilogue_apply1(float v, const ck_epilogue *e) {
    v = v < e->low ? e->low : v;
    v = v > e->high ? e->high : v;
    if (e->hardswish) {
        float gate = v * (1.0f / 6.0f) + 0.5f;
        gate = gate < 0 ? 0 : (gate > 1 ? 1 : gate);
        v = v * gate * e->scale + e->shift;
    }
    return v;
}

// One output row's window: its image, the input row of its first tap row (negative in the top padding) and the
// tap rows [ky_begin, ky_end) that lie inside the image.
typedef struct {
    const float *image;
    ptrdiff_t iy0;
    size_t ky_begin, ky_end;
} ck_window;

// The window of output row `row` of a batch (row = image * out_h + y) over NHWC `input` of in_h x in_w x channels.
static inline ck_window ck_window_of_row(const float *input, size_t row, size_t out_h, size_t in_h, size_t in_w,
                                         size_t channels, size_t stride_h, size_t pad_top, size_t kernel_h) {
    const size_t image = row / out_h, oy = row % out_h;
    const ptrdiff_t iy0 = (ptrdiff_t)(oy * stride_h) - (ptrdiff_t)pad_top;
    ck_window win = {input + image * in_h * in_w * channels, iy0, 0, kernel_h};
    if (iy0 < 0) win.ky_begin = (size_t)(-iy0);
    const ptrdiff_t ky_limit = (ptrdiff_t)in_h - iy0;
    if (ky_limit < (ptrdiff_t)kernel_h) win.ky_end = (size_t)ky_limit;
    return win;
}

// The taps [*begin, *end) of a kw-wide window starting at input column ix0 that lie inside an in_w-wide image.
static inline void ck_window_columns(ptrdiff_t ix0, size_t kw, size_t in_w, size_t *begin, size_t *end) {
    *begin = ix0 < 0 ? (size_t)(-ix0) : 0;
    const ptrdiff_t limit = (ptrdiff_t)in_w - ix0;
    *end = limit < (ptrdiff_t)kw ? (size_t)limit : kw;
}

// Task sizes for pthreadpool_parallelize_2d_tile_2d over `rows` x `items` (channels or panels, split in multiples
// of `granule`): one task on one thread; else about 4 per thread, so that uneven progress on a shared machine
// still balances. Rows are split first, and items too when there are few rows; with `items_first` (a layer
// whose weights outweigh its activations, ResNet's 7x7 and 14x14 stages) items are split first, because every
// row task streams the weights of its items again: a 7x7 layer split by rows read its 2 MB of weights 7 times.
static inline void ck_split_tasks(size_t threads, size_t rows, size_t items, size_t granule, int items_first,
                                  size_t *rows_per_task, size_t *items_per_task) {
    *rows_per_task = rows;
    *items_per_task = items;
    if (threads <= 1) return;
    const size_t wanted = 4 * threads;
    if (items_first) {
        *items_per_task = ((items + wanted - 1) / wanted + granule - 1) / granule * granule;
        const size_t item_tasks = (items + *items_per_task - 1) / *items_per_task;
        if (item_tasks < wanted) {
            const size_t splits = (wanted + item_tasks - 1) / item_tasks;
            *rows_per_task = (rows + splits - 1) / splits;
        }
        return;
    }
    *rows_per_task = (rows + wanted - 1) / wanted;
    const size_t row_tasks = (rows + *rows_per_task - 1) / *rows_per_task;
    if (row_tasks < wanted) {
        const size_t splits = (wanted + row_tasks - 1) / row_tasks;
        *items_per_task = ((items + splits - 1) / splits + granule - 1) / granule * granule;
    }
}
