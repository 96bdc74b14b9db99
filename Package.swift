// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "xero-webhookd",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "xero-webhookd", targets: ["xero-webhookd"]),
    ],
    traits: [
        // The postgres sink links vapor/postgres-nio and with it SwiftNIO, swift-nio-ssl and
        // swift-crypto: about 8 times the release build time and 64 MB more binary, and 2-3 MB
        // more idle memory even when no postgres sink is configured
        // (bench/results/postgres-dependency.md). On by default;
        // `swift build --product xero-webhookd --disable-default-traits` builds the daemon without it.
        .trait(name: "PostgreSQL", description: "The postgres sink (sink.type postgres), through vapor/postgres-nio."),
        .default(enabledTraits: ["PostgreSQL"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
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
        // What the worker asks a fetcher and what it answers: the resource identity, the request,
        // the outcome. Shared by the worker and the Xero API client, which do not link each other.
        .target(name: "ResourceFetch"),
        // Xero API client: token providers, rate limiter, batched resource fetcher.
        .target(name: "XeroAPI", dependencies: ["ByteJSON", "SystemSupport", "ResourceFetch"]),
        // A test double of Xero's identity and accounting endpoints, on our HTTP server.
        .target(name: "FakeXero", dependencies: ["HTTPServer", "ByteJSON"]),
        .target(
            name: "Worker",
            dependencies: ["SystemSupport", "DiskQueue", "ByteJSON", "EventRecord", "ResourceFetch"]
        ),
        // The daemon's settings: the config file, secrets from the environment, files and
        // systemd credentials, and the errors that name a key and a reason.
        .target(
            name: "DaemonConfig",
            dependencies: ["SystemSupport", "OpenSSLSupport", "HTTPServer", "ByteJSON", "EventRecord", "Worker", "XeroAPI"]
        ),
        // The running daemon: listeners, queue, worker, sink and Xero client wired together;
        // routes, metrics, logging, readiness, fail points.
        .target(
            name: "DaemonRuntime",
            dependencies: [
                "DaemonConfig", "SystemSupport", "OpenSSLSupport", "HTTPServer", "DiskQueue", "ByteJSON", "EventRecord",
                "XeroWebhooks", "ResourceFetch", "Worker", "XeroAPI",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // PostgreSQL for several daemons: the client settings, numbered schema steps, and the
        // token set they share in cluster mode. Links postgres-nio (and with it SwiftNIO).
        .target(
            name: "PostgresSupport",
            dependencies: [
                "DaemonConfig", "XeroAPI",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The postgres sink: one row per resource, migrations, NOTIFY. The only target that links
        // a PostgreSQL client (and with it SwiftNIO); the receive path does not.
        .target(
            name: "PostgresSink",
            dependencies: [
                "DaemonConfig", "Worker", "ByteJSON", "PostgresSupport",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Cluster mode's shared queue: events, tenant lanes under leases, dead letters in PostgreSQL.
        .target(
            name: "PostgresQueue",
            dependencies: [
                "DaemonConfig", "DiskQueue", "EventRecord", "ResourceFetch", "Worker", "XeroWebhooks", "PostgresSupport",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Xero's OAuth 2 authorization-code flow, with its local redirect listener.
        .target(name: "XeroAuthorization", dependencies: ["DaemonConfig", "XeroAPI", "HTTPServer"]),
        // `xero-webhookd demo`: the daemon against the fake Xero, end to end on one machine.
        // The only target outside the tests that links FakeXero; the executable adds it to
        // the CLI's commands.
        .target(
            name: "Demo",
            dependencies: [
                "CLI", "DaemonConfig", "DaemonRuntime", "FakeXero", "SystemSupport", "ByteJSON", "EventRecord", "Worker", "XeroAPI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The operator's commands: serve, reload, check-config, sign, send, selftest, queue,
        // dead, authorize, token.
        .target(
            name: "CLI",
            dependencies: [
                "DaemonConfig", "DaemonRuntime", "XeroAuthorization", "SystemSupport", "OpenSSLSupport", "HTTPServer",
                "DiskQueue", "ByteJSON", "EventRecord", "Worker", "XeroAPI", "XeroWebhooks",
                .target(name: "PostgresSink", condition: .when(traits: ["PostgreSQL"])),
                .target(name: "PostgresSupport", condition: .when(traits: ["PostgreSQL"])),
                .target(name: "PostgresQueue", condition: .when(traits: ["PostgreSQL"])),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The root command: the CLI's commands and the demo.
        .executableTarget(
            name: "xero-webhookd",
            dependencies: ["CLI", "Demo", "DaemonRuntime", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // Helpers shared by the test targets (raw HTTP client, temp dirs, signature vectors).
        .target(name: "TestSupport", dependencies: ["COpenSSL"], path: "Tests/TestSupport"),
        // The fake Xero with a manual clock and the client pieces the Xero API and daemon tests share.
        .target(name: "XeroTestSupport", dependencies: ["XeroAPI", "ResourceFetch", "FakeXero", "TestSupport"], path: "Tests/XeroTestSupport"),
        // The throwaway PostgreSQL cluster the postgres tests share (initdb + pg_ctl in a temp dir).
        .target(name: "PostgresTestSupport", dependencies: ["TestSupport"], path: "Tests/PostgresTestSupport"),
        .testTarget(name: "HTTPServerTests", dependencies: ["HTTPServer", "OpenSSLSupport", "TestSupport"]),
        .testTarget(name: "ByteJSONTests", dependencies: ["ByteJSON"]),
        .testTarget(name: "SystemSupportTests", dependencies: ["SystemSupport", "TestSupport"]),
        .testTarget(name: "DiskQueueTests", dependencies: ["DiskQueue", "SystemSupport"]),
        .testTarget(name: "XeroWebhooksTests", dependencies: ["XeroWebhooks", "EventRecord", "ByteJSON", "HTTPServer", "DiskQueue", "TestSupport"]),
        .testTarget(
            name: "DaemonTests",
            dependencies: [
                "DaemonConfig", "DaemonRuntime", "XeroAuthorization", "CLI", "xero-webhookd", "SystemSupport", "OpenSSLSupport",
                "HTTPServer", "DiskQueue", "ByteJSON", "EventRecord", "ResourceFetch", "Worker", "XeroAPI", "FakeXero", "TestSupport", "XeroTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "WorkerTests", dependencies: ["Worker", "ResourceFetch", "SystemSupport", "DiskQueue", "ByteJSON", "EventRecord", "XeroWebhooks", "HTTPServer", "TestSupport"]),
        .testTarget(name: "XeroAPITests", dependencies: ["XeroAPI", "ResourceFetch", "FakeXero", "ByteJSON", "TestSupport", "XeroTestSupport"]),
        .testTarget(
            name: "PostgresSinkTests",
            dependencies: [
                "PostgresSink", "PostgresSupport", "PostgresQueue", "PostgresTestSupport", "xero-webhookd", "DaemonConfig", "Worker", "DiskQueue", "EventRecord", "ByteJSON",
                "FakeXero", "TestSupport", .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
        .testTarget(
            name: "PostgresSupportTests",
            dependencies: [
                "PostgresSupport", "PostgresTestSupport", "xero-webhookd", "DaemonConfig", "EventRecord", "XeroAPI", "FakeXero", "TestSupport",
                "XeroTestSupport",
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
        .testTarget(name: "EndToEndTests", dependencies: ["xero-webhookd", "EventRecord", "XeroWebhooks", "ByteJSON", "FakeXero", "TestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
