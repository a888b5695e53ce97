// Hand-written AVX2/FMA f32 convolutions for what the Debian XNNPACK build runs slowly: 1x1 (a GEMM),
// depthwise, dense (e.g. a network's first layer), and 3x3 dense layers by Winograd's transform.
#pragma once
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Weights of a pointwise (1x1) convolution packed for ck_pointwise_run; opaque.
typedef struct ck_pointwise ck_pointwise;

/// 1 when this CPU has AVX2 and FMA (the kernel needs both), else 0.
int ck_pointwise_supported(void);

/// Packs `weights` ([output_channels][input_channels], ONNX OIHW with 1x1 kernels) and `bias`
/// ([output_channels], may be NULL) once; outputs are clamped to [output_min, output_max].
/// Returns NULL when out of memory. Free with ck_pointwise_destroy.
ck_pointwise *ck_pointwise_create(size_t input_channels, size_t output_channels, const float *weights,
                                  const float *bias, float output_min, float output_max);

/// Frees packed weights (NULL is fine).
void ck_pointwise_destroy(ck_pointwise *op);

/// After the clamp, each output becomes HardSwish(y) * scale + shift (call before the first run).
void ck_pointwise_set_hardswish(ck_pointwise *op, float scale, float shift);

/// output[pixels][output_channels] = clamp(input[pixels][input_channels] x weights^T + bias [+ residual]),
/// NHWC rows, split into tiles across `threadpool` (a pthreadpool_t; NULL runs on the calling thread).
/// `residual` ([pixels][output_channels], may be NULL) is added before the clamp: a residual connection's Add
/// fused into the convolution; it may be the same buffer as `output` (each element is read before written).
/// `yield_workers` non-zero puts the pool's threads to sleep afterwards instead of letting them spin for the next job.
/// Must only be called when ck_pointwise_supported() returned 1.
void ck_pointwise_run(const ck_pointwise *op, size_t pixels, const float *input, const float *residual, float *output,
                      void *threadpool, int yield_workers);

/// Weights of a depthwise convolution (one filter per channel, NHWC) packed for ck_depthwise_run; opaque.
typedef struct ck_depthwise ck_depthwise;

/// Packs `weights` ([channels][kernel_h][kernel_w], ONNX grouped OIHW) and `bias` ([channels], may be NULL) for
/// fixed input/output sizes, strides and leading pads (trailing pads follow from the sizes); dilation 1.
/// Outputs are clamped to [output_min, output_max]. Returns NULL on bad sizes or when out of memory.
/// Uses the same CPU features as the pointwise kernel (check ck_pointwise_supported()).
ck_depthwise *ck_depthwise_create(size_t channels, size_t kernel_h, size_t kernel_w, size_t stride_h, size_t stride_w,
                                  size_t pad_top, size_t pad_left, size_t input_h, size_t input_w, size_t output_h,
                                  size_t output_w, const float *weights, const float *bias, float output_min,
                                  float output_max);

/// Frees packed weights (NULL is fine).
void ck_depthwise_destroy(ck_depthwise *op);

/// After the clamp, each output becomes HardSwish(y) * scale + shift (call before the first run).
void ck_depthwise_set_hardswish(ck_depthwise *op, float scale, float shift);

/// output[batch][output_h][output_w][channels] from input[batch][input_h][input_w][channels], split by output rows
/// across `threadpool` (NULL runs on the calling thread); `yield_workers` as for ck_pointwise_run.
void ck_depthwise_run(const ck_depthwise *op, size_t batch, const float *input, float *output, void *threadpool,
                      int yield_workers);

/// Weights of a dense convolution (groups 1, NHWC) packed for ck_convolution_run; opaque.
typedef struct ck_convolution ck_convolution;

/// Packs `weights` ([output_channels][input_channels][kernel_h][kernel_w], ONNX OIHW) and `bias`
/// ([output_channels], may be NULL) for fixed input/output sizes, strides and leading pads (trailing pads follow
/// from the sizes); dilation 1. Outputs are clamped to [output_min, output_max]. Returns NULL on bad sizes or
/// when out of memory. Uses the same CPU features as the pointwise kernel (check ck_pointwise_supported()).
ck_convolution *ck_convolution_create(size_t input_channels, size_t output_channels, size_t kernel_h, size_t kernel_w,
                                      size_t stride_h, size_t stride_w, size_t pad_top, size_t pad_left, size_t input_h,
                                      size_t input_w, size_t output_h, size_t output_w, const float *weights,
                                      const float *bias, float output_min, float output_max);

/// Frees packed weights (NULL is fine).
void ck_convolution_destroy(ck_convolution *op);

/// After the clamp, each output becomes HardSwish(y) * scale + shift (call before the first run).
void ck_convolution_set_hardswish(ck_convolution *op, float scale, float shift);

/// output[batch][output_h][output_w][output_channels] from input[batch][input_h][input_w][input_channels], split
/// by output rows and channel panels across `threadpool` (NULL runs on the calling thread); `yield_workers` as
/// for ck_pointwise_run.
void ck_convolution_run(const ck_convolution *op, size_t batch, const float *input, float *output, void *threadpool,
                        int yield_workers);

/// Weights of a 3x3, stride-1 dense convolution (groups 1, NHWC) transformed for Winograd F(2x2, 3x3), with the
/// buffers of one run; opaque.
typedef struct ck_winograd ck_winograd;

/// Transforms `weights` ([output_channels][input_channels][3][3], ONNX OIHW) and keeps `bias` ([output_channels],
/// may be NULL) for fixed sizes, batch and leading pads (at most 2; trailing pads follow from the sizes).
/// Both channel counts must be multiples of 8. Outputs are clamped to [output_min, output_max]. Returns NULL on
/// bad sizes or when out of memory. Uses the same CPU features as the pointwise kernel.
ck_winograd *ck_winograd_create(size_t input_channels, size_t output_channels, size_t batch, size_t pad_top,
                                size_t pad_left, size_t input_h, size_t input_w, size_t output_h, size_t output_w,
                                const float *weights, const float *bias, float output_min, float output_max);

/// Frees the op (NULL is fine).
void ck_winograd_destroy(ck_winograd *op);

/// After the clamp, each output becomes HardSwish(y) * scale + shift (call before the first run).
void ck_winograd_set_hardswish(ck_winograd *op, float scale, float shift);

/// output[batch][output_h][output_w][output_channels] from input[batch][input_h][input_w][input_channels] across
/// `threadpool` (NULL runs on the calling thread); `yield_workers` as for ck_pointwise_run. Not reentrant: runs
/// of one op use its buffers, so they must not overlap (an InferenceSession serializes its runs).
void ck_winograd_run(const ck_winograd *op, const float *input, float *output, void *threadpool, int yield_workers);

#ifdef __cplusplus
}
#endif
