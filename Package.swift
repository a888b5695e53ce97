// swift-tools-version:6.1
// The local image-recognition event pipeline: four workers talking through a file-backed
// topic/queue directory. See docs/ARCHITECTURE.md for how the modules fit together.

import PackageDescription

let package = Package(
    name: "ImagePipeline",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "fetch-image", targets: ["fetch-image"]),
        .executable(name: "recognize", targets: ["recognize"]),
        .executable(name: "notify-xml", targets: ["notify-xml"]),
        .executable(name: "list-images", targets: ["list-images"]),
        .executable(name: "bus-admin", targets: ["bus-admin"]),
        .executable(name: "mail-sink", targets: ["mail-sink"]),
        .executable(name: "pipeline-api", targets: ["pipeline-api"]),
        .executable(name: "pipeline-bench", targets: ["pipeline-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/swhitty/FlyingFox", from: "0.27.1"),
        // The HTTP API and gallery. Without the ConfigurationSupport trait: swift-configuration is not used.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: ["FullFoundation"]),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // The PostgreSQL backend (several machines sharing one bus and store).
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
    ],
    targets: [
        // MARK: C shims (system libraries from Debian's -dev packages)
        .systemLibrary(name: "CVips", pkgConfig: "vips", providers: [.apt(["libvips-dev"])]),
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "CLibXML2", pkgConfig: "libxml-2.0", providers: [.apt(["libxml2-dev"])]),
        .systemLibrary(name: "CXNNPack", providers: [.apt(["libxnnpack-dev", "libpthreadpool-dev"])]),

        // MARK: Libraries, one per concern
        .target(name: "ONNXProto", dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        .target(name: "Inference", dependencies: ["CXNNPack", "CKernels", "ONNXProto", .product(name: "Logging", package: "swift-log")]),
        // AVX2/FMA code is selected per function (target attributes) and guarded by a CPU check at run time;
        // -O3 keeps the kernel fast in debug builds too (at -O0 every accumulator lives on the stack).
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O3"])], linkerSettings: [.linkedLibrary("pthreadpool")]),
        .target(name: "Imaging", dependencies: ["CVips", .product(name: "Logging", package: "swift-log")]),
        .target(name: "Recognition", dependencies: ["Imaging", "Inference", "PipelineModel", .product(name: "Logging", package: "swift-log")]),
        // Exclusive create, fsync, rename/link, directory fsync: the crash-safe writes of the bus, image store and mail sink.
        .target(name: "DurableFiles"),
        .target(name: "Bus", dependencies: ["DurableFiles", .product(name: "Logging", package: "swift-log")]),
        // The bus on PostgreSQL: the same protocol and administration, shared by workers on several machines.
        .target(
            name: "PostgresBus",
            dependencies: [
                "Bus", "PostgresClient", .product(name: "PostgresNIO", package: "postgres-nio"), .product(name: "Logging", package: "swift-log"),
            ]),
        // Blocking pooled connections to PostgreSQL, URLs, errors and schema migrations, for the bus and the stores.
        .target(
            name: "PostgresClient",
            dependencies: [.product(name: "PostgresNIO", package: "postgres-nio"), .product(name: "Logging", package: "swift-log")]),
        // The message model (schemas, attributes, coding, home, topology names): depends on nothing of ours.
        .target(name: "PipelineModel"),
        // What every consuming worker runs on the bus: the loop, handlers, shutdown, local events, backoff.
        .target(name: "WorkerRuntime", dependencies: ["Bus", "PipelineModel", .product(name: "Logging", package: "swift-log")]),
        .target(
            name: "LabelStore",
            dependencies: [
                "PipelineModel", "PostgresClient", .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "GRDB", package: "GRDB.swift"), .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(
            name: "ImageStore",
            dependencies: [
                "CCrypto", "DurableFiles", "PipelineModel", "PostgresClient", .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        // Output for people and programs: the one --format, table columns, CSV, terminal width.
        .target(name: "Presentation"),
        // list-images' output: image listings, one image, label counts in every --format.
        .target(name: "ImageListing", dependencies: ["LabelStore", "Presentation", "PipelineModel"]),
        // HTTP over libcurl (one multi-handle thread, GET with limits and an address guard, POST): the only user of CCurl.
        .target(name: "CurlHTTP", dependencies: ["CCurl"]),
        .target(
            name: "Fetching",
            dependencies: [
                "CurlHTTP", "Imaging", "ImageStore", "PipelineModel", "WorkerRuntime", "Bus", .product(name: "Logging", package: "swift-log"),
            ]),
        // The notification document: JSON-to-XML mapping, XSD (embedded from docs/schema), validation. MailSink uses it alone.
        .target(name: "NotificationXML", dependencies: ["CLibXML2", "PipelineModel"], resources: [.embedInCode("notification.xsd")]),
        // notify-xml's worker: delivery over HTTP with retries, the notify handler.
        .target(
            name: "Notification",
            dependencies: ["NotificationXML", "CurlHTTP", "PipelineModel", "WorkerRuntime", "Bus", .product(name: "Logging", package: "swift-log")]),
        .target(
            name: "RecognitionWorker", dependencies: ["Recognition", "Imaging", "ImageStore", "LabelStore", "PipelineModel", "WorkerRuntime", "Bus"]),
        .target(
            name: "MailSink",
            dependencies: [
                "DurableFiles", "NotificationXML", .product(name: "FlyingFox", package: "FlyingFox"),
                .product(name: "FlyingSocks", package: "FlyingFox"), .product(name: "Logging", package: "swift-log"),
            ]),
        // The HTTP API and the web gallery: routes, keys and rate limits, thumbnails, metrics, templates.
        .target(
            name: "PipelineAPI",
            dependencies: [
                "Fetching", "LabelStore", "ImageStore", "Imaging", "Bus", "PipelineModel",
                .product(name: "Hummingbird", package: "hummingbird"), .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Prometheus", package: "swift-prometheus"), .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
            ],
            // The gallery's templates and stylesheet, and docs/openapi.yaml (openapi.yaml links to it): in the binary.
            resources: [
                .embedInCode("openapi.yaml"), .embedInCode("Templates/head.mustache"), .embedInCode("Templates/foot.mustache"),
                .embedInCode("Templates/grid.mustache"), .embedInCode("Templates/image.mustache"), .embedInCode("Templates/submit.mustache"),
                .embedInCode("Templates/dead-letters.mustache"), .embedInCode("Templates/login.mustache"), .embedInCode("Templates/gallery.css"),
            ]),

        // MARK: Executables: argument parsing and wiring only
        .executableTarget(name: "fetch-image", dependencies: ["Fetching", "Imaging", "CLISupport"]),
        .executableTarget(name: "recognize", dependencies: ["RecognitionWorker", "RecognitionOptions", "Imaging", "CLISupport"]),
        .executableTarget(name: "notify-xml", dependencies: ["Notification", "LabelStore", "Bus", "CLISupport"]),
        .executableTarget(name: "list-images", dependencies: ["LabelStore", "ImageListing", "Presentation", "CLISupport", "PostgresClient"]),
        .executableTarget(name: "bus-admin", dependencies: ["Bus", "PipelineModel", "Presentation", "CLISupport"]),
        .executableTarget(name: "mail-sink", dependencies: ["MailSink", "CLISupport"]),
        .executableTarget(
            name: "pipeline-api",
            dependencies: ["PipelineAPI", "Fetching", "Bus", "ImageStore", "CLISupport", .product(name: "Hummingbird", package: "hummingbird")]),
        // The benchmarks behind Scripts/bench*: out of the product executables.
        .executableTarget(
            name: "pipeline-bench",
            dependencies: [
                "RecognitionOptions", "Inference", "Notification", "NotificationXML", "LabelStore", "CLISupport", "PostgresBus",
            ]),
        // --model, --threads, --max-labels ...: the classifier's options, shared by recognize and pipeline-bench.
        .target(
            name: "RecognitionOptions",
            dependencies: [
                "Recognition", "PipelineModel", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(
            name: "CLISupport",
            dependencies: [
                "PipelineModel", "WorkerRuntime", "Presentation", "Bus", "PostgresBus", "PostgresClient", "LabelStore", "ImageStore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]),

        // MARK: Tests
        .target(name: "TestSupport", dependencies: [.product(name: "FlyingFox", package: "FlyingFox")], path: "Tests/TestSupport"),
        // Reads notification XML back into JSON (the mapping's reverse): tests only.
        .target(name: "NotificationTestSupport", dependencies: ["NotificationXML", "CLibXML2"], path: "Tests/NotificationTestSupport"),
        // Encodes test images with libvips (every format, EXIF orientation, 16-bit, CMYK): tests only.
        .target(name: "ImagingTestSupport", dependencies: ["Imaging", "CVips"], path: "Tests/ImagingTestSupport"),
        .testTarget(
            name: "BusTests",
            dependencies: ["Bus", "PostgresBus", "PostgresClient", "TestSupport", .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "InferenceTests", dependencies: ["Inference", "ONNXProto"]),
        .testTarget(name: "ImagingTests", dependencies: ["Imaging", "ImagingTestSupport"]),
        .testTarget(name: "RecognitionTests", dependencies: ["Recognition", "TestSupport", "ImagingTestSupport"]),
        .testTarget(
            name: "RecognitionWorkerTests",
            dependencies: [
                "RecognitionWorker", "Recognition", "LabelStore", "Bus", "WorkerRuntime", "TestSupport", "ImagingTestSupport",
                .product(name: "InMemoryLogging", package: "swift-log"),
            ]),
        .testTarget(
            name: "LabelStoreTests",
            dependencies: [
                "LabelStore", "ImageListing", "Presentation", "TestSupport", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(name: "ImageStoreTests", dependencies: ["ImageStore", "TestSupport", .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "MailSinkTests", dependencies: ["MailSink", "NotificationXML", "CurlHTTP", "PipelineModel", "TestSupport"]),
        .testTarget(name: "CurlHTTPTests", dependencies: ["CurlHTTP", "TestSupport"]),
        .testTarget(name: "FetchingTests", dependencies: ["Fetching", "CurlHTTP", "ImagingTestSupport", "TestSupport"]),
        .testTarget(
            name: "NotificationTests",
            dependencies: [
                "Notification", "NotificationXML", "NotificationTestSupport", "MailSink", "TestSupport",
                .product(name: "InMemoryLogging", package: "swift-log"),
            ]),
        .testTarget(name: "PipelineModelTests", dependencies: ["PipelineModel"]),
        .testTarget(name: "WorkerRuntimeTests", dependencies: ["WorkerRuntime", "TestSupport"]),
        .testTarget(name: "ArchitectureTests"),
        .testTarget(name: "EndToEndTests", dependencies: ["PipelineModel", "TestSupport"]),
        .testTarget(
            name: "PipelineAPITests",
            dependencies: [
                "PipelineAPI", "Fetching", "Bus", "LabelStore", "ImageStore", "Imaging", "PipelineModel", "CurlHTTP", "TestSupport",
                .product(name: "Hummingbird", package: "hummingbird"), .product(name: "Logging", package: "swift-log"),
            ]),
    ]
)

// Developer convenience for working on one module while others are mid-change:
// `PIPELINE_TARGETS=BusTests swift test` keeps only the named targets and what they depend on.
if let only = Context.environment["PIPELINE_TARGETS"], !only.isEmpty {
    let byName = Dictionary(uniqueKeysWithValues: package.targets.map { ($0.name, $0) })
    var keep = Set<String>()
    var pending = only.split(separator: ",").map { String($0) }
    while let name = pending.popLast() {
        guard keep.insert(name).inserted, let target = byName[name] else { continue }
        for dependency in target.dependencies {
            switch dependency {
            case .targetItem(let name, _), .byNameItem(let name, _): pending.append(name)
            default: break
            }
        }
    }
    package.targets = package.targets.filter { keep.contains($0.name) }
    package.products = package.products.filter { keep.contains($0.name) }  // each product is named after its target
}
