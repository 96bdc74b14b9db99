import ByteJSON
#if canImport(Glibc)
import Glibc
#endif
import HTTPServer
import SystemSupport

/// Reads a JSON config file over the embedded defaults. Every key is optional; unknown keys are
/// errors (a typo must not silently fall back to a default). Keys starting with `//` hold comments.
package enum ConfigLoader {
    package static func load(path: String?, environment: [String: String]) throws(ConfigError) -> DaemonConfig {
        var config = DaemonConfig(environment: environment)
        guard let path else { return config }
        let bytes: [UInt8]
        do {
            bytes = try FileBytes.read(path)
        } catch {
            throw ConfigError("", "cannot read \(path): \(error)")
        }
        let root: JSONValue
        do {
            root = try JSONParser.parse(bytes)
        } catch {
            throw ConfigError("", "\(path) is not valid JSON: \(error.description)")
        }
        let top = try ConfigObject(root, path: "")
        try apply(top, to: &config, environment: environment)
        if config.stateDirectorySource == "stateDirectory in the config file" { config.stateDirectorySource = "stateDirectory in \(path)" }
        return config
    }

    private static func apply(_ top: ConfigObject, to config: inout DaemonConfig, environment: [String: String]) throws(ConfigError) {
        if let listen = try top.object("listen") {
            if let host = try listen.string("host") {
                guard isNumericAddress(host) else {
                    throw ConfigError("listen.host", "\"\(host)\" is not a numeric IPv4 or IPv6 address")
                }
                config.listenHost = host
            }
            if let port = try listen.integer("port") {
                guard (0...65535).contains(port) else { throw ConfigError("listen.port", "\(port) is not a port (0-65535)") }
                config.listenPort = UInt16(port)
            }
            if let tls = try listen.object("tls") {
                config.tls = try tlsFiles(tls, environment: environment)
            }
            try listen.rejectUnknown(["host", "port", "tls"])
        }
        if let webhook = try top.object("webhook") {
            if let path = try webhook.string("path") {
                guard path.hasPrefix("/"), !path.contains(" "), !path.contains("?") else {
                    throw ConfigError("webhook.path", "\"\(path)\" must start with / and have no spaces or query")
                }
                config.webhookPath = path
            }
            config.webhookKeyFile = try webhook.string("keyFile") ?? config.webhookKeyFile
            try webhook.rejectUnknown(["path", "keyFile"])
        }
        if let dir = try top.string("stateDirectory") {
            guard !dir.isEmpty else { throw ConfigError("stateDirectory", "must not be empty") }
            config.stateDirectory = dir
            config.stateDirectorySource = "stateDirectory in the config file"
        }
        if let limits = try top.object("limits") {
            try applyLimits(limits, to: &config.limits)
        }
        if let queue = try top.object("queue") {
            if let size = try queue.integer("segmentBytes") {
                guard (1 << 16...1 << 30).contains(size) else {
                    throw ConfigError("queue.segmentBytes", "\(size) is out of range (65536-1073741824)")
                }
                config.queueSegmentBytes = size
            }
            if let reserve = try queue.integer("minFreeBytes") {
                guard reserve >= 0 else { throw ConfigError("queue.minFreeBytes", "\(reserve) must not be negative") }
                config.queueMinFreeBytes = reserve
            }
            if let bound = try queue.integer("maxBytes") {
                guard bound >= 1 << 20 else { throw ConfigError("queue.maxBytes", "\(bound) is below the minimum (1048576)") }
                config.queueMaxBytes = bound
            }
            if let backend = try queue.string("backend") {
                guard let known = DaemonConfig.QueueBackend(rawValue: backend) else {
                    throw ConfigError("queue.backend", "\"\(backend)\" is not a queue backend (disk, postgres)")
                }
                config.queueBackend = known
            }
            if let lease = try queue.integer("laneLeaseMilliseconds") {
                guard (2000...600_000).contains(lease) else {
                    throw ConfigError("queue.laneLeaseMilliseconds", "\(lease) is out of range (2000-600000)")
                }
                config.queueLaneLeaseMilliseconds = lease
            }
            try queue.rejectUnknown(["segmentBytes", "minFreeBytes", "maxBytes", "backend", "laneLeaseMilliseconds"])
            // The bound is checked against the queue's files, the active segment included: a
            // bound of less than two segments could be reached with nothing left to consume,
            // and every delivery would get 503 for good.
            if let bound = config.queueMaxBytes, bound < 2 * config.queueSegmentBytes {
                throw ConfigError("queue.maxBytes", "\(bound) is less than two segments (2 × queue.segmentBytes = "
                    + "\(2 * config.queueSegmentBytes)); raise it or lower queue.segmentBytes")
            }
        }
        if let shutdown = try top.object("shutdown") {
            if let grace = try shutdown.integer("graceMilliseconds") {
                guard (0...600_000).contains(grace) else {
                    throw ConfigError("shutdown.graceMilliseconds", "\(grace) is out of range (0-600000)")
                }
                config.shutdownGraceMilliseconds = grace
            }
            try shutdown.rejectUnknown(["graceMilliseconds"])
        }
        if let log = try top.object("log") {
            if let level = try log.string("level") {
                guard let parsed = DaemonConfig.LogLevel(rawValue: level) else {
                    let names = DaemonConfig.LogLevel.allCases.map(\.rawValue).joined(separator: ", ")
                    throw ConfigError("log.level", "\"\(level)\" is not one of \(names)")
                }
                config.logLevel = parsed
            }
            if let format = try log.string("format") {
                guard format == "text" || format == "json" else {
                    throw ConfigError("log.format", "\"\(format)\" is not one of text, json")
                }
                config.logJSON = format == "json"
            }
            try log.rejectUnknown(["level", "format"])
        }
        if let xero = try top.object("xero") {
            try XeroSettingsLoader.apply(xero, to: &config.xero)
        }
        if let worker = try top.object("worker") { try WorkerSettingsLoader.applyWorker(worker, to: &config.worker) }
        if let sink = try top.object("sink") { try WorkerSettingsLoader.applySink(sink, to: &config.worker) }
        if let cluster = try top.object("cluster") { try ClusterSettings.apply(cluster, to: &config) }
        if config.queueBackend == .postgres && config.cluster == nil {
            throw ConfigError("queue.backend", "postgres needs a cluster section (cluster.postgresURL, or the URL in XERO_WEBHOOKD_POSTGRES_URL)")
        }
        if let admin = try top.object("admin") {
            if let listen = try admin.string("listen") {
                do {
                    (config.adminHost, config.adminPort) = try ListenAddress.parse(listen, defaultHost: "127.0.0.1")
                } catch {
                    throw ConfigError("admin.listen", "\"\(listen)\" is not <host:port> with a numeric host (\(error))")
                }
            }
            try admin.rejectUnknown(["listen"])
        }
        try top.rejectUnknown(["listen", "admin", "webhook", "stateDirectory", "limits", "queue", "shutdown", "log", "xero", "worker", "sink", "cluster"])
    }

    /// `listen.tls`: both paths are required. `${CREDENTIALS_DIRECTORY}` in a path is replaced by
    /// the directory systemd's `LoadCredential=` fills.
    private static func tlsFiles(_ o: ConfigObject, environment: [String: String]) throws(ConfigError) -> TLSFiles {
        func path(_ key: String) throws(ConfigError) -> String {
            guard let value = try o.string(key), !value.isEmpty else {
                throw ConfigError("listen.tls.\(key)", "is required when listen.tls is present")
            }
            let variable = "${CREDENTIALS_DIRECTORY}"
            guard value.contains(variable) else { return value }
            guard let directory = environment["CREDENTIALS_DIRECTORY"], !directory.isEmpty else {
                throw ConfigError("listen.tls.\(key)", "uses ${CREDENTIALS_DIRECTORY}, which is not set (no systemd credentials)")
            }
            return value.replacing(variable, with: directory)
        }
        try o.rejectUnknown(["certificateChainFile", "privateKeyFile"])  // first: a misspelt key is named as such
        return TLSFiles(certificateChainFile: try path("certificateChainFile"), privateKeyFile: try path("privateKeyFile"))
    }

    private static func applyLimits(_ o: ConfigObject, to limits: inout HTTPLimits) throws(ConfigError) {
        if let v = try o.integer("maxBodyBytes", in: 1024...(64 << 20)) { limits.maxBodyBytes = v }
        if let v = try o.integer("maxHeaderBytes", in: 1024...(1 << 20)) { limits.maxHeaderBytes = v }
        if let v = try o.integer("maxRequestLineBytes", in: 256...(1 << 20)) { limits.maxRequestLineBytes = v }
        if let v = try o.integer("maxHeaderCount", in: 8...10_000) { limits.maxHeaderCount = v }
        if let v = try o.integer("maxConnections", in: 1...1_000_000) { limits.maxConnections = v }
        if let v = try o.integer("descriptorReserve", in: 16...100_000) { limits.descriptorReserve = v }
        if let v = try o.integer("requestMemoryBytes", in: (1 << 20)...(1 << 34)) { limits.requestMemoryBytes = v }
        if let v = try o.integer("connectionInputAllowance", in: 4096...(1 << 20)) { limits.connectionInputAllowance = v }
        // A body of maxBodyBytes must be able to arrive at all.
        guard limits.requestMemoryBytes + limits.connectionInputAllowance >= limits.maxBodyBytes + limits.maxHeaderBytes else {
            throw ConfigError("limits.requestMemoryBytes", "\(limits.requestMemoryBytes) is too small for one request of "
                              + "limits.maxBodyBytes + limits.maxHeaderBytes (\(limits.maxBodyBytes + limits.maxHeaderBytes)); raise it or lower those")
        }
        if let v = try o.integer("headTimeoutMilliseconds", in: 10...600_000) { limits.headTimeout = .milliseconds(v) }
        if let v = try o.integer("bodyIdleTimeoutMilliseconds", in: 10...600_000) { limits.bodyIdleTimeout = .milliseconds(v) }
        if let v = try o.integer("keepAliveTimeoutMilliseconds", in: 10...3_600_000) { limits.keepAliveTimeout = .milliseconds(v) }
        if let v = try o.integer("requestTimeoutMilliseconds", in: 10...3_600_000) { limits.requestTimeout = .milliseconds(v) }
        try o.rejectUnknown(["maxBodyBytes", "maxHeaderBytes", "maxRequestLineBytes", "maxHeaderCount", "maxConnections", "descriptorReserve",
                             "requestMemoryBytes", "connectionInputAllowance",
                             "headTimeoutMilliseconds", "bodyIdleTimeoutMilliseconds", "keepAliveTimeoutMilliseconds",
                             "requestTimeoutMilliseconds"])
    }

    /// True for a numeric IPv4 or IPv6 address (no names: the listener never resolves DNS).
    package static func isNumericAddress(_ host: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }
}

/// One JSON object of the config, read key by key with typed accessors that name the full path.
package struct ConfigObject {
    private let members: [(key: String, value: JSONValue)]
    private let path: String

    package init(_ value: JSONValue, path: String) throws(ConfigError) {
        guard case let .object(members) = value.kind else {
            throw ConfigError(path, "must be a JSON object")
        }
        self.members = members
        self.path = path
        var seen = Set<String>()
        for (key, _) in members where !key.hasPrefix("//") {
            guard seen.insert(key).inserted else { throw ConfigError(keyPath(key), "appears more than once") }
        }
    }

    package func keyPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    private func value(_ key: String) -> JSONValue? {
        guard let v = members.first(where: { $0.key == key })?.value else { return nil }
        if case .null = v.kind { return nil }
        return v
    }

    package func object(_ key: String) throws(ConfigError) -> ConfigObject? {
        guard let v = value(key) else { return nil }
        return try ConfigObject(v, path: keyPath(key))
    }

    package func string(_ key: String) throws(ConfigError) -> String? {
        guard let v = value(key) else { return nil }
        guard let s = v.stringValue else { throw ConfigError(keyPath(key), "must be a string") }
        return s
    }

    package func integer(_ key: String) throws(ConfigError) -> Int? {
        guard let v = value(key) else { return nil }
        guard case let .number(text) = v.kind else { throw ConfigError(keyPath(key), "must be a number") }
        guard let n = Int(text) else { throw ConfigError(keyPath(key), "\(text) is not a whole number") }
        return n
    }

    /// A whole number within `range`; one outside it names the key and the range.
    package func integer(_ key: String, in range: ClosedRange<Int>) throws(ConfigError) -> Int? {
        guard let value = try integer(key) else { return nil }
        guard range.contains(value) else {
            throw ConfigError(keyPath(key), "\(value) is out of range (\(range.lowerBound)-\(range.upperBound))")
        }
        return value
    }

    package func bool(_ key: String) throws(ConfigError) -> Bool? {
        guard let v = value(key) else { return nil }
        guard case let .bool(flag) = v.kind else { throw ConfigError(keyPath(key), "must be true or false") }
        return flag
    }

    package func stringArray(_ key: String) throws(ConfigError) -> [String]? {
        guard let v = value(key) else { return nil }
        guard let items = v.arrayValue else { throw ConfigError(keyPath(key), "must be an array of strings") }
        var strings: [String] = []
        for item in items {
            guard let s = item.stringValue else { throw ConfigError(keyPath(key), "must be an array of strings") }
            strings.append(s)
        }
        return strings
    }

    package func rejectUnknown(_ known: Set<String>) throws(ConfigError) {
        for (key, _) in members where !key.hasPrefix("//") && !known.contains(key) {
            let list = known.sorted().joined(separator: ", ")
            throw ConfigError(keyPath(key), "unknown key (known here: \(list))")
        }
    }
}
