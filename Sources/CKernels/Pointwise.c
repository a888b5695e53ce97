// A register-tiled f32 GEMM for 1x1 convolutions (NHWC), written because Debian's gcc build of XNNPACK's
// fma3 GEMM microkernel spills an accumulator in its inner loop and runs at about half speed.
//
// Layout: the output is computed in tiles of 6 rows (pixels) x 16 columns (output channels): 12 ymm
// accumulators, 2 for the weight row, 1 for the broadcast input value, so nothing spills (the tile is in
// Gemm.h, shared with the Winograd kernel). Weights are packed
// once into panels of 16 (the last panel 8 when at most 8 columns remain) columns: the panel's bias, then
// for each input channel its 16 weights, contiguous, so the inner loop reads them sequentially.
// Tasks cover a block of rows times a run of panels; each panel is swept, 256 input channels at a time, over
// the whole row block while the rows are still in L2. The AVX2/FMA code is compiled through target attributes, so this file builds for
// any x86-64 and the caller checks ck_pointwise_supported() before use.
#include "CKernels.h"

#include <pthreadpool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "Window.h"
#include "Gemm.h"

enum { CK_ROWS_PER_TASK = 72 };

struct ck_pointwise {
    size_t k;             // input channels
    size_t n;             // output channels
    size_t panels;        // ceil(n / 16)
    size_t last_width;    // 8 or 16: packed width of the last panel
    ck_epilogue epilogue; // clamp, then HardSwish and affine when set
    float *packed;        // panels * (k + 1) * 16 floats (the last panel may use fewer)
};

int ck_pointwise_supported(void) {
#if CK_HAVE_X86
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

ck_pointwise *ck_pointwise_create(size_t input_channels, size_t output_channels, const float *weights,
                                  const float *bias, float output_min, float output_max) {
    if (input_channels == 0 || output_channels == 0) return NULL;
    ck_pointwise *op = calloc(1, sizeof *op);
    if (op == NULL) return NULL;
    const size_t k = input_channels, n = output_channels;
    op->k = k;
    op->n = n;
    op->panels = (n + CK_NR - 1) / CK_NR;
    const size_t remainder = n % CK_NR;
    op->last_width = (remainder != 0 && remainder <= 8) ? 8 : CK_NR;
    op->epilogue = ck_epilogue_clamp(output_min, output_max);
    op->packed = ck_alloc_packed(op->panels * (k + 1) * CK_NR);
    if (op->packed == NULL) {
        free(op);
        return NULL;
    }
    for (size_t panel = 0; panel < op->panels; panel++) {
        const size_t width = panel + 1 == op->panels ? op->last_width : CK_NR;
        float *dst = op->packed + panel * (k + 1) * CK_NR;
        const size_t first = panel * CK_NR;
        for (size_t j = 0; j < width && first + j < n; j++) {
            dst[j] = bias != NULL ? bias[first + j] : 0.0f;
        }
        for (size_t p = 0; p < k; p++) {
            for (size_t j = 0; j < width && first + j < n; j++) {
                dst[(p + 1) * width + j] = weights[(first + j) * k + p];
            }
        }
    }
    return op;
}

void ck_pointwise_set_hardswish(ck_pointwise *op, float scale, float shift) {
    op->epilogue.hardswish = 1;
    op->epilogue.scale = scale;
    op->epilogue.shift = shift;
}

void ck_pointwise_destroy(ck_pointwise *op) {
    if (op == NULL) return;
    free(op->packed);
    free(op);
}

#if CK_HAVE_X86

typedef struct {
    const ck_pointwise *op;
    const float *input;
    const float *residual;
    float *output;
} ck_job;

static CK_TARGET void ck_task(void *context, size_t first_row, size_t first_panel, size_t row_count, size_t panel_count) {
    const ck_job *job = context;
    const ck_pointwise *op = job->op;
    const size_t k = op->k, n = op->n;
    for (size_t panel = first_panel; panel < first_panel + panel_count; panel++) {
        const float *packed = op->packed + panel * (k + 1) * CK_NR;
        const size_t width = panel + 1 == op->panels ? op->last_width : CK_NR;
        const size_t column = panel * CK_NR;
        const size_t columns = n - column < width ? n - column : width;
        ck_gemm_panel(row_count, k, job->input + first_row * k, k, packed, packed + width, width,
                      job->residual != NULL ? job->residual + first_row * n + column : NULL,
                      job->output + first_row * n + column, n, columns, &op->epilogue);
    }
}
#endif

void ck_pointwise_run(const ck_pointwise *op, size_t pixels, const float *input, const float *residual, float *output,
                      void *threadpool, int yield_workers) {
#if CK_HAVE_X86
    if (pixels == 0) return;
    pthreadpool_t pool = threadpool;
    const size_t threads = pool != NULL ? pthreadpool_get_threads_count(pool) : 1;
    const size_t rows_per_task = pixels < CK_ROWS_PER_TASK ? pixels : CK_ROWS_PER_TASK;
    const size_t row_tasks = (pixels + rows_per_task - 1) / rows_per_task;
    size_t panels_per_task = op->panels;
    if (threads > 1) {
        // Small images (7x7) have few row blocks: split the channels too so every thread gets work.
        const size_t wanted = 4 * threads;
        if (row_tasks < wanted) {
            const size_t splits = (wanted + row_tasks - 1) / row_tasks;
            panels_per_task = (op->panels + splits - 1) / splits;
        }
    }
    ck_job job = {op, input, residual, output};
    pthreadpool_parallelize_2d_tile_2d(pool, ck_task, &job, pixels, op->panels, rows_per_task, panels_per_task,
                                       PTHREADPOOL_FLAG_DISABLE_DENORMALS | (yield_workers ? PTHREADPOOL_FLAG_YIELD_WORKERS : 0));
#else
    (void)op; (void)pixels; (void)input; (void)residual; (void)output; (void)threadpool; (void)yield_workers;
#endif
}
