import HTTPServer
import OpenSSLSupport

/// Every setting of the daemon, with the embedded defaults. `config.example.json` lists the
/// same keys with the same values; `ConfigLoader` fills this from a file.
package struct DaemonConfig: Sendable, Equatable {
    package enum LogLevel: String, Sendable, CaseIterable {
        case trace, debug, info, notice, warning, error, critical
    }

    /// Numeric IPv4 or IPv6 address to listen on (`0.0.0.0` or `::` for all).
    package var listenHost = "127.0.0.1"
    /// TCP port; 0 picks a free port (the log line announcing the listener shows it).
    package var listenPort: UInt16 = 8080
    /// Native TLS: PEM files for the certificate chain and private key. nil: plain HTTP (behind
    /// a TLS proxy).
    package var tls: TLSFiles?
    /// `admin.listen`: where `/metrics`, `/healthz` and `/readyz` are served instead of on the
    /// webhook listener (which then serves the webhook path only). nil: on the webhook listener.
    package var adminHost: String?
    package var adminPort: UInt16?
    /// Path of the Delivery URL endpoint.
    package var webhookPath = "/webhooks/xero"
    /// File holding the webhook key(s), one per line, current key first. Used only when neither
    /// `PAN_SEC_XERO_WEBHOOK_KEY` nor the systemd credential `webhook-key` is present.
    package var webhookKeyFile: String?
    /// Where the queue lives. Default: `$STATE_DIRECTORY` (set by systemd's `StateDirectory=`),
    /// else `state` under the working directory.
    package var stateDirectory: String
    /// Where `stateDirectory` came from, for messages: the config file, `$STATE_DIRECTORY`, or
    /// `defaultStateDirectorySource`.
    package var stateDirectorySource: String
    package static let defaultStateDirectorySource = "the default (state under the working directory)"
    package var limits = HTTPLimits()
    /// Segment file size of the disk queue.
    package var queueSegmentBytes = 64 << 20
    /// Free space the queue leaves on its file system: below it, deliveries get 503.
    package var queueMinFreeBytes = 64 << 20
    /// Largest size of the queue's unconsumed segments; above it deliveries get 503. nil: no bound.
    package var queueMaxBytes: Int?
    /// Where accepted events are kept: the local disk queue, or PostgreSQL shared by the
    /// daemons of a cluster (`queue.backend: "postgres"`, which needs `cluster`).
    package var queueBackend: QueueBackend = .disk
    /// With the postgres queue: how long a daemon holds a tenant's lane without renewing it
    /// before another daemon may take it (a daemon that died).
    package var queueLaneLeaseMilliseconds = 30_000

    package enum QueueBackend: String, Sendable, Equatable { case disk, postgres }
    /// How long SIGTERM waits for requests in progress before closing their connections.
    package var shutdownGraceMilliseconds = 10_000
    package var logLevel = LogLevel.info
    /// `text` (`key=value`) or `json` (one object per line).
    package var logJSON = false
    /// The Xero API side: hosts, credentials, rate limits.
    package var xero = XeroSettings()
    /// The worker that turns queued events into records, and where it delivers them.
    package var worker = WorkerSettings()
    /// Cluster mode: state shared with other daemons through PostgreSQL; nil: none.
    package var cluster: ClusterSettings?

    package init(environment: [String: String] = [:]) {
        if let fromSystemd = environment["STATE_DIRECTORY"].flatMap({ $0.split(separator: ":").first.map(String.init) }) {
            stateDirectory = fromSystemd
            stateDirectorySource = "$STATE_DIRECTORY"
        } else {
            stateDirectory = "state"
            stateDirectorySource = Self.defaultStateDirectorySource
        }
    }

    /// Path of the queue directory inside the state directory.
    package var queueDirectory: String { stateDirectory + "/queue" }
}

/// Where the TLS certificate chain (leaf first, then intermediates) and its private key are.
package struct TLSFiles: Sendable, Equatable {
    package var certificateChainFile: String
    package var privateKeyFile: String

    package init(certificateChainFile: String, privateKeyFile: String) {
        self.certificateChainFile = certificateChainFile
        self.privateKeyFile = privateKeyFile
    }

    /// Loads both files into a server context; a failure names the config key.
    package func makeContext() throws(ConfigError) -> TLSContext {
        do {
            return try TLSContext(certificateChainFile: certificateChainFile, privateKeyFile: privateKeyFile)
        } catch {
            throw Self.configError(error)
        }
    }

    /// Reloads `context` from these files (SIGHUP); on error the running certificate stays.
    package func reload(_ context: TLSContext) throws(ConfigError) {
        do {
            try context.reload(certificateChainFile: certificateChainFile, privateKeyFile: privateKeyFile)
        } catch {
            throw Self.configError(error)
        }
    }

    private static func configError(_ error: TLSError) -> ConfigError {
        switch error.part {
        case .certificateChain: ConfigError("listen.tls.certificateChainFile", error.reason)
        case .privateKey: ConfigError("listen.tls.privateKeyFile", error.reason)
        case .context: ConfigError("listen.tls", error.reason)
        }
    }
}
