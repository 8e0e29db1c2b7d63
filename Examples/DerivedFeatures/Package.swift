// swift-tools-version:6.0
// A `spacetime` executable with custom feature derivations (docs/extending.md).
// Built standalone with `swift build` here, or as part of the SpaceTime package itself
// (whose Package.swift declares the same sources as the `spacetime-derived-example` target).
import PackageDescription

let package = Package(
    name: "DerivedFeatures",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(name: "SpaceTime", path: "../..")
    ],
    targets: [
        .executableTarget(
            name: "spacetime-derived",
            dependencies: [
                .product(name: "SpaceTimeCLI", package: "SpaceTime"),
                .product(name: "Forest", package: "SpaceTime")
            ]
        )
    ]
)
