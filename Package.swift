// swift-tools-version:6.0
// CXReview: chest X-ray classification for research review. Not for diagnostic use.
import PackageDescription

/// The numerical targets are optimised in debug builds too: the tests and the watcher's
/// real-process tests run the debug binary, whose unoptimised forward pass takes about 1 s per image.
/// `-enable-testing` (for `@testable import`) still applies.
let optimisedInDebug: [SwiftSetting] = [.unsafeFlags(["-O"], .when(configuration: .debug))]

let package = Package(
    name: "CXReview",
    products: [
        .executable(name: "cxreview", targets: ["cxreview"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
    ],
    targets: [
        // C libraries: one target each, imported by exactly one Swift target.
        .systemLibrary(
            name: "COpenBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),
        // libpng and libjpeg report errors by longjmp, so each has a small C entry point that
        // catches them (setjmp) and returns a status and message (apt: libpng-dev, libjpeg62-turbo-dev).
        .target(name: "CLibPNG", linkerSettings: [.linkedLibrary("png16")]),
        .target(name: "CJPEG", linkerSettings: [.linkedLibrary("jpeg")]),
        .target(
            name: "CDCMTK",
            // OpenJPEG (apt: libopenjp2-7-dev) decodes JPEG 2000 pixel data, which Debian's DCMTK cannot.
            cxxSettings: [.unsafeFlags(["-Wno-deprecated-declarations", "-I/usr/include/openjpeg-2.5"])],
            linkerSettings: [
                .linkedLibrary("openjp2"),
                .linkedLibrary("dcmimage"), .linkedLibrary("dcmimgle"),
                .linkedLibrary("dcmjpeg"), .linkedLibrary("ijg8"), .linkedLibrary("ijg12"),
                .linkedLibrary("ijg16"), .linkedLibrary("dcmjpls"), .linkedLibrary("dcmtkcharls"),
                .linkedLibrary("dcmdata"), .linkedLibrary("oflog"), .linkedLibrary("ofstd"),
                .linkedLibrary("stdc++"),
            ]),
        // CXReview's results as DICOM objects (Encapsulated PDF, Secondary Capture, TID 1500 SR): DCMTK's dcmdata,
        // dcmsr and its cmr templates (apt: libdcmtk-dev), imported only by DICOMResults.
        .target(
            name: "CDCMTKResults",
            cxxSettings: [.unsafeFlags(["-Wno-deprecated-declarations"])],
            linkerSettings: [
                .linkedLibrary("cmr"), .linkedLibrary("dcmsr"), .linkedLibrary("dcmdata"), .linkedLibrary("oflog"),
                .linkedLibrary("ofstd"), .linkedLibrary("stdc++"),
            ]),
        // DICOM networking (C-STORE SCP with C-ECHO, C-STORE SCU): DCMTK's dcmnet (apt: libdcmtk-dev), imported only
        // by DICOMNetwork. No codecs: received and sent data sets keep their transfer syntax.
        .target(
            name: "CDCMTKNet",
            cxxSettings: [.unsafeFlags(["-Wno-deprecated-declarations"])],
            linkerSettings: [
                .linkedLibrary("dcmnet"), .linkedLibrary("dcmdata"), .linkedLibrary("oflog"), .linkedLibrary("ofstd"),
                .linkedLibrary("stdc++"),
            ]),
        // Our own sgemm micro-kernels (AVX-512F, AVX2+FMA, portable C; chosen at run time through
        // per-function target attributes, so no -march flag is needed).
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O2"], .when(configuration: .debug))]),
        .systemLibrary(
            name: "CCairo", pkgConfig: "pangocairo",
            providers: [.apt(["libcairo2-dev", "libpango1.0-dev"])]),

        // Swift targets, one concern each.
        .target(name: "XRayCore"),
        .target(name: "DICOMDecoding", dependencies: ["XRayCore", "CDCMTK"]),
        .target(name: "ImageDecoding", dependencies: ["XRayCore", "CLibPNG", "CJPEG"]),
        .target(name: "Preprocessing", dependencies: ["XRayCore"], swiftSettings: optimisedInDebug),
        .target(name: "Kernels", dependencies: ["XRayCore", "COpenBLAS", "CKernels"], swiftSettings: optimisedInDebug),
        .target(name: "ResNet", dependencies: ["XRayCore", "Kernels"], swiftSettings: optimisedInDebug),
        .target(
            name: "Training",
            dependencies: ["XRayCore", "Kernels", "ResNet", "Audit"]),
        .target(
            name: "Reporting",
            dependencies: ["XRayCore", "CAM", "ImageDecoding", "CCairo", .product(name: "Yams", package: "Yams")]),
        .target(name: "CAM", dependencies: ["XRayCore"], swiftSettings: optimisedInDebug),
        .target(name: "DICOMResults", dependencies: ["XRayCore", "CAM", "Reporting", "Pipeline", "CDCMTKResults"]),
        .target(name: "DICOMNetwork", dependencies: ["CDCMTKNet"]),
        .target(
            name: "Pipeline",
            dependencies: ["XRayCore", "DICOMDecoding", "ImageDecoding", "Preprocessing", "ResNet", "CAM", "Reporting", "Audit"]),
        // The ML person's stages around the pipeline: training runs, evaluation, out-of-distribution fitting.
        .target(
            name: "ModelDevelopment",
            dependencies: ["Pipeline", "Training", "XRayCore", "Preprocessing", "ResNet", "Audit"]),
        .target(name: "Audit", dependencies: [.product(name: "Crypto", package: "swift-crypto")]),
        .target(
            name: "Watcher",
            dependencies: ["Pipeline", "Audit", "Reporting", "XRayCore", "ResNet", "DICOMResults", "DICOMNetwork",
                           .product(name: "Logging", package: "swift-log"),
                           .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")]),
        // Diagnostics, out of the product: imported only by the `benchmark` command.
        .target(name: "Benchmarks", dependencies: ["XRayCore", "Kernels", "ResNet", "Training"]),
        .executableTarget(
            name: "cxreview",
            dependencies: [
                "Benchmarks", "Pipeline", "ModelDevelopment", "XRayCore", "DICOMDecoding", "Kernels", "ResNet", "Training", "Reporting", "Preprocessing", "Watcher", "Audit", "DICOMResults",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        .testTarget(name: "XRayCoreTests", dependencies: ["XRayCore"]),
        .testTarget(name: "DICOMDecodingTests", dependencies: ["DICOMDecoding", "XRayCore", "TestSupport", "Benchmarks"]),
        .testTarget(name: "DICOMResultsTests", dependencies: ["DICOMResults", "CAM", "Reporting", "XRayCore", "TestSupport"]),
        .testTarget(name: "ImageDecodingTests", dependencies: ["ImageDecoding", "XRayCore", "TestSupport"]),
        .testTarget(name: "PreprocessingTests", dependencies: ["Preprocessing", "ImageDecoding", "XRayCore", "TestSupport"]),
        // Shared by the numerical test targets: the hash generator of the fixture scripts, allClose.
        .target(name: "TestSupport", dependencies: ["XRayCore"], path: "Tests/TestSupport"),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "XRayCore", "TestSupport"]),
        .testTarget(name: "BenchmarksTests", dependencies: ["Benchmarks", "Kernels", "ImageDecoding", "XRayCore"]),
        .testTarget(name: "ResNetTests", dependencies: ["ResNet", "Kernels", "XRayCore", "TestSupport"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Kernels", "ResNet", "ImageDecoding", "Preprocessing", "XRayCore", "TestSupport"]),
        .testTarget(
            name: "CAMTests",
            dependencies: ["CAM", "XRayCore", "ResNet", "ImageDecoding", "Preprocessing", "TestSupport"]),
        .testTarget(name: "ReportingTests", dependencies: ["Reporting", "XRayCore", "CAM", "ImageDecoding"]),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "ResNet", "CAM", "Reporting", "XRayCore", "TestSupport"]),
        .testTarget(name: "ModelDevelopmentTests", dependencies: ["ModelDevelopment", "Pipeline", "Training", "ResNet", "XRayCore", "TestSupport"]),
        .testTarget(name: "CLITests", dependencies: ["Pipeline", "XRayCore", "TestSupport"]),
        .testTarget(name: "AuditTests", dependencies: ["Audit"]),
        .testTarget(name: "DICOMNetworkTests", dependencies: ["DICOMNetwork", "TestSupport"]),
        .testTarget(
            name: "WatcherTests",
            dependencies: ["Watcher", "Pipeline", "Reporting", "ResNet", "Audit", "DICOMDecoding", "XRayCore", "TestSupport", "Benchmarks",
                           .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                           .product(name: "Logging", package: "swift-log")]),
    ],
    cxxLanguageStandard: .cxx17
)
