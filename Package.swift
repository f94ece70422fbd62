// swift-tools-version: 6.1
import PackageDescription

// Layers (see README "Where things live"):
//   transports  RelaySSE, RelayPublishing      sockets and wire formats
//   routing     RelayCore                      pure: ids, events, encoder, fan-out, replay
//   adapters    CHiredis, CRabbitMQ, CSystemd  C libraries, used by the cluster and systemd adapters
//   wiring      RelayApp, sse-relay            configuration, services, CLI

let package = Package(
    name: "sse-relay",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "sse-relay", targets: ["sse-relay"]),
        .executable(name: "sse-relay-bench", targets: ["sse-relay-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-configuration", from: "1.4.0", traits: ["JSON", "YAML"]),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.7.1"),
    ],
    targets: [
        // MARK: C libraries (pkg-config; apt names for a friendly error when missing)
        .systemLibrary(name: "CHiredis", pkgConfig: "hiredis", providers: [.apt(["libhiredis-dev"])]),
        .systemLibrary(name: "CRabbitMQ", pkgConfig: "librabbitmq", providers: [.apt(["librabbitmq-dev"])]),
        .systemLibrary(name: "CSystemd", pkgConfig: "libsystemd", providers: [.apt(["libsystemd-dev"])]),

        // MARK: Routing and fan-out: pure, no sockets, no C
        .target(
            name: "RelayCore",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            // The hub is generic over its subscriber type and the transports instantiate it
            // from another module; without this the fan-out path runs unspecialized, looking
            // up generic metadata per event (about a quarter of the hub's CPU in the bulk
            // profile). Only for this package's own release builds.
            swiftSettings: [.unsafeFlags(["-cross-module-optimization"], .when(configuration: .release))]
        ),

        // MARK: Transports
        // HTTP/1 pieces both transports share (request timeouts).
        .target(
            name: "RelayHTTP",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .target(
            name: "RelaySSE",
            dependencies: [
                "RelayCore", "RelayAuth",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "RelayPublishing",
            dependencies: [
                "RelayCore", "RelayHTTP",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),

        // MARK: Subscriber admission: JWT / delegated auth, CORS, limits, proxies (pure decisions + a NIO client)
        .target(
            name: "RelayAuth",
            dependencies: [
                "RelayCore",
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // MARK: Adapters (cluster mode)
        .target(
            name: "RelayRedis",
            dependencies: [
                "RelayCore", "CHiredis",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "RelayAMQP",
            dependencies: [
                "RelayCore", "CRabbitMQ",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        .target(
            name: "RelaySystemd",
            dependencies: [
                "CSystemd",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // MARK: Wiring
        .target(
            name: "RelayApp",
            dependencies: [
                "RelayCore", "RelaySSE", "RelayPublishing", "RelayRedis", "RelayAMQP", "RelaySystemd", "RelayAuth",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .executableTarget(
            name: "sse-relay",
            dependencies: [
                "RelayApp", "RelaySystemd",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "sse-relay-bench",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // MARK: Tests
        .testTarget(
            name: "RelayCoreTests",
            dependencies: ["RelayCore", .product(name: "PropertyBased", package: "swift-property-based")]
        ),
        .testTarget(
            name: "RelayAuthTests",
            dependencies: ["RelayAuth", "RelayCore", .product(name: "JWTKit", package: "jwt-kit"), .product(name: "NIOCore", package: "swift-nio")]
        ),
        .testTarget(
            name: "RelaySSETests",
            dependencies: [
                "RelaySSE", "RelayCore", "RelayPublishing", "RelayApp", "RelayAuth",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "RelayPublishingTests",
            dependencies: ["RelayPublishing", "RelayCore", .product(name: "PropertyBased", package: "swift-property-based")]
        ),
        // Integration tiers: need the private redis-server / rabbitmq-server that Tests/run starts.
        .testTarget(name: "RelayRedisTests", dependencies: ["RelayRedis", "RelayCore"]),
        .testTarget(name: "RelayAMQPTests", dependencies: ["RelayAMQP", "RelayCore"]),
        .testTarget(name: "RelaySystemdTests", dependencies: ["RelaySystemd", .product(name: "Logging", package: "swift-log")]),
        // Proves the C libraries the cluster and systemd adapters need are installed and link.
        .testTarget(name: "SystemLibraryTests", dependencies: ["CHiredis", "CRabbitMQ", "CSystemd"]),
    ],
    swiftLanguageModes: [.v6]
)
