import ByteJSON
import DiskQueue
import EventRecord
import Foundation
import HTTPServer
import Synchronization
import SystemSupport
import TestSupport
import Testing
@testable import Worker

@Suite struct SinkTests {
    private func record(_ resource: String, body: String? = #"{"InvoiceID":"x"}"#) throws -> DeliveryRecord {
        let bytes = event(tenant: "t", resource: resource)
        let queued = QueuedEvent(receivedAt: "2026-11-29T01:00:01.000Z", eventSequence: nil, event: bytes).encoded()
        let item = try QueuedItem.decode(QueueRecord(sequence: 7, payload: queued))
        return DeliveryRecord(items: [item], resource: body.map { Array($0.utf8) }, fetchedAt: "2026-11-29T01:00:02.000Z")!
    }

    /// Retention by size: the oldest files go while all of them pass maxTotalBytes, never the one
    /// being written; the bytes held and the files removed are counted for /metrics. By age: files
    /// of days older than retentionDays go (old days are made by name, as an earlier run left them).
    @Test func directorySinkRetentionDeletesOldFilesButNeverTheCurrentOne() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let out = dir.file("out")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try writeFile(out + "/records-2020-01-01-0001.jsonl", "{}\n")
        try writeFile(out + "/records-2020-01-02-0001.jsonl", "{}\n")
        let sink = DirectorySink(directory: out, maxFileBytes: 1200, retention: .init(days: 30, maxTotalBytes: 2600))
        for n in 0..<12 {
            let results = await sink.deliver([try record("r\(n)")])
            #expect(results.allSatisfy { if case .success = $0 { true } else { false } })
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: out).sorted()
        #expect(!files.contains { $0.hasPrefix("records-2020-") }, "files of old days are gone: \(files)")
        let sizes = try files.map { try FileManager.default.attributesOfItem(atPath: out + "/" + $0)[.size] as! Int }
        // The bound holds as of the last new file; the current file grows past it until the next.
        #expect(sizes.dropLast().reduce(0, +) <= 2600, "\(files) \(sizes)")
        #expect(files.count >= 2)
        let newest = try String(contentsOfFile: out + "/" + files.last!, encoding: .utf8)
        #expect(newest.contains("\"r11\""), "the file being written is kept")
        let usage = sink.diskUsage
        #expect(usage.filesRemoved >= 3, "two old-day files and at least one by size: \(usage)")
        #expect(usage.bytes == sizes.reduce(0, +))
        #expect(DirectorySink.day("2026-03-01", minus: 1) == "2026-02-28")
    }

    /// Two daemons pointed at one records directory (two state directories, one sink
    /// directory): the second is refused with a reason while the first writes there, so neither
    /// can cut or strand the other's accepted lines; once the first is gone, the second writes.
    @Test func aSecondSinkOnOneDirectoryIsRefusedWhileTheFirstWrites() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        var first: DirectorySink? = DirectorySink(directory: dir.file("out"))
        let second = DirectorySink(directory: dir.file("out"))
        #expect(await first?.deliver([try record("a")]).allSatisfy { if case .success = $0 { true } else { false } } == true)
        let refused = await second.deliver([try record("b")])
        guard case let .failure(error) = refused.first else {
            Issue.record("the second sink wrote beside the first: \(refused)")
            return
        }
        #expect(error.reason.contains("is in use by another xero-webhookd"), "\(error.reason)")
        first = nil
        #expect(await second.deliver([try record("b")]).allSatisfy { if case .success = $0 { true } else { false } })
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.file("out"))
        let text = try String(contentsOfFile: dir.file("out") + "/" + files[0], encoding: .utf8)
        #expect(files.count == 1 && text.split(separator: "\n").count == 2, "\(files): \(text)")
    }

    @Test func directorySinkWritesJSONLinesAndRotatesBySize() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let sink = DirectorySink(directory: dir.file("out"), maxFileBytes: 1200)
        for n in 0..<6 {
            let results = await sink.deliver([try record("r\(n)")])
            #expect(results.allSatisfy { if case .success = $0 { true } else { false } })
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.file("out")).sorted()
        #expect(files.count >= 2, "rotated by size: \(files)")
        #expect(files.allSatisfy { $0.hasPrefix("records-") && $0.hasSuffix(".jsonl") })
        var lines: [Substring] = []
        for file in files { lines += try String(contentsOfFile: dir.file("out/\(file)"), encoding: .utf8).split(separator: "\n") }
        #expect(lines.count == 6)
        for (n, line) in lines.enumerated() {
            let json = try JSONParser.parse(Array(line.utf8))
            #expect(json["resourceId"]?.stringValue == "r\(n)")
            #expect(json["sequences"]?.arrayValue?.first?.int64Value == 7)
            #expect(json["resource"]?["InvoiceID"]?.stringValue == "x")
            #expect(json["fetchedAt"]?.stringValue == "2026-11-29T01:00:02.000Z")
        }
    }

    @Test func httpSinkSignsAndRetriesThroughTheWorker() async throws {
        let secret = "sink-secret"
        let received = Mutex<(attempts: Int, bodies: [[UInt8]], signatures: [String])>((0, [], []))
        let server = HTTPServer { request, responder in
            let attempt = received.withLock { state -> Int in
                state.attempts += 1
                state.bodies.append(request.body)
                state.signatures.append(request.head.headers[HTTPSink.signatureHeader] ?? "")
                return state.attempts
            }
            responder.send(HTTPResponse(status: attempt <= 2 ? 500 : 200))
        }
        let port = try server.start(host: "127.0.0.1", port: 0).port
        defer { server.shutdown(grace: .seconds(1)) }

        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let queue = try DiskQueue(directory: dir.file("state/queue"))
        defer { queue.close() }
        try enqueue(queue, [event(tenant: "t", resource: "r")])
        let clock = TestClock()
        let sink = HTTPSink(url: URL(string: "http://127.0.0.1:\(port)/records")!, secret: secret, timeout: .seconds(5))
        let worker = Worker(queue: queue, fetcher: ScriptedFetcher(), sink: sink, stateDirectory: dir.file("state"),
                            now: { clock.now }, random: { 0.5 })
        for expected in 1...3 {
            _ = try await drive(worker) {
                let attempts = received.withLock { $0.attempts }
                let idle = await worker.currentStatus().tenantsInFlight == 0
                return attempts >= expected && idle
            }
            clock.advance(.seconds(60))
        }
        #expect(try await drive(worker) { await worker.currentStatus().position == 2 })
        let state = received.withLock { $0 }
        #expect(state.attempts == 3)
        let verifier = WebhookSignature(current: secret)
        for (body, signature) in zip(state.bodies, state.signatures) {
            #expect(verifier.isValid(header: signature, body: body), "the receiver can verify every attempt")
        }
        #expect(try JSONParser.parse(state.bodies[2])["resourceId"]?.stringValue == "r")
    }

    @Test func aCommandSinkNeedsAProgram() {
        #expect(CommandSink(command: []) == nil)
    }

    @Test func commandSinkAcceptsOnExitZeroAndFailsOtherwise() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let ok = CommandSink(command: ["/bin/sh", "-c", "cat > \(dir.file("got.json"))"], timeout: .seconds(10))!
        let results = await ok.deliver([try record("r")])
        #expect(results.count == 1)
        if case .failure(let error) = results[0] { Issue.record("\(error)") }
        #expect(try JSONParser.parse(Array(String(contentsOfFile: dir.file("got.json"), encoding: .utf8).utf8.dropLast()))["resourceId"]?.stringValue == "r")
        let failing = CommandSink(command: ["/bin/sh", "-c", "exit 3"], timeout: .seconds(10))!
        let failed = await failing.deliver([try record("r")])
        #expect(failed.count == 1)
        if case .failure(let error) = failed[0] { #expect(error.reason.contains("status 3")) } else { Issue.record("exit 3 was accepted") }
        let slow = CommandSink(command: ["/bin/sleep", "30"], timeout: .milliseconds(200))!
        let timedOut = await slow.deliver([try record("r")])
        if case .failure(let error) = timedOut[0] { #expect(error.reason.contains("longer than")) } else { Issue.record("timeout not enforced") }
    }

    @Test func commandSinkTimeoutStopsTheHelpersTheCommandStarted() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        // The command starts a helper and waits for it; the timeout must end both.
        let script = "sleep 30 & echo $! > \(dir.file("helper.pid")); wait"
        let sink = CommandSink(command: ["/bin/sh", "-c", script], timeout: .milliseconds(300))!
        let results = await sink.deliver([try record("r")])
        if case .failure(let error) = results[0] { #expect(error.reason.contains("longer than")) } else { Issue.record("timeout not enforced") }
        let pid = try #require(Int32(String(contentsOfFile: dir.file("helper.pid"), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        // Reaped by its parent's exit and init, or at least dead: kill(pid, 0) fails or /proc shows a zombie.
        #expect(waitUntil(seconds: 10) {
            kill(pid, 0) != 0 || ((try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? "").contains(") Z ")
        })
    }

    @Test func commandSinkRunsAtMostItsConcurrency() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        // Each run marks itself running, counts the runs marked, and stays a moment.
        let script = "mkdir \(dir.path)/run.$$ && ls -d \(dir.path)/run.* | wc -l >> \(dir.file("counts")); sleep 0.05; rmdir \(dir.path)/run.$$"
        let sink = CommandSink(command: ["/bin/sh", "-c", script], timeout: .seconds(30), concurrency: 2)!
        let records = try (0..<60).map { try record("r\($0)") }
        let results = await sink.deliver(records)
        #expect(results.allSatisfy { if case .success = $0 { true } else { false } })
        let counts = try String(contentsOfFile: dir.file("counts"), encoding: .utf8).split(separator: "\n").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        #expect(counts.count == 60)
        #expect((counts.max() ?? 0) <= 2, "more than 2 commands ran at once: \(counts.max() ?? 0)")
    }

    @Test func commandSinkFailureNamesTheFirstLineTheCommandWroteToStderr() async throws {
        let sink = CommandSink(command: ["/bin/sh", "-c", "cat > /dev/null; echo 'no database' >&2; exit 4"], timeout: .seconds(10))!
        let results = await sink.deliver([try record("r")])
        guard case let .failure(error) = results[0] else {
            Issue.record("exit 4 was accepted")
            return
        }
        #expect(error.reason.hasSuffix("exited with status 4: no database"))
    }

    @Test func aDirectorySinkFailureKeepsTheSystemCallAndItsErrno() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try writeFile(dir.file("plain-file"), "not a directory")
        let sink = DirectorySink(directory: dir.file("plain-file") + "/records")
        let results = await sink.deliver([try record("r")])
        guard case let .failure(error) = results[0] else {
            Issue.record("a sink under a regular file accepted a record")
            return
        }
        #expect(error.system?.errno == ENOTDIR, "\(error)")
        #expect(error.reason.contains("cannot create"))
    }

    @Test func aCommandNamedWithoutASlashIsFoundOnThePath() async throws {
        let sink = CommandSink(command: ["true"], timeout: .seconds(10))!
        let results = await sink.deliver([try record("r")])
        if case let .failure(error) = results[0] { Issue.record("\(error)") }
        let missing = CommandSink(command: ["no-such-program-anywhere"], timeout: .seconds(10))!
        let failed = await missing.deliver([try record("r")])
        if case let .failure(error) = failed[0] { #expect(error.reason.contains("was not found")) } else { Issue.record("a missing program delivered") }
    }

    @Test func aCommandPathThatCannotRunSaysWhy() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try writeFile(dir.file("not-executable.sh"), "#!/bin/sh\nexit 0\n")
        chmod(dir.file("not-executable.sh"), 0o644)
        let sink = CommandSink(command: [dir.file("not-executable.sh")], timeout: .seconds(10))!
        let results = await sink.deliver([try record("r")])
        guard case let .failure(error) = results[0] else {
            Issue.record("a file that is not executable ran")
            return
        }
        #expect(error.system?.errno == EACCES, "\(error)")
    }
}

