// Hand-written AVX2/FMA f32 convolutions for what the Debian XNNPACK build runs slowly: 1x1 (a GEMM),
// depthwise, and dense (e.g. a network's first layer).
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

/// output[batch][output_h][output_w][output_channels] from input[batch][input_h][input_w][input_channels], split
/// by output rows and channel panels across `threadpool` (NULL runs on the calling thread); `yield_workers` as
/// for ck_pointwise_run.
void ck_convolution_run(const ck_convolution *op, size_t batch, const float *input, float *output, void *threadpool,
                        int yield_workers);

#ifdef __cplusplus
}
#endif
