/// Which code runs the network's arithmetic on this CPU, for `cxreview benchmark` and the logs:
/// both are chosen at run time from the CPU's features (and `CXR_KERNEL`), never from its model name.
package enum KernelPaths {
    /// Inference: packed-weight GEMM family, and the Winograd transforms for 3x3 stride-1 convolutions.
    package static var inference: String {
        "CKernels GEMM \(GEMMVariant.best), Winograd F(4x4,3x3) transforms \(Winograd.Transforms.best == .avx512 ? "AVX-512F" : "Swift SIMD")"
    }

    /// Training: every convolution and the classifier head, forward and backward.
    package static var training: String {
        "CKernels GEMM \(GEMMVariant.best); 3x3 stride-1 forward and input gradient on Winograd "
            + "(transforms \(Winograd.Transforms.best == .avx512 ? "AVX-512F" : "Swift SIMD")), weight gradients on im2row"
    }

    /// OpenBLAS's role: double-precision linear algebra outside the network, and a reference in tests.
    package static var openBLAS: String {
        "OpenBLAS core \(GEMM.openBLASCore)"
    }
}
