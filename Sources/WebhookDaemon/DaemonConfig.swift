import HTTPServer
import OpenSSLSupport

/// Every setting of the daemon, with the embedded defaults. `config.example.json` lists the
/// same keys with the same values; `ConfigLoader` fills this from a file.
public struct DaemonConfig: Sendable, Equatable {
    public enum LogLevel: String, Sendable, CaseIterable {
        case trace, debug, info, notice, warning, error, critical
    }

    /// Numeric IPv4 or IPv6 address to listen on (`0.0.0.0` or `::` for all).
    public var listenHost = "127.0.0.1"
    /// TCP port; 0 picks a free port (the log line announcing the listener shows it).
    public var listenPort: UInt16 = 8080
    /// Native TLS: PEM files for the certificate chain and private key. nil: plain HTTP (behind
    /// a TLS proxy).
    public var tls: TLSFiles?
    /// `admin.listen`: where `/metrics`, `/healthz` and `/readyz` are served instead of on the
    /// webhook listener (which then serves the webhook path only). nil: on the webhook listener.
    public var adminHost: String?
    public var adminPort: UInt16?
    /// Path of the Delivery URL endpoint.
    public var webhookPath = "/webhooks/xero"
    /// File holding the webhook key(s), one per line, current key first. Used only when neither
    /// `PAN_SEC_XERO_WEBHOOK_KEY` nor the systemd credential `webhook-key` is present.
    public var webhookKeyFile: String?
    /// Where the queue lives. Default: `$STATE_DIRECTORY` (set by systemd's `StateDirectory=`),
    /// else `state` under the working directory.
    public var stateDirectory: String
    /// Where `stateDirectory` came from, for messages: the config file, `$STATE_DIRECTORY`, or
    /// `defaultStateDirectorySource`.
    public var stateDirectorySource: String
    static let defaultStateDirectorySource = "the default (state under the working directory)"
    public var limits = HTTPLimits()
    /// Segment file size of the disk queue.
    public var queueSegmentBytes = 64 << 20
    /// Free space the queue leaves on its file system: below it, deliveries get 503.
    public var queueMinFreeBytes = 64 << 20
    /// Largest size of the queue's unconsumed segments; above it deliveries get 503. nil: no bound.
    public var queueMaxBytes: Int?
    /// How long SIGTERM waits for requests in progress before closing their connections.
    public var shutdownGraceMilliseconds = 10_000
    public var logLevel = LogLevel.info
    /// `text` (`key=value`) or `json` (one object per line).
    public var logJSON = false
    /// The Xero API side: hosts, credentials, rate limits.
    public var xero = XeroSettings()
    /// The worker that turns queued events into records, and where it delivers them.
    public var worker = WorkerSettings()

    public init(environment: [String: String] = [:]) {
        if let fromSystemd = environment["STATE_DIRECTORY"].flatMap({ $0.split(separator: ":").first.map(String.init) }) {
            stateDirectory = fromSystemd
            stateDirectorySource = "$STATE_DIRECTORY"
        } else {
            stateDirectory = "state"
            stateDirectorySource = Self.defaultStateDirectorySource
        }
    }

    /// Path of the queue directory inside the state directory.
    public var queueDirectory: String { stateDirectory + "/queue" }
}

/// Where the TLS certificate chain (leaf first, then intermediates) and its private key are.
public struct TLSFiles: Sendable, Equatable {
    public var certificateChainFile: String
    public var privateKeyFile: String

    public init(certificateChainFile: String, privateKeyFile: String) {
        self.certificateChainFile = certificateChainFile
        self.privateKeyFile = privateKeyFile
    }

    /// Loads both files into a server context; a failure names the config key.
    public func makeContext() throws(ConfigError) -> TLSContext {
        do {
            return try TLSContext(certificateChainFile: certificateChainFile, privateKeyFile: privateKeyFile)
        } catch {
            throw Self.configError(error)
        }
    }

    /// Reloads `context` from these files (SIGHUP); on error the running certificate stays.
    public func reload(_ context: TLSContext) throws(ConfigError) {
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
