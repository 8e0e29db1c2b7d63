// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "SpaceTime",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "spacetime", targets: ["spacetime"]),
        .library(name: "ZeroMQ", targets: ["ZeroMQ"]),
        .library(name: "SpaceTime", targets: ["SpaceTime"]),
        .library(name: "Forest", targets: ["Forest"]),
        .library(name: "Cluster", targets: ["Cluster"]),
        .library(name: "ForestExport", targets: ["ForestExport"]),
        .library(name: "SpaceTimeCLI", targets: ["SpaceTimeCLI"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.28.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0")
    ],
    targets: [
        // System libraries (Debian: libzmq3-dev, liblz4-dev, zlib1g-dev, libzstd-dev).
        .systemLibrary(
            name: "CZeroMQ",
            pkgConfig: "libzmq",
            providers: [.apt(["libzmq3-dev"])]
        ),
        .systemLibrary(
            name: "CLZ4",
            pkgConfig: "liblz4",
            providers: [.apt(["liblz4-dev"])]
        ),
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        .systemLibrary(
            name: "CZstd",
            pkgConfig: "libzstd",
            providers: [.apt(["libzstd-dev"])]
        ),

        // Layers, bottom to top.
        // The one lock type (`Locked`, over the standard library's `Mutex`), for every layer.
        .target(name: "Locking"),
        .target(
            name: "ZeroMQ",
            dependencies: [
                "CZeroMQ",
                "Locking",
                .product(name: "Logging", package: "swift-log")
            ]
        ),
        .target(
            name: "SpaceTime",
            dependencies: [
                "Locking",
                "CLZ4",
                "CZlib",
                "CZstd",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HeapModule", package: "swift-collections")
            ]
        ),
        .target(
            name: "Forest",
            dependencies: [
                "Locking",
                "SpaceTime",
                .product(name: "Logging", package: "swift-log")
            ]
        ),
        // Model export (ONNX): apart from Forest so that the model code stays free of the
        // generated ONNX schema and SwiftProtobuf.
        .target(
            name: "ForestExport",
            dependencies: [
                "Forest",
                "SpaceTime",
                .product(name: "SwiftProtobuf", package: "swift-protobuf")
            ],
            exclude: ["Onnx/onnx-ml.proto"]
        ),
        .target(
            name: "Cluster",
            dependencies: [
                "Locking",
                "ZeroMQ",
                "SpaceTime",
                "Forest",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "DequeModule", package: "swift-collections")
            ],
            exclude: ["Protocol/spacetime_cluster.proto"]
        ),
        // The command-line tool as a library: its commands and an entry point, so that another
        // package can build its own `spacetime` executable.
        .target(
            name: "SpaceTimeCLI",
            dependencies: [
                "ZeroMQ",
                "SpaceTime",
                "Forest",
                "Cluster",
                "ForestExport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle")
            ]
        ),
        .executableTarget(name: "spacetime", dependencies: ["SpaceTimeCLI"]),
        // The ZeroMQ test peer (echo, throughput, hostile input) for tests, benchmarks and the
        // multi-host suite; not part of the `spacetime` tool.
        .executableTarget(
            name: "spacetime-zmq-peer",
            dependencies: [
                "ZeroMQ",
                "SpaceTime",
                "Cluster",
                .product(name: "ArgumentParser", package: "swift-argument-parser")
            ]
        ),
        // The feature-derivation example (its own package in Examples/DerivedFeatures, for users),
        // built here too so that the normal build builds and scripts/test checks it.
        .executableTarget(
            name: "spacetime-derived-example",
            dependencies: ["SpaceTimeCLI", "Forest"],
            path: "Examples/DerivedFeatures/Sources/spacetime-derived"
        ),

        // Tests. Unit targets (one per layer) run no process; `EndToEndTests` runs coordinators,
        // workers and peers as real processes and kills them; `SpaceTimeCLITests` runs single
        // `spacetime` commands as the built binary (options, messages, exit statuses, outputs).
        // `TestSupport` holds what the process-running targets share.
        .target(
            name: "TestSupport",
            dependencies: ["Cluster", "Locking", "SpaceTime", "ZeroMQ", .product(name: "Logging", package: "swift-log")],
            path: "Tests/TestSupport"),
        .testTarget(name: "ZeroMQTests", dependencies: ["ZeroMQ", "TestSupport"]),
        .testTarget(name: "SpaceTimeTests", dependencies: ["SpaceTime", "TestSupport"]),
        .testTarget(name: "ForestTests", dependencies: ["Forest", "SpaceTime"]),
        .testTarget(
            name: "ForestExportTests",
            dependencies: [
                "ForestExport", "Forest", "SpaceTime", .product(name: "SwiftProtobuf", package: "swift-protobuf")
            ]),
        .testTarget(name: "ClusterTests", dependencies: ["Locking", "Cluster", "Forest", "SpaceTime", "ZeroMQ", "TestSupport"]),
        .testTarget(
            name: "EndToEndTests", dependencies: ["TestSupport", "Locking", "Cluster", "Forest", "SpaceTime", "ZeroMQ"]),
        .testTarget(name: "SpaceTimeCLITests", dependencies: ["TestSupport", "Cluster", "Forest", "SpaceTime", "ZeroMQ"])
    ]
)
