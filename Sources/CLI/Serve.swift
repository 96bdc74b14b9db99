import ArgumentParser
import DaemonConfig
import DaemonRuntime
import DiskQueue
import Dispatch
import EventRecord
import Foundation
import HTTPServer
import Logging
import OpenSSLSupport
#if PostgreSQL
import PostgresQueue
import PostgresSink
import PostgresSupport
#endif
import SystemSupport
import Worker
import XeroAPI
import XeroWebhooks
#if canImport(Glibc)
import Glibc
#endif

package struct Serve: ParsableCommand {
    package init() {}

    package static let configuration = CommandConfiguration(abstract: "Run the daemon.")

    @Option(help: "Config file (JSON). Without it the embedded defaults apply.")
    package var config: String?

    @Option(help: ArgumentHelp("Listen on this address instead of the configured one; port 0 picks a free port.", valueName: "host:port"))
    package var listen: String?

    @Option(help: ArgumentHelp("Log level instead of the config's log.level (also after a reload): trace, debug, info, notice, warning, error, critical.",
                               valueName: "level"))
    package var logLevel: DaemonConfig.LogLevel?

    package func run() throws {
        // SIGTERM, SIGINT and SIGHUP stay blocked in every thread (threads started from here on
        // inherit the mask) and the main thread takes them with sigwait() at the end. A
        // DispatchSource signal source lost a SIGTERM that arrived during a busy startup
        // (the daemon then never stopped), so signals do not go through Dispatch here.
        var held = sigset_t()
        sigemptyset(&held)
        for number in [SIGTERM, SIGINT, SIGHUP] { sigaddset(&held, number) }
        pthread_sigmask(SIG_BLOCK, &held, nil)
        let environment = ProcessInfo.processInfo.environment
        let settings: DaemonConfig
        let keys: WebhookKeys
        let faults: FaultInjector?
        let client: XeroClient?
        let sink: (any Sink)?
        let tls: TLSContext?
        do {
            var loaded = try ConfigLoader.load(path: config, environment: environment)
            if let listen {
                (loaded.listenHost, loaded.listenPort) = try ListenAddress.parse(listen, defaultHost: loaded.listenHost)
            }
            if let logLevel { loaded.logLevel = logLevel }
            settings = loaded
            keys = try WebhookKeys.load(keyFile: loaded.webhookKeyFile, environment: environment)
            tls = try loaded.tls?.makeContext()
            faults = try FailPoints.injector(environment: environment)
            client = try loaded.xero.makeClient(stateDirectory: loaded.stateDirectory, environment: environment,
                                                sharedTokens: try Self.sharedTokens(loaded, environment: environment),
                                                rateBudget: try Self.sharedRateBudget(loaded, environment: environment))
            sink = loaded.worker.enabled
                ? try SinkFactory.make(loaded.worker, stateDirectory: loaded.stateDirectory, environment: environment, postgres: Self.postgresSink) : nil
        } catch {
            throw configFailure(error)
        }

        let journal = JournalStream.matches(environment)
        let level = StderrLogHandler.Level(Logger.Level(rawValue: settings.logLevel.rawValue) ?? .info)
        let json = settings.logJSON
        LoggingSystem.bootstrap { label in StderrLogHandler(label: label, level: level, journal: journal, json: json) }
        let logger = Logger(label: "xero-webhookd")

        // Writes to a vanished peer must fail with EPIPE, not kill the process.
        signal(SIGPIPE, SIG_IGN)
        // Request bodies over 128 KiB get their own mappings, given back to the kernel when freed:
        // glibc otherwise raises this threshold as big blocks are freed and keeps them in its
        // arenas, so a burst of large bodies left the process at twice the request memory budget.
        MallocTuning.mapBlocksOfAtLeast(128 * 1024)
        logger.info("starting", metadata: ["pid": "\(getpid())", "keys": "\(keys.masked)"])
        let descriptors = DescriptorLimit.raiseSoftToHard()
        logger.info("descriptor limit", metadata: [
            "soft": "\(descriptors.after.soft.map(String.init) ?? "unlimited")",
            "hard": "\(descriptors.after.hard.map(String.init) ?? "unlimited")",
            "softAtStart": "\(descriptors.before.soft.map(String.init) ?? "unlimited")",
            "reserve": "\(settings.limits.descriptorReserve)",
        ])
        let needed = UInt64(settings.limits.maxConnections + settings.limits.descriptorReserve + 32)
        if let soft = descriptors.after.soft, soft < needed {
            logger.warning("descriptor limit below what limits.maxConnections needs; connections beyond it are refused", metadata: [
                "soft": "\(soft)", "maxConnections": "\(settings.limits.maxConnections)",
                "hint": "raise LimitNOFILE= in the unit or lower limits.maxConnections",
            ])
        }
        for warning in keys.warnings { logger.warning("secret file exposed", metadata: ["problem": "\(warning)"]) }
        if let tls {
            logger.info("tls on", metadata: Self.certificateMetadata(tls))
            if let warning = SecretFile.exposure(tls.privateKeyFile) {
                logger.warning("secret file exposed", metadata: ["problem": "\(warning)"])
            }
        }
        let daemon: Daemon
        let address: SocketAddress
        do {
            if faults != nil {
                logger.warning("fault injection is on", metadata: ["points": "\(environment[FailPoints.environmentVariable] ?? "")"])
            }
            if let client {
                let note = TenantURLReading.read(environment: environment, apiBaseURL: settings.xero.apiBaseURL).note
                logger.info("xero tenants", metadata: ["scope": "\(client.tenantScope)"])
                if let note { logger.warning("tenant url not used", metadata: ["reason": "\(note)"]) }
                // Loading the secrets accepted an unreadable EXPIRES_IN only because the token carries its own exp.
                if environment[XeroSecrets.accessTokenVariable] != nil,
                   case let .failure(problem) = XeroSecrets.readExpiresIn(environment) {
                    logger.warning("expires in not used",
                                   metadata: ["reason": "\(problem.description); the token's own exp is its expiry"])
                }
            }
            if settings.worker.enabled && settings.worker.mode == .fetch && client == nil {
                logger.notice("worker off: no Xero credentials configured (xero.auth.mode is none); events stay queued (worker.mode events delivers the events themselves)")
            }
            let fetcher: (any ResourceFetcher)? = settings.worker.mode == .events ? EventsOnlyFetcher() : client.map(XeroFetcher.init)
            var xeroMetrics: (@Sendable () async -> XeroClientMetrics)?
            if let client { xeroMetrics = { await client.metrics() } }
            if settings.cluster != nil, let client {
                // Offers the set `authorize` left in the local token file to the shared store now,
                // not at this daemon's first fetch: the other daemons find it there from the start
                // rather than pausing until their next look (30 s later).
                Task { _ = await client.tokenStatus() }
            }
            daemon = try Daemon(config: settings, keys: keys, logger: logger, tls: tls, faults: faults,
                                fetcher: fetcher, sink: sink, xeroMetrics: xeroMetrics,
                                sharedQueue: try Self.sharedQueue(settings, environment: environment, fetcher: fetcher, sink: sink))
            address = try daemon.start(environment: environment)
        } catch {
            logger.critical("cannot start", metadata: ["error": "\(error)"])
            throw ExitCode.failure
        }

        let notifier = SystemdNotifier(environment: environment)
        notifier.notify("READY=1\nSTATUS=Receiving on \(address)\nMAINPID=\(getpid())")

        let control = DispatchQueue(label: "xero-webhookd.control")
        var sources: [any DispatchSourceProtocol] = []
        let configPath = config
        if let interval = SystemdNotifier.watchdogInterval(environment: environment) {
            // Pings only while the HTTP queues answer, the queue works and the worker makes
            // passes; a stuck daemon stops pinging and systemd restarts it.
            let watchdog = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "xero-webhookd.watchdog"))
            let nanoseconds = Int(interval.components.seconds) * 1_000_000_000 + Int(interval.components.attoseconds / 1_000_000_000)
            watchdog.schedule(deadline: .now(), repeating: .nanoseconds(nanoseconds))
            watchdog.setEventHandler {
                if daemon.isAlive() { notifier.notify("WATCHDOG=1") }
            }
            watchdog.resume()
            sources.append(watchdog)
        }
        withExtendedLifetime(sources) {
            while true {
                var number: Int32 = 0
                guard sigwait(&held, &number) == 0 else { continue }
                if number == SIGHUP {
                    control.async {
                        let started = ReloadResult.Moment.now()
                        // RELOADING=1 with the monotonic time, then READY=1 once done: what
                        // Type=notify-reload (systemd 253 and later) waits for. A rejected config
                        // adds ERRNO= and says why in STATUS=.
                        var now = timespec()
                        clock_gettime(CLOCK_MONOTONIC, &now)
                        notifier.notify("RELOADING=1\nMONOTONIC_USEC=\(Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec) / 1000)\nSTATUS=Reloading the configuration")
                        let problem = Self.reload(configPath: configPath, logLevel: logLevel, running: settings, daemon: daemon, client: client,
                                                  level: level, logger: logger)
                        if let problem {
                            notifier.notify("READY=1\nERRNO=\(EINVAL)\nSTATUS=Reload rejected, the running configuration stays: \(problem)")
                        } else {
                            notifier.notify("READY=1\nSTATUS=Receiving on \(address); configuration reloaded")
                        }
                        // The verdict `xero-webhookd reload` (the unit's ExecReload) waits for.
                        do {
                            try ReloadResult(pid: Int(getpid()), started: started, error: problem).write(stateDirectory: settings.stateDirectory)
                        } catch {
                            logger.warning("cannot write the reload result", metadata: ["error": "\(error)"])
                        }
                    }
                    continue
                }
                logger.info("stopping", metadata: ["signal": "\(number == SIGTERM ? "SIGTERM" : "SIGINT")"])
                notifier.notify("STOPPING=1\nSTATUS=Finishing requests in progress")
                daemon.stop()
                if let client {
                    // The day's call counts and parks, for the next start.
                    runBlocking { await client.flushState() }
                }
                logger.info("stopped")
                Glibc.exit(0)
            }
        }
    }

    /// SIGHUP: re-reads the config and secrets. Webhook keys, the log level and Xero token files
    /// take effect at once; an invalid config is rejected and the running one stays.
    /// Returns why the new config was rejected, or nil when it took effect.
    @discardableResult
    package static func reload(configPath: String?, logLevel: DaemonConfig.LogLevel?, running: DaemonConfig, daemon: Daemon, client: XeroClient?,
                       level: StderrLogHandler.Level, logger: Logger) -> String? {
        let environment = ProcessInfo.processInfo.environment
        do {
            var reloaded = try ConfigLoader.load(path: configPath, environment: environment)
            if let logLevel { reloaded.logLevel = logLevel }
            let keys = try WebhookKeys.load(keyFile: reloaded.webhookKeyFile, environment: environment)
            // The certificate is swapped first: if it fails, nothing has changed.
            if daemon.tls == nil, let files = reloaded.tls {
                // Turning TLS on needs a restart; the files are checked now so the restart will not fail.
                _ = try files.makeContext()
            }
            if let tls = daemon.tls, let files = reloaded.tls {
                try files.reload(tls)
                logger.info("tls certificate reloaded", metadata: certificateMetadata(tls))
                if let warning = SecretFile.exposure(tls.privateKeyFile) {
                    logger.warning("secret file exposed", metadata: ["problem": "\(warning)"])
                }
            }
            daemon.updateKeys(keys)
            level.current = Logger.Level(rawValue: reloaded.logLevel.rawValue) ?? .info
            Task {
                await client?.reloadCredentials()
                await daemon.recheckPauses()  // paused credentials and disconnected tenants are checked now
            }
            logger.info("configuration reloaded", metadata: ["keys": "\(keys.masked)", "logLevel": "\(reloaded.logLevel.rawValue)"])
            var rest = reloaded
            rest.webhookKeyFile = running.webhookKeyFile
            rest.logLevel = running.logLevel
            if rest.tls != nil && running.tls != nil { rest.tls = running.tls }
            if rest != running {
                logger.notice("other changed settings (listen, tls on/off, state, limits, queue, worker, sink, xero hosts) take effect after a restart")
            }
        } catch {
            logger.error("reload rejected; the running configuration stays", metadata: ["error": "\(error)"])
            return "\(error)"
        }
        return nil
    }

    /// The postgres sink's maker when this build has PostgreSQL support (the PostgreSQL trait), else nil.
    package static var postgresSink: SinkFactory.PostgresMaker? {
        #if PostgreSQL
        return PostgresSink.maker
        #else
        return nil
        #endif
    }

    /// Cluster mode's shared token store (nil without a `cluster` section); a config error when
    /// this build has no PostgreSQL support.
    package static func sharedTokens(_ config: DaemonConfig, environment: [String: String]) throws(ConfigError) -> (any SharedTokenStore)? {
        guard let cluster = config.cluster else { return nil }
        let endpoint = try cluster.endpoint(environment: environment).endpoint
        #if PostgreSQL
        // A renewal's lease outlasts one refresh with its two resends after a lost answer.
        let lease = Duration.milliseconds(config.xero.requestTimeoutMilliseconds) * 3 + .seconds(10)
        return PostgresTokenStore(endpoint: endpoint, table: cluster.tokenTable, leaseLength: lease)
        #else
        _ = endpoint
        throw ConfigError("cluster", "this build of xero-webhookd has no PostgreSQL support (built without the PostgreSQL trait)")
        #endif
    }

    /// Cluster mode's shared queue (`queue.backend: postgres`) and its worker (nil when the
    /// worker is off); nil with the disk queue.
    package static func sharedQueue(_ config: DaemonConfig, environment: [String: String], fetcher: (any ResourceFetcher)?, sink: (any Sink)?) throws -> (store: any EventStore, worker: SharedQueueWorkerMaker?)? {
        guard config.queueBackend == .postgres, let cluster = config.cluster else { return nil }
        let endpoint = try cluster.endpoint(environment: environment).endpoint
        #if PostgreSQL
        let queue = PostgresEventQueue(endpoint: endpoint, schema: cluster.schema)
        // The tables at start, so an operator's command finds them before the first delivery (a
        // database down now: the first append or claim creates them).
        Task { try? await queue.prepare() }
        guard config.worker.enabled, let fetcher, let sink else { return (queue, nil) }
        let (configuration, lease) = (config.worker.workerConfiguration, Duration.milliseconds(config.queueLaneLeaseMilliseconds))
        return (queue, { onEvent in
            PostgresQueueWorker(queue: queue, fetcher: fetcher, sink: sink, configuration: configuration, lease: lease, onEvent: onEvent)
        })
        #else
        _ = endpoint
        throw ConfigError("queue.backend", "this build of xero-webhookd has no PostgreSQL support (built without the PostgreSQL trait)")
        #endif
    }

    /// Cluster mode's shared rate budget (nil without a `cluster` section).
    package static func sharedRateBudget(_ config: DaemonConfig, environment: [String: String]) throws(ConfigError) -> (any RateBudget)? {
        guard let cluster = config.cluster else { return nil }
        let endpoint = try cluster.endpoint(environment: environment).endpoint
        #if PostgreSQL
        // An admitted call counts as in progress for at most one request timeout and a margin
        // after its daemon stopped answering for it.
        let lease = Duration.milliseconds(config.xero.requestTimeoutMilliseconds) + .seconds(10)
        return PostgresRateBudget(endpoint: endpoint, limits: config.xero.apiConfiguration.limits, callLease: lease, schema: cluster.schema)
        #else
        _ = endpoint
        throw ConfigError("cluster", "this build of xero-webhookd has no PostgreSQL support (built without the PostgreSQL trait)")
        #endif
    }

    package static func certificateMetadata(_ tls: TLSContext) -> Logger.Metadata {
        let certificate = tls.certificate
        return [
            "subject": "\(certificate.subject)", "issuer": "\(certificate.issuer)",
            "notAfter": "\(UTCTimestamp.format(millisecondsSinceEpoch: certificate.notAfter * 1000))",
            "certificateChainFile": "\(tls.certificateChainFile)",
        ]
    }
}

extension DaemonConfig.LogLevel: ExpressibleByArgument {}
