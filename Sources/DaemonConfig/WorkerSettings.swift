import Worker

/// The `worker` and `sink` config sections.
package struct WorkerSettings: Sendable, Equatable {
    package enum SinkKind: String, Sendable, CaseIterable { case directory, http, command, postgres }

    /// Run the worker inside `serve`. It also needs Xero credentials (`xero.auth.mode`).
    package var enabled = true
    /// `fetch`: the current record of each changed resource from Xero (needs `xero.auth`);
    /// `events`: the events themselves, nothing fetched (needs no Xero credentials).
    package enum Mode: String, Sendable, CaseIterable { case fetch, events }
    package var mode = Mode.fetch
    package var maxAttempts = 10
    package var maxAgeSeconds = 86_400
    package var backoffBaseMilliseconds = 5_000
    package var backoffCapMilliseconds = 900_000

    package var sink = SinkKind.directory
    /// Directory sink: where the JSON Lines files go; default `<stateDirectory>/records`.
    package var sinkDirectory: String?
    package var sinkMaxFileBytes = 64 << 20
    /// Directory sink: delete record files older than this many days / past this total size.
    package var sinkRetentionDays: Int?
    package var sinkMaxTotalBytes: Int?
    /// HTTP sink: where records are POSTed.
    package var sinkURL: String?
    /// HTTP sink: file with the signing secret (else `XERO_WEBHOOKD_SINK_SECRET` or the
    /// systemd credential `sink-secret`).
    package var sinkSecretFile: String?
    /// Command sink: program and arguments (no shell).
    package var sinkCommand: [String] = []
    /// Command sink: variables the command gets on top of the base set (`ChildEnvironment`).
    package var sinkPassEnvironment: [String] = []
    /// Postgres sink: the connection URL (else `XERO_WEBHOOKD_POSTGRES_URL` or the systemd
    /// credential `postgres-url`, see `PostgresSinkSettings`).
    package var sinkPostgresURL: String?
    /// Postgres sink: the table, one row per resource (created and migrated at start).
    package var sinkTable = PostgresSinkSettings.defaultTable
    package var sinkTimeoutMilliseconds = 30_000
    package var sinkConcurrency = 4

    package init() {}

    package var workerConfiguration: WorkerConfiguration {
        var configuration = WorkerConfiguration()
        configuration.maxAttempts = maxAttempts
        configuration.maxAge = .seconds(maxAgeSeconds)
        configuration.backoff = Backoff(base: .milliseconds(backoffBaseMilliseconds), cap: .milliseconds(backoffCapMilliseconds))
        return configuration
    }
}

package enum WorkerSettingsLoader {
    package static func applyWorker(_ o: ConfigObject, to settings: inout WorkerSettings) throws(ConfigError) {
        if let enabled = try o.bool("enabled") { settings.enabled = enabled }
        if let mode = try o.string("mode") {
            guard let parsed = WorkerSettings.Mode(rawValue: mode) else { throw ConfigError("worker.mode", "\"\(mode)\" is not one of fetch, events") }
            settings.mode = parsed
        }
        if let v = try o.integer("maxAttempts", in: 1...1000) { settings.maxAttempts = v }
        if let v = try o.integer("maxAgeSeconds", in: 60...(90 * 86_400)) { settings.maxAgeSeconds = v }
        if let v = try o.integer("backoffBaseMilliseconds", in: 1...3_600_000) { settings.backoffBaseMilliseconds = v }
        if let v = try o.integer("backoffCapMilliseconds", in: 1...86_400_000) { settings.backoffCapMilliseconds = v }
        try o.rejectUnknown(["enabled", "mode", "maxAttempts", "maxAgeSeconds", "backoffBaseMilliseconds", "backoffCapMilliseconds"])
    }

    package static func applySink(_ o: ConfigObject, to settings: inout WorkerSettings) throws(ConfigError) {
        if let type = try o.string("type") {
            guard let kind = WorkerSettings.SinkKind(rawValue: type) else {
                throw ConfigError("sink.type", "\"\(type)\" is not one of directory, http, command, postgres")
            }
            settings.sink = kind
        }
        settings.sinkDirectory = try o.string("directory") ?? settings.sinkDirectory
        if let size = try o.integer("maxFileBytes") {
            guard size >= 4096 else { throw ConfigError("sink.maxFileBytes", "\(size) is below the minimum (4096)") }
            settings.sinkMaxFileBytes = size
        }
        if let days = try o.integer("retentionDays") {
            guard (1...36_500).contains(days) else { throw ConfigError("sink.retentionDays", "\(days) is out of range (1-36500)") }
            settings.sinkRetentionDays = days
        }
        if let bytes = try o.integer("maxTotalBytes") {
            guard bytes >= 2 * settings.sinkMaxFileBytes else {
                throw ConfigError("sink.maxTotalBytes", "\(bytes) is below two files of sink.maxFileBytes (\(2 * settings.sinkMaxFileBytes))")
            }
            settings.sinkMaxTotalBytes = bytes
        }
        if let url = try o.string("url") {
            guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
                throw ConfigError("sink.url", "\"\(url)\" is not an http(s) URL")
            }
            settings.sinkURL = url
        }
        settings.sinkSecretFile = try o.string("secretFile") ?? settings.sinkSecretFile
        if let command = try o.stringArray("command") { settings.sinkCommand = command }
        if let names = try o.variableNames("passEnvironment") { settings.sinkPassEnvironment = names }
        if let url = try o.string("postgresURL") {
            do {
                _ = try PostgresEndpoint.parse(url)
            } catch {
                throw ConfigError("sink.postgresURL", error.reason)
            }
            settings.sinkPostgresURL = url
        }
        if let table = try o.string("table") {
            if let problem = PostgresSinkSettings.tableProblem(table) { throw ConfigError("sink.table", problem) }
            settings.sinkTable = table
        }
        if let timeout = try o.integer("timeoutMilliseconds") {
            guard (100...3_600_000).contains(timeout) else {
                throw ConfigError("sink.timeoutMilliseconds", "\(timeout) is out of range (100-3600000)")
            }
            settings.sinkTimeoutMilliseconds = timeout
        }
        if let concurrency = try o.integer("concurrency") {
            guard (1...256).contains(concurrency) else { throw ConfigError("sink.concurrency", "\(concurrency) is out of range (1-256)") }
            settings.sinkConcurrency = concurrency
        }
        try o.rejectUnknown(["type", "directory", "maxFileBytes", "retentionDays", "maxTotalBytes", "url", "secretFile", "command", "passEnvironment", "timeoutMilliseconds",
                             "concurrency", "postgresURL", "table"])
        switch settings.sink {
        case .http where settings.sinkURL == nil:
            throw ConfigError("sink.url", "is required when sink.type is http")
        case .command where settings.sinkCommand.isEmpty:
            throw ConfigError("sink.command", "is required when sink.type is command (an array: program and arguments)")
        case .postgres where settings.mode == .events:
            throw ConfigError("sink.type", "postgres keeps the fetched record of each resource; it needs worker.mode fetch")
        default:
            break
        }
    }
}
