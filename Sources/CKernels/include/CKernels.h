// Hand-written AVX2/FMA f32 convolutions for what the Debian XNNPACK build runs slowly: 1x1 (a GEMM),
// depthwise, dense (e.g. a network's first layer), and 3x3 dense layers by Winograd's transform.
#pragma once
#include <stddef.h>
#include <stdint.h>

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

/// How an INT8 kernel's uint8 input and output map to real values (x = (q - zero_point) * scale), and the
/// clamp of the output in quantized units (0..255, narrower when a Relu or Clip is fused).
typedef struct {
    float input_scale;
    int input_zero_point;
    float output_scale;
    int output_zero_point;
    int output_min, output_max;
} ck_quantization;

/// The int8 dot products this CPU offers the INT8 kernels: 2 AVX-512 VNNI (vpdpbusd on 512-bit registers),
/// 1 AVX2 (bytes widened to 16 bits, then vpmaddwd: no saturation), 0 none (the kernels must not be used).
int ck_int8_level(void);

/// Weights of an INT8 pointwise (1x1) convolution packed for ck_qpointwise_run; opaque.
typedef struct ck_qpointwise ck_qpointwise;

/// Packs symmetric int8 `weights` ([output_channels][input_channels]), their per-channel `weight_scales` and the
/// real-valued `bias` ([output_channels], may be NULL) for `level` (at most ck_int8_level()). NULL when out of
/// memory or the level is not available. Free with ck_qpointwise_destroy.
ck_qpointwise *ck_qpointwise_create(size_t input_channels, size_t output_channels, const int8_t *weights,
                                    const float *weight_scales, const float *bias, const ck_quantization *quantization,
                                    int level);

/// Frees packed weights (NULL is fine).
void ck_qpointwise_destroy(ck_qpointwise *op);

/// output[pixels][output_channels] (uint8) from input[pixels][input_channels] (uint8), NHWC rows, across
/// `threadpool` (NULL runs on the calling thread); `yield_workers` as for ck_pointwise_run. The input may be
/// read up to 3 bytes past its end.
void ck_qpointwise_run(const ck_qpointwise *op, size_t pixels, const uint8_t *input, uint8_t *output, void *threadpool,
                       int yield_workers);

/// An INT8 convolution without groups (any kernel size and stride, dilation 1) packed for ck_qconv_run: the
/// pointwise GEMM on rows gathered from each output pixel's window; opaque.
typedef struct ck_qpointwise ck_qconv;

/// Packs symmetric int8 `weights` (ONNX's [output_channels][channels][kernel_h][kernel_w]) with per-channel
/// `weight_scales` and a real-valued `bias` for uint8 NHWC input of input_h x input_w and output of
/// output_h x output_w (padding is the input's zero point, real 0; pad_top < kernel_h, pad_left < kernel_w).
/// NULL when out of memory or the sizes or `level` are not supported. Free with ck_qconv_destroy.
ck_qconv *ck_qconv_create(size_t channels, size_t output_channels, size_t kernel_h, size_t kernel_w, size_t stride_h,
                          size_t stride_w, size_t pad_top, size_t pad_left, size_t input_h, size_t input_w, size_t output_h,
                          size_t output_w, const int8_t *weights, const float *weight_scales, const float *bias,
                          const ck_quantization *quantization, int level);

/// Frees packed weights (NULL is fine).
void ck_qconv_destroy(ck_qconv *op);

/// output[batch][output_h][output_w][output_channels] from input[batch][input_h][input_w][channels], both uint8.
void ck_qconv_run(const ck_qconv *op, size_t batch, const uint8_t *input, uint8_t *output, void *threadpool, int yield_workers);

/// Weights of an INT8 depthwise convolution packed for ck_qdepthwise_run; opaque.
typedef struct ck_qdepthwise ck_qdepthwise;

/// As ck_depthwise_create, for uint8 NHWC input and output, symmetric int8 `weights` ([channels][kernel_h][kernel_w])
/// with per-channel `weight_scales` and a real-valued `bias`. Padding is the input's zero point (real 0).
/// `level` (1 to ck_int8_level()) picks the kernels; both give the same bytes.
ck_qdepthwise *ck_qdepthwise_create(size_t channels, size_t kernel_h, size_t kernel_w, size_t stride_h, size_t stride_w,
                                    size_t pad_top, size_t pad_left, size_t input_h, size_t input_w, size_t output_h,
                                    size_t output_w, const int8_t *weights, const float *weight_scales,
                                    const float *bias, const ck_quantization *quantization, int level);

/// Frees packed weights (NULL is fine).
void ck_qdepthwise_destroy(ck_qdepthwise *op);

/// output[batch][output_h][output_w][channels] from input[batch][input_h][input_w][channels], both uint8.
void ck_qdepthwise_run(const ck_qdepthwise *op, size_t batch, const uint8_t *input, uint8_t *output, void *threadpool,
                       int yield_workers);

/// The element-wise INT8 steps below need ck_int8_level() >= 1 (they are compiled for AVX2).
/// ONNX QuantizeLinear to uint8: out = clamp(round_half_even(x / scale) + zero_point, q_min, q_max).
void ck_quantize_u8(const float *x, size_t count, float scale, int zero_point, int q_min, int q_max, uint8_t *out);

/// ONNX DequantizeLinear from uint8: out = clamp((q - zero_point) * scale, low, high) (a fused Relu/Clip).
void ck_dequantize_u8(const uint8_t *q, size_t count, float scale, int zero_point, float low, float high, float *out);

/// Dequantize both, add, quantize: ONNX's QDQ Add of two uint8 tensors of `count` elements. `out` = clamp(round_half_even(((a - za) sa + (b - zb) sb) / sy) + zy, q_min, q_max).
void ck_add_u8(const uint8_t *a, float a_scale, int a_zero_point, const uint8_t *b, float b_scale, int b_zero_point,
               size_t count, float y_scale, int y_zero_point, int q_min, int q_max, uint8_t *out);

/// Which element-wise INT8 step a ck_u8_step is.
typedef enum { CK_U8_QUANTIZE, CK_U8_DEQUANTIZE, CK_U8_ADD } ck_u8_kind;

/// One element-wise INT8 step over `count` elements: quantize reads floats (y_scale, y_zero_point, q_min, q_max),
/// dequantize reads bytes (a_scale, a_zero_point, then clamps to [low, high]), add reads two byte tensors (a and b)
/// and quantizes their sum (y_*, q_*), all as the functions above compute them.
typedef struct {
    ck_u8_kind kind;
    size_t count;
    float a_scale;
    int a_zero_point;
    float b_scale;
    int b_zero_point;
    float y_scale;
    int y_zero_point;
    int q_min, q_max;
    float low, high;
} ck_u8_step;

/// Runs `step` from `a` (and `b`, for an add) into `out`, split across `threadpool` (a pthreadpool_t; NULL runs on
/// the calling thread) when the tensor is large enough to gain from it.
void ck_u8_step_run(const ck_u8_step *step, const void *a, const void *b, void *out, void *threadpool, int yield_workers);

#ifdef __cplusplus
}
#endif
