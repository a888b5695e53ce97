import Foundation
import ONNXProto
import Testing

@testable import Inference

/// One ONNX backend node test from Debian's libonnx-testdata: model.onnx plus test_data_set_0 tensors.
struct NodeTestCase {
    static let root = URL(fileURLWithPath: "/usr/share/libonnx-testdata/data/node")

    let name: String
    var directory: URL { Self.root.appendingPathComponent(name) }

    /// Loads the model, binding every input after the first as a constant (weights, bias, bounds) — how real
    /// classifiers ship them — and returns the first input's data and the expected first output.
    func load() throws -> (model: ONNXModel, input: ConstantTensor, expected: ConstantTensor) {
        let model = try ONNXModel(contentsOf: directory.appendingPathComponent("model.onnx"))
        let dataSet = directory.appendingPathComponent("test_data_set_0")
        let graphInputs = model.inputNames
        var tensors: [Onnx_TensorProto] = []
        for index in graphInputs.indices {
            let data = try Data(contentsOf: dataSet.appendingPathComponent("input_\(index).pb"))
            tensors.append(try Onnx_TensorProto(serializedBytes: data))
        }
        var bound: [String: Onnx_TensorProto] = [:]
        for index in graphInputs.indices.dropFirst() { bound[graphInputs[index]] = tensors[index] }
        let output = try Onnx_TensorProto(serializedBytes: Data(contentsOf: dataSet.appendingPathComponent("output_0.pb")))
        return (model.bindingInputs(bound), try ConstantTensor(tensors[0]), try ConstantTensor(output))
    }

    /// Runs the case through an XNNPACK session and returns the largest error relative to max(1, |expected|).
    func run(threads: Int = 1) throws -> (maxError: Float, outputCount: Int, expectedCount: Int) {
        let (model, input, expected) = try load()
        let session = try InferenceSession(model: model, batchSize: input.shape.first ?? 1, threads: threads)
        #expect(session.inputShape == input.shape)
        let output = try session.run(nchw: input.values)
        var worst: Float = 0
        for (got, want) in zip(output, expected.values) {
            worst = max(worst, abs(got - want) / max(1, abs(want)))
        }
        return (worst, output.count, expected.count)
    }
}

/// The node tests for every supported operator. Inputs that are weights in real models (Conv W, Gemm B/C,
/// BatchNormalization parameters, Clip bounds, Reshape shape, the second Add/Mul/Concat operand) are bound
/// as initializers.
let supportedNodeTests = [
    "test_conv_with_strides_padding", "test_conv_with_strides_no_padding", "test_conv_with_strides_and_asymmetric_padding",
    "test_conv_with_autopad_same",
    "test_relu", "test_clip", "test_clip_example", "test_clip_inbounds", "test_clip_outbounds", "test_clip_splitbounds",
    "test_clip_default_min", "test_clip_default_max", "test_clip_default_inbounds",
    "test_hardswish", "test_sigmoid", "test_sigmoid_example",
    "test_add", "test_add_bcast", "test_mul", "test_mul_bcast", "test_mul_example",
    "test_globalaveragepool", "test_globalaveragepool_precomputed",
    "test_averagepool_2d_default", "test_averagepool_2d_pads", "test_averagepool_2d_pads_count_include_pad",
    "test_averagepool_2d_precomputed_pads", "test_averagepool_2d_precomputed_pads_count_include_pad",
    "test_averagepool_2d_precomputed_same_upper", "test_averagepool_2d_precomputed_strides", "test_averagepool_2d_same_lower",
    "test_averagepool_2d_same_upper", "test_averagepool_2d_strides", "test_averagepool_2d_ceil",
    "test_maxpool_2d_default", "test_maxpool_2d_pads", "test_maxpool_2d_precomputed_pads", "test_maxpool_2d_precomputed_same_upper",
    "test_maxpool_2d_precomputed_strides", "test_maxpool_2d_same_lower", "test_maxpool_2d_same_upper", "test_maxpool_2d_strides",
    "test_maxpool_2d_ceil", "test_maxpool_2d_dilations",
    "test_batchnorm_example", "test_batchnorm_epsilon",
    "test_gemm_default_no_bias", "test_gemm_default_vector_bias", "test_gemm_default_zero_bias", "test_gemm_default_matrix_bias",
    "test_gemm_default_scalar_bias", "test_gemm_default_single_elem_vector_bias", "test_gemm_alpha", "test_gemm_beta",
    "test_gemm_transposeB", "test_gemm_transposeA", "test_gemm_all_attributes",
    "test_matmul_2d",
    "test_flatten_axis0", "test_flatten_axis1", "test_flatten_axis2", "test_flatten_axis3", "test_flatten_default_axis",
    "test_flatten_negative_axis1", "test_flatten_negative_axis2", "test_flatten_negative_axis3", "test_flatten_negative_axis4",
    "test_reshape_extended_dims", "test_reshape_negative_dim", "test_reshape_negative_extended_dims", "test_reshape_one_dim",
    "test_reshape_reduced_dims", "test_reshape_reordered_all_dims", "test_reshape_reordered_last_dims",
    "test_reshape_zero_and_negative_dim", "test_reshape_zero_dim",
    "test_concat_1d_axis_0", "test_concat_1d_axis_negative_1", "test_concat_2d_axis_0", "test_concat_2d_axis_1",
    "test_concat_2d_axis_negative_1", "test_concat_2d_axis_negative_2", "test_concat_3d_axis_0", "test_concat_3d_axis_1",
    "test_concat_3d_axis_2", "test_concat_3d_axis_negative_1", "test_concat_3d_axis_negative_2", "test_concat_3d_axis_negative_3",
    "test_softmax_axis_0", "test_softmax_axis_1", "test_softmax_axis_2", "test_softmax_default_axis", "test_softmax_example",
    "test_softmax_large_number", "test_softmax_negative_axis",
    "test_transpose_default", "test_transpose_all_permutations_0", "test_transpose_all_permutations_1",
    "test_transpose_all_permutations_2", "test_transpose_all_permutations_3", "test_transpose_all_permutations_4",
    "test_transpose_all_permutations_5",
    "test_constant_pad", "test_edge_pad", "test_reflect_pad",
    "test_slice", "test_slice_default_axes", "test_slice_default_steps", "test_slice_end_out_of_bounds", "test_slice_neg",
    "test_slice_neg_steps", "test_slice_negative_axes",
    "test_split_equal_parts_1d", "test_split_equal_parts_2d", "test_split_equal_parts_default_axis", "test_split_variable_parts_1d",
    "test_split_variable_parts_2d", "test_split_variable_parts_default_axis",
    "test_resize_upsample_scales_linear", "test_resize_upsample_scales_linear_align_corners", "test_resize_downsample_scales_linear",
    "test_resize_downsample_scales_linear_align_corners", "test_resize_downsample_sizes_linear_pytorch_half_pixel",
    "test_resize_upsample_scales_nearest", "test_resize_downsample_scales_nearest", "test_resize_upsample_sizes_nearest",
    "test_resize_downsample_sizes_nearest", "test_resize_downsample_sizes_nearest_tf_half_pixel_for_nn",
    "test_resize_upsample_sizes_nearest_ceil_half_pixel", "test_resize_upsample_sizes_nearest_floor_align_corners",
    "test_resize_upsample_sizes_nearest_round_prefer_ceil_asymmetric",
    "test_exp", "test_exp_example", "test_prelu_example", "test_prelu_broadcast",
    "test_squeeze", "test_squeeze_negative_axes", "test_unsqueeze_axis_0", "test_unsqueeze_axis_1", "test_unsqueeze_axis_2",
    "test_unsqueeze_axis_3", "test_unsqueeze_negative_axes", "test_unsqueeze_three_axes", "test_unsqueeze_two_axes",
    "test_unsqueeze_unsorted_axes",
    "test_sub", "test_sub_bcast", "test_sub_example", "test_div", "test_div_bcast", "test_div_example",
    "test_hardsigmoid", "test_hardsigmoid_default", "test_hardsigmoid_example", "test_sqrt", "test_sqrt_example",
    "test_pow_bcast_scalar", "test_matmul_3d", "test_matmul_4d",
    "test_convtranspose", "test_convtranspose_autopad_same", "test_convtranspose_dilations", "test_convtranspose_kernel_shape",
    "test_convtranspose_output_shape", "test_convtranspose_pad", "test_convtranspose_pads", "test_convtranspose_with_kernel",
    "test_reduce_mean_default_axes_keepdims_example", "test_reduce_mean_default_axes_keepdims_random",
    "test_reduce_mean_do_not_keepdims_example", "test_reduce_mean_do_not_keepdims_random", "test_reduce_mean_keepdims_example",
    "test_reduce_mean_keepdims_random", "test_reduce_mean_negative_axes_keepdims_example",
    "test_reduce_mean_negative_axes_keepdims_random",
    "test_shape", "test_shape_example", "test_shape_start_1", "test_shape_end_1", "test_shape_start_1_end_negative_1",
    "test_shape_clip_start", "test_shape_clip_end",
    "test_quantizelinear", "test_dequantizelinear",
]

@Suite("ONNX node test vectors")
struct NodeVectorTests {
    /// 1e-4 relative to max(1, |expected|): XNNPACK's sigmoid/exp are polynomial approximations accurate to a few
    /// float ulps, and accumulation order differs from the reference implementation.
    @Test(arguments: supportedNodeTests)
    func matchesReference(_ name: String) throws {
        let result = try NodeTestCase(name: name).run()
        #expect(result.outputCount == result.expectedCount)
        #expect(result.maxError <= 1e-4, "\(name): max error \(result.maxError)")
    }

    @Test(arguments: ["test_conv_with_strides_padding", "test_softmax_axis_1", "test_batchnorm_example"])
    func matchesReferenceWithTwoThreads(_ name: String) throws {
        let result = try NodeTestCase(name: name).run(threads: 2)
        #expect(result.maxError <= 1e-4, "\(name): max error \(result.maxError)")
    }
}
