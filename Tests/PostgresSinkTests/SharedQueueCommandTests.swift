import DaemonConfig
import FakeXero
import Foundation
import PostgresQueue
import PostgresTestSupport
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `queue status`, `queue dump` and `dead …` with `queue.backend: postgres`, as an operator runs
/// them: the built binary, from another working directory, with a config of their own whose
/// state directory does not exist on that machine (the queue is in the database), against
/// daemons that are running.
@Suite(.serialized, .enabled(if: TestPostgres.runs, "needs a PostgreSQL server"))
struct SharedQueueCommandTests {
    static let key = ClusterOperatorTests.key

    /// The admin's config: the cluster and the queue backend only, a state directory that is not there.
    private static func adminConfig(_ dir: TemporaryDirectory, url: String, schema: String) throws -> String {
        let path = dir.file("admin.json")
        try writeFile(path, #"""
            {"stateDirectory": "\#(dir.file("no-such-state"))", "queue": {"backend": "postgres"},
             "cluster": {"postgresURL": "\#(url)", "tokenTable": "\#(schema).xero_webhookd_tokens"}}
            """#)
        return path
    }

    private static func cli(_ arguments: [String], in dir: TemporaryDirectory) async throws -> (status: Int32, stdout: String, stderr: String) {
        let cwd = dir.file("elsewhere")
        try? FileManager.default.createDirectory(atPath: cwd, withIntermediateDirectories: true)
        return try await offPool { try Binary.run(arguments, workingDirectory: cwd) }
    }

    /// POSTs until answered 200 (as Xero retries), on a thread of its own: a blocking socket on
    /// one of the concurrency pool's two threads stalls the other suites' database work.
    private static func post(_ port: UInt16, tenant: String, resource: String, baseURL: String = "https://api.xero.com") async -> [Int] {
        (try? await offPool { ClusterOperatorTests.postUntilAccepted(port, tenant: tenant, resource: resource, baseURL: baseURL) }) ?? []
    }

    /// Everything the directory sink wrote, as one text.
    private static func delivered(_ directory: String) -> String {
        let files = (try? FileManager.default.subpathsOfDirectory(atPath: directory)) ?? []
        return files.compactMap { try? String(contentsOfFile: directory + "/" + $0, encoding: .utf8) }.joined()
    }

    /// A resource Xero keeps failing is dead-lettered by the worker; the operator lists it, shows
    /// it, replays it once Xero has recovered, and the running daemon delivers it.
    @Test func deadLettersOfThePostgresQueueAreListedShownAndReplayed() async throws {
        let server = try TestPostgres.server()
        let schema = TestPostgres.uniqueTable("deadcli")
        _ = try await ClusterOperatorTests.sql(server.url(), "CREATE SCHEMA \(schema)")
        let dir = try TemporaryDirectory("shared-dead-cli")
        defer { dir.remove() }
        let fake = FakeXero()
        defer { fake.shutdown() }
        let baseURL = try fake.start()
        let tenant = "7c1e0000-0000-0000-0000-0000000000d1"
        let bad = "00000000-0000-0000-0000-0000000000d1"
        fake.addTenant(tenant, name: "Dead Letter Org")
        fake.addRecord(tenant: tenant, collection: "Invoices", id: bad)
        fake.fail(id: bad, status: 500, times: 3)  // every attempt (maxAttempts 3)
        let token = fake.issueAccessToken(tenants: [tenant])
        try writeFile(dir.file("config.json"), #"""
            {"stateDirectory": "\#(dir.file("state"))", "listen": {"host": "127.0.0.1", "port": 0},
             "xero": {"apiBaseURL": "\#(baseURL)", "identityBaseURL": "\#(baseURL)", "auth": {"mode": "accessToken"}, "requestTimeoutMilliseconds": 2000},
             "worker": {"maxAttempts": 3, "backoffBaseMilliseconds": 50, "backoffCapMilliseconds": 200},
             "sink": {"type": "directory", "directory": "\#(dir.file("out"))"},
             "queue": {"backend": "postgres", "laneLeaseMilliseconds": 5000},
             "cluster": {"postgresURL": "\#(server.url())", "tokenTable": "\#(schema).xero_webhookd_tokens"}}
            """#)
        let daemon = try await DaemonProcess.started(["serve", "--config", dir.file("config.json")],
                                                     environment: ["PAN_SEC_XERO_WEBHOOK_KEY": Self.key, "PAN_SEC_XERO_ACCESS_TOKEN": token])
        defer { daemon.signal(SIGKILL); _ = daemon.waitForExit() }
        let admin = try Self.adminConfig(dir, url: server.url(), schema: schema)
        #expect(await Self.post(daemon.port, tenant: tenant, resource: bad, baseURL: baseURL).last == 200)

        var list = (status: Int32(-1), stdout: "", stderr: "")
        let buried = try await ClusterOperatorTests.eventually(30) {
            list = try await Self.cli(["dead", "list", "--config", admin], in: dir)
            return list.stdout.contains("1 dead letter\n")
        }
        #expect(buried, "dead list: \(list)")
        #expect(list.status == 0)
        #expect(list.stdout.contains("attempts=3"), "\(list.stdout)")
        #expect(list.stdout.contains("500"), "the last error names Xero's answer: \(list.stdout)")
        #expect(list.stdout.contains("tenant=\(tenant)"), "\(list.stdout)")
        #expect(!Self.delivered(dir.file("out")).contains(bad))

        let json = try await Self.cli(["dead", "list", "--json", "--config", admin], in: dir)
        let letter = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any], "\(json)")
        let id = try #require(letter["id"] as? String)
        #expect(letter["attempts"] as? Int == 3)
        #expect(letter["tenant"] as? String == tenant)
        #expect((letter["eventId"] as? String)?.isEmpty == false)

        let show = try await Self.cli(["dead", "show", id, "--config", admin], in: dir)
        #expect(show.status == 0, "\(show)")
        let shown = try #require(try JSONSerialization.jsonObject(with: Data(show.stdout.utf8)) as? [String: Any], "\(show)")
        #expect((shown["event"] as? [String: Any])?["resourceId"] as? String == bad, "dead show gives the event as received: \(show.stdout)")
        #expect(show.stdout.split(separator: "\n").count == 1)

        let status = try await Self.cli(["queue", "status", "--config", admin], in: dir)
        #expect(status.status == 0, "\(status)")
        #expect(status.stdout.contains("queue: postgres"), "\(status.stdout)")
        #expect(status.stdout.contains("pending: 0\n") && status.stdout.contains("dead letters: 1\n"), "\(status.stdout)")

        // Ids that are not there: named, nothing else changes, exit 1.
        let missing = try await Self.cli(["dead", "replay", "999999999", "not-a-number", "--config", admin], in: dir)
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("no dead letter 999999999") && missing.stderr.contains("no dead letter not-a-number"), "\(missing.stderr)")
        #expect(missing.stdout == "0 queued for replay\n")
        #expect(try await Self.cli(["dead", "show", "999999999", "--config", admin], in: dir).status == 1)

        // Xero has recovered (it failed exactly three times): the replayed event is delivered.
        let replay = try await Self.cli(["dead", "replay", id, "--config", admin], in: dir)
        #expect(replay.status == 0, "\(replay)")
        #expect(replay.stdout == "1 queued for replay\n")
        let redelivered = await ClusterOperatorTests.eventually(30) { Self.delivered(dir.file("out")).contains(bad) }
        #expect(redelivered, "the replayed dead letter was not delivered; daemon log: \(daemon.stderr.suffix(1500))")
        let after = try await Self.cli(["dead", "list", "--config", admin], in: dir)
        #expect(after.stdout == "0 dead letters\n", "\(after)")
        let drained = try await ClusterOperatorTests.eventually(10) {
            try await Self.cli(["queue", "status", "--config", admin], in: dir).stdout.contains("pending: 0\n")
        }
        #expect(drained)

        // Salvage would put events into a disk queue no daemon of this cluster reads.
        let salvage = try await Self.cli(["queue", "salvage", "--config", admin], in: dir)
        #expect(salvage.status == 1 && salvage.stderr.contains("queue.backend is postgres"), "\(salvage)")
    }

    /// Events waiting (the worker is off): `queue status` counts them per tenant and names the
    /// oldest, `--json` says the same, `queue dump` prints each one; `dead purge` deletes a letter.
    @Test func statusAndDumpShowWhatWaitsInThePostgresQueue() async throws {
        let server = try TestPostgres.server()
        let schema = TestPostgres.uniqueTable("statuscli")
        _ = try await ClusterOperatorTests.sql(server.url(), "CREATE SCHEMA \(schema)")
        let dir = try TemporaryDirectory("shared-status-cli")
        defer { dir.remove() }
        try writeFile(dir.file("config.json"), #"""
            {"stateDirectory": "\#(dir.file("state"))", "listen": {"host": "127.0.0.1", "port": 0},
             "worker": {"enabled": false}, "queue": {"backend": "postgres"},
             "cluster": {"postgresURL": "\#(server.url())", "tokenTable": "\#(schema).xero_webhookd_tokens"}}
            """#)
        let daemon = try await DaemonProcess.started(["serve", "--config", dir.file("config.json")], environment: ["PAN_SEC_XERO_WEBHOOK_KEY": Self.key])
        defer { daemon.signal(SIGKILL); _ = daemon.waitForExit() }
        let admin = try Self.adminConfig(dir, url: server.url(), schema: schema)
        let (first, second) = ("7c1e0000-0000-0000-0000-0000000000a1", "7c1e0000-0000-0000-0000-0000000000a2")
        var answers: [Int] = []
        for n in 0..<5 {
            answers.append(await Self.post(daemon.port, tenant: n < 3 ? first : second,
                                                                  resource: String(format: "00000000-0000-0000-0000-%012d", n)).last ?? 0)
        }
        #expect(answers == [200, 200, 200, 200, 200])

        let status = try await Self.cli(["queue", "status", "--config", admin], in: dir)
        #expect(status.status == 0, "\(status)")
        #expect(status.stdout.contains("pending: 5\n"), "\(status.stdout)")
        #expect(status.stdout.contains("tenant \(first): 3\n") && status.stdout.contains("tenant \(second): 2\n"), "\(status.stdout)")
        #expect(status.stdout.contains("oldest pending received: 20"), "\(status.stdout)")
        let json = try await Self.cli(["queue", "status", "--json", "--config", admin], in: dir)
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any], "\(json)")
        #expect(parsed["backend"] as? String == "postgres" && parsed["pending"] as? Int == 5 && parsed["deadLetters"] as? Int == 0)
        #expect((parsed["backlogByTenant"] as? [String: Int]) == [first: 3, second: 2])

        let dump = try await Self.cli(["queue", "dump", "--config", admin], in: dir)
        #expect(dump.status == 0, "\(dump)")
        let lines = dump.stdout.split(separator: "\n")
        #expect(lines.count == 5, "\(dump.stdout)")
        for (n, line) in lines.enumerated() {
            let record = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(record?["sequence"] is Int)
            #expect("\(record?["event"] ?? "")".contains(String(format: "00000000-0000-0000-0000-%012d", n)), "\(line)")
        }

        // One of them fails for good (as a worker's settle buries it); purge deletes it.
        _ = try await ClusterOperatorTests.sql(server.url(), """
            WITH gone AS (DELETE FROM \(schema).xero_webhookd_events WHERE id = (SELECT min(id) FROM \(schema).xero_webhookd_events)
                          RETURNING id, tenant, record, received_at)
            INSERT INTO \(schema).xero_webhookd_dead_events (id, tenant, record, received_at, attempts, reason)
            SELECT id, tenant, record, received_at, 10, 'sink: boom' FROM gone
            """)
        let purge = try await Self.cli(["dead", "purge", "--all", "--config", admin], in: dir)
        #expect(purge.status == 0 && purge.stdout == "1 purged\n", "\(purge)")
        let dead = try await ClusterOperatorTests.sql(server.url(), "SELECT count(*) FROM \(schema).xero_webhookd_dead_events")
        #expect(dead == 0)
        #expect(try await Self.cli(["queue", "status", "--config", admin], in: dir).stdout.contains("pending: 4\n"))
    }

    /// A database that refuses the operator's command (a wrong password) ends it with one line
    /// naming the database and the reason, exit 1, and prints no password.
    @Test func aRefusedDatabaseEndsTheCommandWithTheReason() async throws {
        let server = try TestPostgres.server()
        let dir = try TemporaryDirectory("shared-refused-cli")
        defer { dir.remove() }
        let url = "postgres://nosuchrole:hunter2secret@" + server.url().split(separator: "@", maxSplits: 1)[1]
        let admin = try Self.adminConfig(dir, url: url, schema: "public")
        let status = try await Self.cli(["queue", "status", "--config", admin], in: dir)
        #expect(status.status == 1, "\(status)")
        #expect(status.stderr.contains("queue status: the postgres queue at"), "\(status.stderr)")
        // The server's reason (role unknown: SQLSTATE 28000), not a wait that ran out.
        #expect(status.stderr.contains("nosuchrole") && status.stderr.contains("SQLSTATE 28000"), "the reason names the role: \(status.stderr)")
        #expect(!status.stderr.contains("hunter2secret") && !status.stdout.contains("hunter2secret"))
    }

    /// More events and dead letters than one page (1000): `queue dump`, `dead list` and
    /// `dead replay --all` go through all of them, each page bounded on its own. Records the
    /// worker cannot read (a tenantId that is a number, no resourceId) still show the time
    /// they were received and their event id. Ids are taken as `dead list` prints them.
    @Test func everyPageOfALargeQueueIsListedAndReplayed() async throws {
        let server = try TestPostgres.server()
        let schema = TestPostgres.uniqueTable("pagescli")
        _ = try await ClusterOperatorTests.sql(server.url(), "CREATE SCHEMA \(schema)")
        let dir = try TemporaryDirectory("shared-pages-cli")
        defer { dir.remove() }
        let admin = try Self.adminConfig(dir, url: server.url(), schema: schema)
        // An operator's command does not create the tables: a wrong URL or schema is named, not "pending: 0".
        let none = try await Self.cli(["queue", "status", "--config", admin], in: dir)
        #expect(none.status == 1 && none.stdout.isEmpty && none.stderr.contains("no table") && none.stderr.contains("xero_webhookd_events")
                && none.stderr.contains("no daemon with queue.backend postgres has started against this database and schema"), "\(none)")
        #expect(try await Self.cli(["dead", "list", "--config", admin], in: dir).status == 1)
        #expect(try await ClusterOperatorTests.sql(server.url(), "SELECT count(*) FROM pg_tables WHERE schemaname = '\(schema)'") == 0)
        // A daemon creates them as it starts (here one that only receives, and has received nothing).
        try writeFile(dir.file("config.json"), #"""
            {"stateDirectory": "\#(dir.file("state"))", "listen": {"host": "127.0.0.1", "port": 0},
             "worker": {"enabled": false}, "queue": {"backend": "postgres"},
             "cluster": {"postgresURL": "\#(server.url())", "tokenTable": "\#(schema).xero_webhookd_tokens"}}
            """#)
        let daemon = try await DaemonProcess.started(["serve", "--config", dir.file("config.json")], environment: ["PAN_SEC_XERO_WEBHOOK_KEY": Self.key])
        let ready = try await ClusterOperatorTests.eventually(30) {
            try await Self.cli(["queue", "status", "--config", admin], in: dir).stdout.contains("pending: 0\n")
        }
        #expect(ready, "the daemon did not create the queue's tables at start")
        daemon.signal(SIGTERM)
        #expect(await daemon.exited() == 0)
        // A schema a newer daemon migrated: the command refuses it, as the daemon does.
        _ = try await ClusterOperatorTests.sql(server.url(), "INSERT INTO \(schema).xero_webhookd_migrations (table_name, version) VALUES ('xero_webhookd_queue', 99)")
        let newer = try await Self.cli(["dead", "purge", "--all", "--config", admin], in: dir)
        #expect(newer.status == 1 && newer.stderr.contains("schema version 99, newer than this xero-webhookd knows"), "\(newer)")
        _ = try await ClusterOperatorTests.sql(server.url(), "DELETE FROM \(schema).xero_webhookd_migrations WHERE version = 99")
        let (events, dead) = ("\(schema).xero_webhookd_events", "\(schema).xero_webhookd_dead_events")
        _ = try await ClusterOperatorTests.sql(server.url(), """
            INSERT INTO \(events) (tenant, record)
            VALUES ('', convert_to('{"receivedAt":"2026-11-30T00:00:00.000Z","event":{"tenantId":42,"eventType":"UPDATE"}}', 'UTF8'))
            """)
        func record(_ resource: String) -> String {
            #"convert_to(format('{"receivedAt":"2026-12-01T00:00:00.000Z","event":{"resourceId":"%s","tenantId":"t-1","eventCategory":"INVOICE","eventType":"UPDATE"}}', \#(resource)), 'UTF8')"#
        }
        _ = try await ClusterOperatorTests.sql(server.url(), "INSERT INTO \(events) (tenant, record) SELECT 't-1', \(record("'r-' || n")) FROM generate_series(1, 2500) n")
        // Ids at the ends of bigint's range (an operator's rows, or a sequence's last values).
        _ = try await ClusterOperatorTests.sql(server.url(), "INSERT INTO \(events) (id, tenant, record) VALUES (-5, 't-1', \(record("'r-neg'")))")
        _ = try await ClusterOperatorTests.sql(server.url(), """
            INSERT INTO \(dead) (id, tenant, record, received_at, attempts, reason)
            SELECT 100000 + n, 't-1', \(record("'d-' || n")), now(), 3, 'Xero answered 500' FROM generate_series(1, 2500) n
            UNION ALL
            SELECT 7, 't-1', convert_to('{"receivedAt":"2026-11-30T00:00:00.000Z","event":{"tenantId":"t-1","eventType":"UPDATE"}}', 'UTF8'), now(), 1, 'no resourceId'
            UNION ALL SELECT 9223372036854775807, 't-1', \(record("'e-max'")), now(), 3, 'Xero answered 500'
            UNION ALL SELECT -3, 't-1', \(record("'e-neg'")), now(), 3, 'Xero answered 500'
            """)

        let status = try await Self.cli(["queue", "status", "--config", admin], in: dir)
        #expect(status.stdout.contains("pending: 2502\n") && status.stdout.contains("oldest pending received: 2026-11-30T00:00:00.000Z"), "\(status.stdout)")
        let dump = try await Self.cli(["queue", "dump", "--config", admin], in: dir)
        let sequences = dump.stdout.split(separator: "\n").compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["sequence"] as? Int
        }
        #expect(dump.status == 0 && sequences.count == 2502 && sequences == sequences.sorted() && Set(sequences).count == 2502, "\(dump.stderr)")
        #expect(sequences.first == -5)

        let list = try await Self.cli(["dead", "list", "--config", admin], in: dir)
        let ids = list.stdout.split(separator: "\n").dropLast().map { String($0.prefix { $0 != "\t" }) }
        #expect(list.status == 0 && list.stdout.hasSuffix("\n2503 dead letters\n"), "\(list.stdout.suffix(200))")
        #expect(ids.count == 2503 && Set(ids).count == 2503 && ids.first == "9223372036854775807" && ids.last == "-3", "\(ids.prefix(3)) … \(ids.suffix(3))")
        let show = try await Self.cli(["dead", "show", "7", "--config", admin], in: dir)
        let shown = try #require(try JSONSerialization.jsonObject(with: Data(show.stdout.utf8)) as? [String: Any], "\(show)")
        #expect(shown["receivedAt"] as? String == "2026-11-30T00:00:00.000Z" && (shown["eventId"] as? String)?.count == 32, "\(show.stdout)")
        #expect(try await Self.cli(["dead", "show", "07", "--config", admin], in: dir).status == 1)

        let purge = try await Self.cli(["dead", "purge", "7", "7", "--config", admin], in: dir)
        #expect(purge.status == 0 && purge.stdout == "1 purged\n" && purge.stderr.isEmpty, "\(purge)")
        let replay = try await Self.cli(["dead", "replay", "--all", "--config", admin], in: dir)
        #expect(replay.status == 0 && replay.stdout == "2502 queued for replay\n", "\(replay)")
        #expect(try await ClusterOperatorTests.sql(server.url(), "SELECT count(*) FROM \(dead)") == 0)
        #expect(try await ClusterOperatorTests.sql(server.url(), "SELECT count(*) FROM \(events)") == 5004)
        // In the order they came in (the letters' ids), across pages: d-1 first, d-2500 last.
        let outOfOrder = try await ClusterOperatorTests.sql(server.url(), """
            SELECT count(*) FROM (
                SELECT substring(convert_from(record, 'UTF8') from '"d-([0-9]+)"')::int AS n, row_number() OVER (ORDER BY id) AS k
                FROM \(events) WHERE convert_from(record, 'UTF8') LIKE '%"d-%') replayed
            WHERE n <> k
            """)
        #expect(outOfOrder == 0, "replayed letters out of the order they came in")
    }

    /// `dead replay --all` while a daemon's worker buries the replayed letters again at once
    /// (records it cannot read): the run replays each letter there was once and ends. Taking
    /// pages by a cursor, it took the letters buried again under their new ids and ran for ever.
    @Test func replayAllEndsWhileTheWorkerBuriesTheLettersAgain() async throws {
        let server = try TestPostgres.server()
        let schema = TestPostgres.uniqueTable("reburycli")
        _ = try await ClusterOperatorTests.sql(server.url(), "CREATE SCHEMA \(schema)")
        let dir = try TemporaryDirectory("shared-rebury-cli")
        defer { dir.remove() }
        let fake = FakeXero()
        defer { fake.shutdown() }
        let baseURL = try fake.start()
        try writeFile(dir.file("config.json"), #"""
            {"stateDirectory": "\#(dir.file("state"))", "listen": {"host": "127.0.0.1", "port": 0},
             "xero": {"apiBaseURL": "\#(baseURL)", "identityBaseURL": "\#(baseURL)", "auth": {"mode": "accessToken"}},
             "sink": {"type": "directory", "directory": "\#(dir.file("out"))"},
             "queue": {"backend": "postgres"},
             "cluster": {"postgresURL": "\#(server.url())", "tokenTable": "\#(schema).xero_webhookd_tokens"}}
            """#)
        let daemon = try await DaemonProcess.started(["serve", "--config", dir.file("config.json")],
                                                     environment: ["PAN_SEC_XERO_WEBHOOK_KEY": Self.key, "PAN_SEC_XERO_ACCESS_TOKEN": fake.issueAccessToken(tenants: [])])
        defer { daemon.signal(SIGKILL); _ = daemon.waitForExit() }
        let admin = try Self.adminConfig(dir, url: server.url(), schema: schema)
        let tables = try await ClusterOperatorTests.eventually(30) {
            try await Self.cli(["queue", "status", "--config", admin], in: dir).status == 0
        }
        #expect(tables)
        _ = try await ClusterOperatorTests.sql(server.url(), """
            INSERT INTO \(schema).xero_webhookd_dead_events (id, tenant, record, received_at, attempts, reason)
            SELECT -n, 't-' || (n % 50), convert_to('not a record', 'UTF8'), now(), 1, 'unreadable' FROM generate_series(1, 20000) n
            """)
        let replay = try await offPool { try Binary.runProgram("/usr/bin/timeout", ["120", Binary.path, "dead", "replay", "--all", "--config", admin]) }
        #expect(replay.status == 0 && replay.stdout == "20000 queued for replay\n", "\(replay.status) \(replay.stdout.suffix(200)) \(replay.stderr.suffix(500))")
        let reburied = try await ClusterOperatorTests.eventually(60) {
            try await ClusterOperatorTests.sql(server.url(), "SELECT count(*) FROM \(schema).xero_webhookd_dead_events") == 20000
        }
        #expect(reburied)
    }

    /// A node switched from the disk queue to the postgres queue while its disk queue still held
    /// accepted events: nothing reads them any more, so the daemon says so at start, with where.
    @Test func switchingToThePostgresQueueWithEventsLeftOnDiskIsReported() async throws {
        let server = try TestPostgres.server()
        let schema = TestPostgres.uniqueTable("switchq")
        _ = try await ClusterOperatorTests.sql(server.url(), "CREATE SCHEMA \(schema)")
        let dir = try TemporaryDirectory("shared-switch")
        defer { dir.remove() }
        func config(_ backend: String) throws {
            try writeFile(dir.file("config.json"), #"""
                {"stateDirectory": "\#(dir.file("state"))", "listen": {"host": "127.0.0.1", "port": 0},
                 "worker": {"enabled": false}, "queue": {"backend": "\#(backend)"},
                 "cluster": {"postgresURL": "\#(server.url())", "tokenTable": "\#(schema).xero_webhookd_tokens"}}
                """#)
        }
        try config("disk")
        let disk = try await DaemonProcess.started(["serve", "--config", dir.file("config.json")], environment: ["PAN_SEC_XERO_WEBHOOK_KEY": Self.key])
        #expect(await Self.post(disk.port, tenant: "7c1e0000-0000-0000-0000-0000000000b1",
                                                       resource: "00000000-0000-0000-0000-0000000000b1").last == 200)
        disk.signal(SIGTERM)
        #expect(await disk.exited() == 0)
        try config("postgres")
        let shared = try await DaemonProcess.started(["serve", "--config", dir.file("config.json")], environment: ["PAN_SEC_XERO_WEBHOOK_KEY": Self.key])
        defer { shared.signal(SIGKILL); _ = shared.waitForExit() }
        let warning = shared.stderr.split(separator: "\n").first { $0.contains("local disk queue still holds events") }
        #expect(warning?.contains(dir.file("state")) == true, "\(shared.stderr.suffix(2000))")
    }
}
