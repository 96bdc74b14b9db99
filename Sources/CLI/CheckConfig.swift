import ArgumentParser
import ByteJSON
import DaemonConfig
import DaemonRuntime
import EventRecord
import Foundation
import HTTPServer
import OpenSSLSupport
import SystemSupport

package struct CheckConfig: ParsableCommand {
    package init() {}

    package static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate the config and print the effective settings (secrets masked)."
    )

    @Option(help: "Config file (JSON). Without it the embedded defaults are checked.")
    package var config: String?

    package func run() throws {
        let environment = ProcessInfo.processInfo.environment
        do {
            let settings = try ConfigLoader.load(path: config, environment: environment)
            let keys = try WebhookKeys.load(keyFile: settings.webhookKeyFile, environment: environment)
            let xeroSecrets = try XeroSecrets.load(settings.xero, environment: environment)
            let tls = try settings.tls?.makeContext()
            let l = settings.limits
            // The postgres sink's URL may come from the environment or a credential: resolved (and
            // checked) here, shown without its password.
            let postgres = settings.worker.sink == .postgres ? try PostgresSinkSettings.endpoint(settings.worker, environment: environment) : nil
            var cluster: (endpoint: PostgresEndpoint, source: String)?
            if let settings = settings.cluster { cluster = try settings.endpoint(environment: environment) }
            var lines = [
                "listen.host: \(settings.listenHost)",
                "listen.port: \(settings.listenPort)",
                "listen.tls: \(tls.map(Self.describe) ?? "off (plain HTTP; put a TLS proxy in front)")",
                "webhook.path: \(settings.webhookPath)",
                "webhook.keys: \(keys.masked)",
                "admin.listen: \(settings.adminPort.map { "\(settings.adminHost ?? "127.0.0.1"):\($0)" } ?? "off (/metrics, /healthz, /readyz on the webhook listener)")",
                "stateDirectory: \(settings.stateDirectory) (from \(settings.stateDirectorySource))",
                "limits.maxBodyBytes: \(l.maxBodyBytes)",
                "limits.maxHeaderBytes: \(l.maxHeaderBytes)",
                "limits.maxRequestLineBytes: \(l.maxRequestLineBytes)",
                "limits.maxHeaderCount: \(l.maxHeaderCount)",
                "limits.maxConnections: \(l.maxConnections)",
                "limits.descriptorReserve: \(l.descriptorReserve)",
                "limits.requestMemoryBytes: \(l.requestMemoryBytes)",
                "limits.connectionInputAllowance: \(l.connectionInputAllowance)",
                "limits.headTimeoutMilliseconds: \(l.headTimeout.nanoseconds / 1_000_000)",
                "limits.bodyIdleTimeoutMilliseconds: \(l.bodyIdleTimeout.nanoseconds / 1_000_000)",
                "limits.keepAliveTimeoutMilliseconds: \(l.keepAliveTimeout.nanoseconds / 1_000_000)",
                "limits.requestTimeoutMilliseconds: \(l.requestTimeout.nanoseconds / 1_000_000)",
                "queue.segmentBytes: \(settings.queueSegmentBytes)",
                "queue.minFreeBytes: \(settings.queueMinFreeBytes)",
                "queue.maxBytes: \(settings.queueMaxBytes.map(String.init) ?? "unbounded")",
                "shutdown.graceMilliseconds: \(settings.shutdownGraceMilliseconds)",
                "log.level: \(settings.logLevel.rawValue)",
                "log.format: \(settings.logJSON ? "json" : "text")",
                "worker.enabled: \(settings.worker.enabled)",
                "worker.mode: \(settings.worker.mode.rawValue)",
                "worker.maxAttempts: \(settings.worker.maxAttempts)",
                "worker.maxAgeSeconds: \(settings.worker.maxAgeSeconds)",
                "worker.backoffBaseMilliseconds: \(settings.worker.backoffBaseMilliseconds)",
                "worker.backoffCapMilliseconds: \(settings.worker.backoffCapMilliseconds)",
                "sink.type: \(settings.worker.sink.rawValue)",
                "sink.directory: \(settings.worker.sinkDirectory ?? settings.stateDirectory + "/records")",
                "sink.url: \(settings.worker.sinkURL ?? "none")",
                "sink.command: \(settings.worker.sinkCommand.first.map { "\($0) (arguments not shown)" } ?? "none")",
                "sink.postgresURL: " + (postgres.map { "\($0.endpoint) (from \($0.source))" } ?? "none"),
                "sink.table: \(settings.worker.sinkTable)",
                "cluster.postgresURL: " + (cluster.map { "\($0.endpoint) (from \($0.source))" } ?? "none (not in cluster mode)"),
                "cluster.tokenTable: \(settings.cluster?.tokenTable ?? ClusterSettings().tokenTable)",
                "sink.passEnvironment: " + ChildEnvironment.describe(
                    passing: settings.worker.sinkPassEnvironment,
                    built: ChildEnvironment(from: environment, passing: settings.worker.sinkPassEnvironment)),
            ]
            // Where each value came from: the file, or the embedded default.
            let set = Self.keyPaths(inFile: config)
            lines = lines.map { line in
                guard let colon = line.range(of: ": ") else { return line }
                let key = String(line[..<colon.lowerBound])
                guard !["stateDirectory", "webhook.keys", "sink.passEnvironment", "sink.postgresURL", "cluster.postgresURL"].contains(key) else { return line }
                return line + (set.contains(key) ? "  [config file]" : "  [default]")
            }
            lines += settings.xero.describe(secrets: xeroSecrets, stateDirectory: settings.stateDirectory)
            if let tls, let warning = SecretFile.exposure(tls.privateKeyFile) { lines.append("warning: \(warning)") }
            lines.append("config OK")
            writeOut(Array((lines.joined(separator: "\n") + "\n").utf8))
        } catch {
            throw configFailure(error)
        }
    }

    package static func describe(_ tls: TLSContext) -> String {
        let certificate = tls.certificate
        let expires = UTCTimestamp.format(millisecondsSinceEpoch: certificate.notAfter * 1000)
        return "\(tls.certificateChainFile) (\(certificate.subject), expires \(expires)), key \(tls.privateKeyFile)"
    }

    /// Every key path the config file sets (objects and values, not null, not `//` comments).
    package static func keyPaths(inFile path: String?) -> Set<String> {
        guard let path, let bytes = try? FileBytes.read(path), let root = try? JSONParser.parse(bytes) else { return [] }
        var paths = Set<String>()
        func walk(_ value: JSONValue, _ prefix: String) {
            guard case let .object(members) = value.kind else { return }
            for (key, member) in members where !key.hasPrefix("//") {
                if case .null = member.kind { continue }
                let keyPath = prefix.isEmpty ? key : prefix + "." + key
                paths.insert(keyPath)
                walk(member, keyPath)
            }
        }
        walk(root, "")
        return paths
    }
}
