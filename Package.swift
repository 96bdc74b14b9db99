// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "xero-webhookd",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "xero-webhookd", targets: ["xero-webhookd"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]
        ),
        .target(name: "SystemSupport"),
        // The one door to OpenSSL: HMAC-SHA256, SHA-256, base64, the TLS server context and
        // session, the outbound client connection. Only Swift types leave it.
        .target(name: "OpenSSLSupport", dependencies: ["COpenSSL"]),
        .target(name: "HTTPServer", dependencies: ["SystemSupport", "OpenSSLSupport"]),
        .target(name: "DiskQueue", dependencies: ["SystemSupport"]),
        // Strict JSON parsing that keeps each value's byte range (events are stored as received).
        .target(name: "ByteJSON"),
        // What a queued record holds and how deliveries are signed: shared by the receiver that
        // writes records and the worker that reads them, without linking the HTTP server.
        .target(name: "EventRecord", dependencies: ["ByteJSON", "OpenSSLSupport"]),
        .target(
            name: "XeroWebhooks",
            dependencies: ["EventRecord", "HTTPServer", "DiskQueue", "ByteJSON"]
        ),
        // Xero API client: token providers, rate limiter, batched resource fetcher.
        .target(name: "XeroAPI", dependencies: ["ByteJSON", "SystemSupport"]),
        // A test double of Xero's identity and accounting endpoints, on our HTTP server.
        .target(name: "FakeXero", dependencies: ["HTTPServer", "ByteJSON"]),
        .target(
            name: "Worker",
            dependencies: ["SystemSupport", "DiskQueue", "ByteJSON", "EventRecord"]
        ),
        .target(
            name: "WebhookDaemon",
            dependencies: [
                "SystemSupport", "OpenSSLSupport", "HTTPServer", "DiskQueue", "ByteJSON", "EventRecord", "XeroWebhooks", "Worker", "XeroAPI", "FakeXero",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "xero-webhookd",
            dependencies: ["WebhookDaemon"]
        ),
        // Helpers shared by the test targets (raw HTTP client, temp dirs, signature vectors).
        .target(name: "TestSupport", dependencies: ["COpenSSL"], path: "Tests/TestSupport"),
        .testTarget(name: "HTTPServerTests", dependencies: ["HTTPServer", "OpenSSLSupport", "TestSupport"]),
        .testTarget(name: "ByteJSONTests", dependencies: ["ByteJSON"]),
        .testTarget(name: "SystemSupportTests", dependencies: ["SystemSupport"]),
        .testTarget(name: "DiskQueueTests", dependencies: ["DiskQueue", "SystemSupport"]),
        .testTarget(name: "XeroWebhooksTests", dependencies: ["XeroWebhooks", "EventRecord", "ByteJSON", "HTTPServer", "DiskQueue", "TestSupport"]),
        .testTarget(
            name: "WebhookDaemonTests",
            dependencies: ["WebhookDaemon", "SystemSupport", "TestSupport", .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(name: "WorkerTests", dependencies: ["Worker", "SystemSupport", "DiskQueue", "ByteJSON", "EventRecord", "XeroWebhooks", "HTTPServer", "TestSupport"]),
        .testTarget(name: "XeroAPITests", dependencies: ["XeroAPI", "FakeXero", "ByteJSON", "TestSupport", "WebhookDaemon", "xero-webhookd"]),
        .testTarget(name: "EndToEndTests", dependencies: ["xero-webhookd", "EventRecord", "XeroWebhooks", "ByteJSON", "FakeXero", "TestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
