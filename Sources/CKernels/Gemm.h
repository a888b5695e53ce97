// The register-tiled f32 GEMM tile shared by the pointwise (1x1) and Winograd kernels: up to 6 rows x 16
// columns of C = A x W (+ residual), clamped, where W is a panel of 16 (or 8) columns packed row after row.
// Internal to CKernels; include after Window.h (for CK_TARGET).
#pragma once
#include <stddef.h>
#include <string.h>

enum { CK_MR = 6, CK_NR = 16, CK_KC = 256 };

#if CK_HAVE_X86

// One tile of up to 6 rows x (8 * vectors) columns; `rows` and `vectors` are compile-time constants at
// every call site, so the accumulator arrays become registers.
static inline __attribute__((always_inline)) CK_TARGET void
ck_tile(const int rows, const int vectors, size_t k, const float *a, size_t lda, const float *bias, const float *w,
        const float *residual, float *c, size_t ldc, size_t columns, const ck_epilogue *epilogue) {
    __m256 acc[CK_MR][2];
    const float *row[CK_MR];
    const size_t width = (size_t)vectors * 8;
    for (int i = 0; i < rows; i++) {
        row[i] = a + (size_t)i * lda;
        if (bias != NULL) {
            acc[i][0] = _mm256_loadu_ps(bias);
            if (vectors > 1) acc[i][1] = _mm256_loadu_ps(bias + 8);
        } else {
            // A later block of the input channels: go on from the partial sums the previous block stored.
            const float *partial = c + (size_t)i * ldc;
            if (columns == width) {
                acc[i][0] = _mm256_loadu_ps(partial);
                if (vectors > 1) acc[i][1] = _mm256_loadu_ps(partial + 8);
            } else {
                float spill[CK_NR] = {0};
                memcpy(spill, partial, columns * sizeof(float));
                acc[i][0] = _mm256_loadu_ps(spill);
                if (vectors > 1) acc[i][1] = _mm256_loadu_ps(spill + 8);
            }
        }
    }
#pragma clang loop unroll_count(4)
    for (size_t p = 0; p < k; p++) {
        const __m256 b0 = _mm256_load_ps(w);
        const __m256 b1 = vectors > 1 ? _mm256_load_ps(w + 8) : _mm256_setzero_ps();
        w += width;
        for (int i = 0; i < rows; i++) {
            const __m256 x = _mm256_broadcast_ss(row[i] + p);
            acc[i][0] = _mm256_fmadd_ps(x, b0, acc[i][0]);
            if (vectors > 1) acc[i][1] = _mm256_fmadd_ps(x, b1, acc[i][1]);
        }
    }
    // The epilogue's constants are read only now: held in registers through the loop they would push an
    // accumulator to the stack. No epilogue: not the last block of input channels, so the partial sums are
    // stored as they are.
    for (int i = 0; i < rows; i++) {
        if (residual != NULL) {
            // The skip connection's rows have the output's layout (same ldc); a partial panel goes through a
            // zeroed spill buffer so nothing past the row is read.
            const float *skip = residual + (size_t)i * ldc;
            if (columns == width) {
                acc[i][0] = _mm256_add_ps(acc[i][0], _mm256_loadu_ps(skip));
                if (vectors > 1) acc[i][1] = _mm256_add_ps(acc[i][1], _mm256_loadu_ps(skip + 8));
            } else {
                float spill[CK_NR] = {0};
                memcpy(spill, skip, columns * sizeof(float));
                acc[i][0] = _mm256_add_ps(acc[i][0], _mm256_loadu_ps(spill));
                if (vectors > 1) acc[i][1] = _mm256_add_ps(acc[i][1], _mm256_loadu_ps(spill + 8));
            }
        }
        if (epilogue != NULL) {
            for (int v = 0; v < vectors; v++) acc[i][v] = ck_epilogue_apply(acc[i][v], epilogue);
        }
        float *out = c + (size_t)i * ldc;
        if (columns == width) {
            _mm256_storeu_ps(out, acc[i][0]);
            if (vectors > 1) _mm256_storeu_ps(out + 8, acc[i][1]);
        } else {
            float spill[CK_NR];
            _mm256_storeu_ps(spill, acc[i][0]);
            if (vectors > 1) _mm256_storeu_ps(spill + 8, acc[i][1]);
            memcpy(out, spill, columns * sizeof(float));
        }
    }
}

typedef void (*ck_tile_fn)(size_t, const float *, size_t, const float *, const float *, const float *, float *,
                           size_t, size_t, const ck_epilogue *);

#define CK_DEFINE_TILE(ROWS, VECTORS)                                                                          \
    static CK_TARGET void ck_tile_##ROWS##x##VECTORS(size_t k, const float *a, size_t lda, const float *bias,  \
                                                      const float *w, const float *residual, float *c,        \
                                                      size_t ldc, size_t columns, const ck_epilogue *epilogue) { \
        ck_tile(ROWS, VECTORS, k, a, lda, bias, w, residual, c, ldc, columns, epilogue);                      \
    }
CK_DEFINE_TILE(1, 1) CK_DEFINE_TILE(2, 1) CK_DEFINE_TILE(3, 1) CK_DEFINE_TILE(4, 1) CK_DEFINE_TILE(5, 1) CK_DEFINE_TILE(6, 1)
CK_DEFINE_TILE(1, 2) CK_DEFINE_TILE(2, 2) CK_DEFINE_TILE(3, 2) CK_DEFINE_TILE(4, 2) CK_DEFINE_TILE(5, 2) CK_DEFINE_TILE(6, 2)

static const ck_tile_fn ck_tiles[2][CK_MR + 1] = {
    {NULL, ck_tile_1x1, ck_tile_2x1, ck_tile_3x1, ck_tile_4x1, ck_tile_5x1, ck_tile_6x1},
    {NULL, ck_tile_1x2, ck_tile_2x2, ck_tile_3x2, ck_tile_4x2, ck_tile_5x2, ck_tile_6x2},
};

// C[rows][columns] = epilogue(A[rows][k] x W + bias [+ residual]) (NULL: none), for one panel W of k rows of `width`
// (8 or 16) floats; lda and ldc are the row strides of A and C. Input channels go in blocks of CK_KC, so a
// block of the panel (16 KB) stays in L1 while it is swept over all the rows; partial sums go through C. The
// residual is added in the first block, so `residual` may be C itself (each element is read before it is
// written), and the epilogue comes after the last.
static inline CK_TARGET void ck_gemm_panel(size_t rows, size_t k, const float *a, size_t lda, const float *bias,
                                           const float *w, size_t width, const float *residual, float *c, size_t ldc,
                                           size_t columns, const ck_epilogue *epilogue) {
    for (size_t kb = 0; kb < k; kb += CK_KC) {
        const size_t kc = k - kb < CK_KC ? k - kb : CK_KC;
        const int last = kb + kc == k;
        for (size_t r = 0; r < rows; r += CK_MR) {
            const size_t count = rows - r < CK_MR ? rows - r : CK_MR;
            ck_tiles[width == CK_NR][count](kc, a + r * lda + kb, lda, kb == 0 ? bias : NULL, w + kb * width,
                                            kb == 0 && residual != NULL ? residual + r * ldc : NULL, c + r * ldc, ldc,
                                            columns, last ? epilogue : NULL);
        }
    }
}

#endif
