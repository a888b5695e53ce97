// A Winograd F(2x2, 3x3) f32 convolution (NHWC, groups 1, stride 1, dilation 1) with fused bias and clamp:
// each 2x2 block of output pixels comes from 16 products per channel pair instead of 36, which makes ResNet's
// 3x3 layers (open_nsfw's, 43% of its arithmetic) about twice as cheap as the direct kernel in Convolution.c.
//
// Three passes over buffers the op owns (a session runs one inference at a time):
//   1. input transform: each 4x4 input window (stride 2, zeros outside the image) becomes V = B^T d B, stored
//      as 16 matrices V[xi][tile][input channel];
//   2. 16 GEMMs M[xi] = V[xi] x U[xi] on the shared 6x16 tile (Gemm.h), U = G g G^T packed per position xi
//      into panels of 16 output channels;
//   3. output transform: Y = A^T M A, the 2x2 pixels of each tile, plus bias, clamped.
// The transforms' constants are 0, +-1 and 1/2 (in G only), so rounding stays close to the direct sum's.
// Channel counts must be multiples of 8 (whole AVX2 vectors in the transforms).
#include "CKernels.h"

#include <pthreadpool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "Window.h"
#include "Gemm.h"

enum { CK_WINO_ROWS_PER_TASK = 72 };

struct ck_winograd {
    size_t cin, cout, panels, batch;
    size_t in_h, in_w, out_h, out_w, pad_top, pad_left;
    size_t tiles_h, tiles_w, tiles;  // tiles per image: ceil(out / 2) in each direction
    ck_epilogue epilogue;
    float *bias;    // cout floats
    float *packed;  // 16 positions x panels x cin rows of 16 floats
    float *v;       // 16 x (batch * tiles) x cin
    float *m;       // 16 x (batch * tiles) x cout
};

ck_winograd *ck_winograd_create(size_t input_channels, size_t output_channels, size_t batch, size_t pad_top,
                                size_t pad_left, size_t input_h, size_t input_w, size_t output_h, size_t output_w,
                                const float *weights, const float *bias, float output_min, float output_max) {
    if (input_channels == 0 || output_channels == 0 || input_channels % 8 != 0 || output_channels % 8 != 0 ||
        batch == 0 || input_h == 0 || input_w == 0 || output_h == 0 || output_w == 0 || pad_top > 2 || pad_left > 2) {
        return NULL;
    }
    ck_winograd *op = calloc(1, sizeof *op);
    if (op == NULL) return NULL;
    const size_t tiles_h = (output_h + 1) / 2, tiles_w = (output_w + 1) / 2, panels = (output_channels + CK_NR - 1) / CK_NR;
    *op = (ck_winograd){input_channels, output_channels, panels, batch, input_h, input_w, output_h, output_w,
                        pad_top, pad_left, tiles_h, tiles_w, tiles_h * tiles_w, ck_epilogue_clamp(output_min, output_max),
                        NULL, NULL, NULL, NULL};
    const size_t rows = batch * op->tiles;
    op->bias = ck_alloc_packed(output_channels);
    op->packed = ck_alloc_packed(16 * panels * input_channels * CK_NR);
    op->v = ck_alloc_packed(16 * rows * input_channels);
    op->m = ck_alloc_packed(16 * rows * output_channels);
    if (op->bias == NULL || op->packed == NULL || op->v == NULL || op->m == NULL) {
        ck_winograd_destroy(op);
        return NULL;
    }
    for (size_t o = 0; o < output_channels; o++) op->bias[o] = bias != NULL ? bias[o] : 0.0f;
    static const float g_matrix[4][3] = {{1, 0, 0}, {0.5f, 0.5f, 0.5f}, {0.5f, -0.5f, 0.5f}, {0, 0, 1}};
    for (size_t o = 0; o < output_channels; o++) {
        for (size_t c = 0; c < input_channels; c++) {
            const float *g = weights + (o * input_channels + c) * 9;
            float gg[4][3];  // G g
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 3; j++)
                    gg[i][j] = g_matrix[i][0] * g[j] + g_matrix[i][1] * g[3 + j] + g_matrix[i][2] * g[6 + j];
            for (int i = 0; i < 4; i++) {
                for (int j = 0; j < 4; j++) {
                    const float u = gg[i][0] * g_matrix[j][0] + gg[i][1] * g_matrix[j][1] + gg[i][2] * g_matrix[j][2];
                    const size_t xi = (size_t)(i * 4 + j);
                    op->packed[((xi * panels + o / CK_NR) * input_channels + c) * CK_NR + o % CK_NR] = u;
                }
            }
        }
    }
    return op;
}

void ck_winograd_set_hardswish(ck_winograd *op, float scale, float shift) {
    op->epilogue.hardswish = 1;
    op->epilogue.scale = scale;
    op->epilogue.shift = shift;
}

void ck_winograd_destroy(ck_winograd *op) {
    if (op == NULL) return;
    free(op->bias);
    free(op->packed);
    free(op->v);
    free(op->m);
    free(op);
}

#if CK_HAVE_X86
typedef struct {
    const ck_winograd *op;
    const float *input;
    float *output;
} ck_winograd_job;

// Input transform of tiles [first, first + count) (row index over the batch).
static CK_TARGET void ck_wino_input(void *context, size_t first, size_t count) {
    const ck_winograd_job *job = context;
    const ck_winograd *op = job->op;
    const size_t cin = op->cin, rows = op->batch * op->tiles;
    const __m256 zero = _mm256_setzero_ps();
    for (size_t t = first; t < first + count; t++) {
        const size_t image = t / op->tiles, ty = t % op->tiles / op->tiles_w, tx = t % op->tiles_w;
        const ptrdiff_t iy0 = (ptrdiff_t)(2 * ty) - (ptrdiff_t)op->pad_top, ix0 = (ptrdiff_t)(2 * tx) - (ptrdiff_t)op->pad_left;
        const float *src[4][4];  // NULL outside the image
        for (int i = 0; i < 4; i++) {
            for (int j = 0; j < 4; j++) {
                const ptrdiff_t y = iy0 + i, x = ix0 + j;
                src[i][j] = y >= 0 && y < (ptrdiff_t)op->in_h && x >= 0 && x < (ptrdiff_t)op->in_w
                                ? job->input + ((image * op->in_h + (size_t)y) * op->in_w + (size_t)x) * cin
                                : NULL;
            }
        }
        float *dst = op->v + t * cin;
        for (size_t c = 0; c < cin; c += 8) {
            __m256 d[4][4], r[4][4];
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 4; j++) d[i][j] = src[i][j] != NULL ? _mm256_loadu_ps(src[i][j] + c) : zero;
            for (int j = 0; j < 4; j++) {  // B^T d
                r[0][j] = _mm256_sub_ps(d[0][j], d[2][j]);
                r[1][j] = _mm256_add_ps(d[1][j], d[2][j]);
                r[2][j] = _mm256_sub_ps(d[2][j], d[1][j]);
                r[3][j] = _mm256_sub_ps(d[1][j], d[3][j]);
            }
            for (int i = 0; i < 4; i++) {  // (B^T d) B
                const __m256 v0 = _mm256_sub_ps(r[i][0], r[i][2]), v1 = _mm256_add_ps(r[i][1], r[i][2]);
                const __m256 v2 = _mm256_sub_ps(r[i][2], r[i][1]), v3 = _mm256_sub_ps(r[i][1], r[i][3]);
                float *row = dst + (size_t)(i * 4) * rows * cin + c;
                _mm256_storeu_ps(row, v0);
                _mm256_storeu_ps(row + rows * cin, v1);
                _mm256_storeu_ps(row + 2 * rows * cin, v2);
                _mm256_storeu_ps(row + 3 * rows * cin, v3);
            }
        }
    }
}

// GEMM of position xi over tile rows [first_row, +row_count) and panels [first_panel, +panel_count).
static CK_TARGET void ck_wino_gemm(void *context, size_t xi, size_t first_row, size_t first_panel, size_t row_count,
                                   size_t panel_count) {
    const ck_winograd_job *job = context;
    const ck_winograd *op = job->op;
    static const float zeros[CK_NR] = {0};
    const size_t cin = op->cin, cout = op->cout, rows = op->batch * op->tiles;
    const float *a = op->v + (xi * rows + first_row) * cin;
    float *c = op->m + (xi * rows + first_row) * cout;
    for (size_t panel = first_panel; panel < first_panel + panel_count; panel++) {
        const size_t column = panel * CK_NR, columns = cout - column < CK_NR ? cout - column : CK_NR;
        const float *w = op->packed + (xi * op->panels + panel) * cin * CK_NR;
        ck_gemm_panel(row_count, cin, a, cin, zeros, w, CK_NR, NULL, c + column, cout, columns, NULL);
    }
}

// Output transform of tiles [first, first + count): bias, clamp, and the tile's pixels inside the output.
static CK_TARGET void ck_wino_output(void *context, size_t first, size_t count) {
    const ck_winograd_job *job = context;
    const ck_winograd *op = job->op;
    const size_t cout = op->cout, rows = op->batch * op->tiles;
    for (size_t t = first; t < first + count; t++) {
        const size_t image = t / op->tiles, oy = 2 * (t % op->tiles / op->tiles_w), ox = 2 * (t % op->tiles_w);
        const int both_rows = oy + 1 < op->out_h, both_columns = ox + 1 < op->out_w;
        float *out = job->output + ((image * op->out_h + oy) * op->out_w + ox) * cout;
        const float *src = op->m + t * cout;
        for (size_t o = 0; o < cout; o += 8) {
            __m256 s[2][4];
            for (int j = 0; j < 4; j++) {  // A^T M
                const __m256 m0 = _mm256_loadu_ps(src + (size_t)j * rows * cout + o);
                const __m256 m1 = _mm256_loadu_ps(src + (size_t)(4 + j) * rows * cout + o);
                const __m256 m2 = _mm256_loadu_ps(src + (size_t)(8 + j) * rows * cout + o);
                const __m256 m3 = _mm256_loadu_ps(src + (size_t)(12 + j) * rows * cout + o);
                s[0][j] = _mm256_add_ps(_mm256_add_ps(m0, m1), m2);
                s[1][j] = _mm256_sub_ps(_mm256_sub_ps(m1, m2), m3);
            }
            const __m256 b = _mm256_loadu_ps(op->bias + o);
            for (int i = 0; i < 2; i++) {  // (A^T M) A
                if (i == 1 && !both_rows) break;
                const __m256 y0 = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(s[i][0], s[i][1]), s[i][2]), b);
                const __m256 y1 = _mm256_add_ps(_mm256_sub_ps(_mm256_sub_ps(s[i][1], s[i][2]), s[i][3]), b);
                float *pixel = out + (size_t)i * op->out_w * cout + o;
                _mm256_storeu_ps(pixel, ck_epilogue_apply(y0, &op->epilogue));
                if (both_columns) _mm256_storeu_ps(pixel + cout, ck_epilogue_apply(y1, &op->epilogue));
            }
        }
    }
}
#endif

void ck_winograd_run(const ck_winograd *op, const float *input, float *output, void *threadpool, int yield_workers) {
#if CK_HAVE_X86
    pthreadpool_t pool = threadpool;
    const size_t threads = pool != NULL ? pthreadpool_get_threads_count(pool) : 1;
    const size_t rows = op->batch * op->tiles;
    const uint32_t flags = PTHREADPOOL_FLAG_DISABLE_DENORMALS;
    ck_winograd_job job = {op, input, output};
    const size_t per_task = threads > 1 ? (rows + 4 * threads - 1) / (4 * threads) : rows;
    pthreadpool_parallelize_1d_tile_1d(pool, ck_wino_input, &job, rows, per_task, flags);
    const size_t gemm_rows = rows < CK_WINO_ROWS_PER_TASK ? rows : CK_WINO_ROWS_PER_TASK;
    pthreadpool_parallelize_3d_tile_2d(pool, ck_wino_gemm, &job, 16, rows, op->panels, gemm_rows, op->panels, flags);
    pthreadpool_parallelize_1d_tile_1d(pool, ck_wino_output, &job, rows, per_task,
                                       flags | (yield_workers ? PTHREADPOOL_FLAG_YIELD_WORKERS : 0));
#else
    (void)op; (void)input; (void)output; (void)threadpool; (void)yield_workers;
#endif
}
