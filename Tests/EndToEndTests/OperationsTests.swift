import ByteJSON
import EventRecord
import Foundation
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Health, metrics and reload, against the real binary.
@Suite(.serialized) struct OperationsTests {
    private func post(_ client: RawHTTPClient, key: String, body: String) throws -> Int {
        let bytes = Array(body.utf8)
        let signature = WebhookSignature(current: key).signature(for: bytes)
        return try client.exchange(RawHTTPClient.post("/webhooks/xero", body: bytes, headers: [("x-xero-signature", signature)])).status
    }

    private static let delivery = #"{"events":[{"resourceId":"m1","eventCategory":"INVOICE","tenantId":"t"},{"resourceId":"m2","eventCategory":"INVOICE","tenantId":"t"}],"firstEventSequence":1,"lastEventSequence":2,"entropy":"M"}"#

    @Test func metricsCountAnswersEventsAndSyncs() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try writeFile(dir.file("config.json"), #"{"stateDirectory": "\#(dir.file("state"))", "listen": {"port": 0}}"#)
        let daemon = try DaemonProcess(["serve", "--config", dir.file("config.json")], environment: ["PAN_SEC_XERO_WEBHOOK_KEY": "metrics-key-0123456789"])
        let client = try RawHTTPClient(port: daemon.port)
        #expect(try post(client, key: "metrics-key-0123456789", body: Self.delivery) == 200)
        #expect(try post(client, key: "metrics-key-0123456789", body: Self.delivery) == 200)
        #expect(try post(client, key: "wrong", body: Self.delivery) == 401)
        let ready = try client.exchange(Array("GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        #expect(ready.status == 200)
        let response = try client.exchange(Array("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        #expect(response.status == 200)
        #expect(response.header("Content-Type")?.hasPrefix("text/plain; version=0.0.4") == true)
        let text = String(decoding: response.body, as: UTF8.self)
        let lines = Set(text.split(separator: "\n").map(String.init))
        #expect(lines.contains(#"xero_webhookd_http_responses_total{status="200"} 3"#))  // two deliveries and /readyz
        #expect(lines.contains(#"xero_webhookd_http_responses_total{status="401"} 1"#))
        #expect(lines.contains("xero_webhookd_signature_failures_total 1"))
        #expect(lines.contains("xero_webhookd_events_enqueued_total 4"))
        #expect(lines.contains("xero_webhookd_queue_depth 4"))  // no worker configured: all still queued
        #expect(lines.contains("xero_webhookd_queue_failed 0"))
        let syncs = try #require(lines.first { $0.hasPrefix("xero_webhookd_queue_fsync_seconds_count ") })
        let count = try #require(Int(syncs.split(separator: " ")[1]))
        #expect(count >= 1 && count <= 2)
        #expect(lines.contains(#"xero_webhookd_queue_fsync_seconds_bucket{le="+Inf"} \#(count)"#))
        #expect(lines.contains("xero_webhookd_queue_batch_events_sum 4"))
        #expect(text.contains("# TYPE xero_webhookd_queue_fsync_seconds histogram"))
        // Every sample line is "name{labels} value" or "name value" with a numeric value.
        for line in lines where !line.hasPrefix("#") {
            #expect(Double(line.split(separator: " ").last ?? "") != nil, "\(line)")
        }
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit() == 0)
    }

    @Test func sighupReloadsKeysAndLogLevelAndRejectsABadConfig() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let config = dir.file("config.json")
        let good = #"{"stateDirectory": "\#(dir.file("state"))", "listen": {"port": 0}, "webhook": {"keyFile": "\#(dir.file("keys"))"}, "log": {"level": "info"}}"#
        try writeFile(config, good)
        try writeFile(dir.file("keys"), "old-key-0123456789\n")
        let daemon = try DaemonProcess(["serve", "--config", config], environment: [:])
        let client = try RawHTTPClient(port: daemon.port)
        #expect(try post(client, key: "old-key-0123456789", body: Self.delivery) == 200)
        #expect(try post(client, key: "new-key-0123456789", body: Self.delivery) == 401)

        // Rotation: the new key first, the old one still accepted during the changeover.
        try writeFile(dir.file("keys"), "new-key-0123456789\nold-key-0123456789\n")
        try writeFile(config, good.replacingOccurrences(of: #""level": "info""#, with: #""level": "debug""#))
        daemon.signal(SIGHUP)
        #expect(waitUntil(seconds: 10) { daemon.stderr.contains("configuration reloaded") })
        #expect(try post(client, key: "new-key-0123456789", body: Self.delivery) == 200)
        #expect(try post(client, key: "old-key-0123456789", body: Self.delivery) == 200)
        #expect(waitUntil(seconds: 10) { daemon.stderr.contains("debug events queued") }, "log level reloaded to debug")

        // A broken config is refused and the running one (with both keys) stays.
        try writeFile(config, #"{"listen": {"port": 99999}}"#)
        daemon.signal(SIGHUP)
        #expect(waitUntil(seconds: 10) { daemon.stderr.contains("reload rejected") })
        #expect(try post(client, key: "new-key-0123456789", body: Self.delivery) == 200)
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit() == 0)
        #expect(!daemon.stderr.contains("new-key-0123456789") && !daemon.stderr.contains("old-key-0123456789"), "keys are never logged")
    }

    /// `reload --pid`, the unit's ExecReload, run from / as systemd runs it: 0 when the daemon
    /// took the new configuration, 1 with the daemon's reason when it rejected it (so
    /// `systemctl reload` fails), a config that does not load reported before any signal, and a
    /// pid that is not there named.
    @Test func reloadCommandReportsTheDaemonsVerdict() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let config = dir.file("config.json")
        let good = #"{"stateDirectory": "\#(dir.file("state"))", "listen": {"port": 0}, "webhook": {"keyFile": "\#(dir.file("keys"))"}}"#
        try writeFile(config, good)
        try writeFile(dir.file("keys"), "old-key-0123456789\n")
        let daemon = try DaemonProcess(["serve", "--config", config], environment: [:])
        let client = try RawHTTPClient(port: daemon.port)
        func reload(_ extra: [String] = []) throws -> (status: Int32, stdout: String, stderr: String) {
            try Binary.run(["reload", "--config", config, "--pid", "\(daemon.pid)"] + extra, workingDirectory: "/")
        }

        try writeFile(dir.file("keys"), "new-key-0123456789\n")
        let first = try reload()
        #expect(first.status == 0 && first.stdout == "reload: configuration reloaded\n", "\(first)")
        #expect(try post(client, key: "new-key-0123456789", body: Self.delivery) == 200, "the verdict came after the new key took effect")

        // The config loads but the daemon cannot use it (the key file is gone): its reason, exit 1.
        try FileManager.default.removeItem(atPath: dir.file("keys"))
        let rejected = try reload()
        #expect(rejected.status == 1, "\(rejected)")
        #expect(rejected.stderr.hasPrefix("reload: rejected, the running configuration stays: "), "\(rejected.stderr)")
        #expect(rejected.stderr.contains(dir.file("keys")))
        #expect(try post(client, key: "new-key-0123456789", body: Self.delivery) == 200, "the running keys stay")

        // A second rejection is told apart from the first (each reload has its own number).
        let again = try reload()
        #expect(again.status == 1 && again.stderr.contains("rejected"), "\(again)")
        try writeFile(dir.file("keys"), "new-key-0123456789\n")
        #expect(try reload().status == 0)

        // A config that does not load: the daemon's reason when the command is told only where
        // the state is (as the unit runs it, through $STATE_DIRECTORY); with --config, the
        // command's own check says it at once and the daemon is not asked.
        try writeFile(config, #"{"stateDirectory": "\#(dir.file("state"))", "listen": {"port": 99999}}"#)
        let judged = try Binary.run(["reload", "--pid", "\(daemon.pid)"], environment: ["STATE_DIRECTORY": dir.file("state")], workingDirectory: "/")
        #expect(judged.status == 1 && judged.stderr.contains("rejected") && judged.stderr.contains("listen.port"), "\(judged)")
        let broken = try reload()
        #expect(broken.status == 78 && broken.stderr.contains("listen.port"), "\(broken)")
        try writeFile(config, good)

        // A verdict already in the file never answers a new signal: one an earlier daemon with
        // the same pid left (in a container the daemon is often always pid 1), one from a reload
        // that started before the signal (it read the config before the change), one in an
        // older format, one with a pid no process can have.
        let resultFile = dir.file("state/reload-result")
        let boot = try String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        for stale in [#"{"pid":\#(daemon.pid),"boot":"\#(boot)","startedNanoseconds":"1","result":"rejected","error":"stale"}"#,
                      #"{"pid":\#(daemon.pid),"reload":50,"result":"rejected","error":"old format"}"#,
                      #"{"pid":99999999999,"boot":"\#(boot)","startedNanoseconds":"99999999999999999","result":"rejected"}"#] {
            try writeFile(resultFile, stale)
            let fresh = try reload()
            #expect(fresh.status == 0 && fresh.stdout == "reload: configuration reloaded\n", "\(stale): \(fresh)")
        }

        // A verdict that cannot be one answers nothing: from the future (forged, or a corrupt
        // clock field), or through a symbolic link. Against a process that ignores SIGHUP the
        // command then waits out its timeout.
        let ignoring = try spawnProcess(["/bin/sh", "-c", "trap '' HUP; exec sleep 600"])
        try writeFile(dir.file("elsewhere"), #"{"pid":\#(ignoring),"boot":"\#(boot)","startedNanoseconds":"\#(UInt64.max)","result":"reloaded"}"#)
        for link in [false, true] {
            try? FileManager.default.removeItem(atPath: resultFile)
            if link {
                // A time the command will see as after its signal and not in the future: only
                // the link itself disqualifies it.
                var now = timespec()
                clock_gettime(CLOCK_MONOTONIC, &now)
                let soon = UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec) + 300_000_000
                try writeFile(dir.file("linked"), #"{"pid":\#(ignoring),"boot":"\#(boot)","startedNanoseconds":"\#(soon)","result":"reloaded"}"#)
                try FileManager.default.createSymbolicLink(atPath: resultFile, withDestinationPath: dir.file("linked"))
            } else {
                try FileManager.default.copyItem(atPath: dir.file("elsewhere"), toPath: resultFile)
            }
            let forged = try Binary.run(["reload", "--config", config, "--pid", "\(ignoring)", "--timeout", "1"], workingDirectory: "/")
            #expect(forged.status == 1 && forged.stderr.contains("gave no answer"), "link \(link): \(forged)")
        }
        try? FileManager.default.removeItem(atPath: resultFile)
        var ignoringStatus: Int32 = 0
        kill(ignoring, SIGKILL)
        waitpid(ignoring, &ignoringStatus, 0)

        let nobody = try Binary.run(["reload", "--config", config, "--pid", "999999999"], workingDirectory: "/")
        #expect(nobody.status == 1 && nobody.stderr.contains("cannot signal process 999999999"), "\(nobody)")
        // A process that is not the daemon (SIGHUP ends it): said at once, not after the timeout.
        // It is spawned with SIGHUP at its default action, as an operator's shell would start it
        // (a test runner may ignore SIGHUP, and children inherit that); it stays a zombie until
        // reaped below, which the command counts as exited.
        let other = try spawnProcess(["/bin/sleep", "600"])
        let notDaemon = try Binary.run(["reload", "--config", config, "--pid", "\(other)", "--timeout", "120"], workingDirectory: "/")
        var status: Int32 = 0
        kill(other, SIGKILL)
        waitpid(other, &status, 0)
        #expect(notDaemon.status == 1 && notDaemon.stderr.contains("exited without an answer"), "\(notDaemon)")
        #expect(daemon.stderr.components(separatedBy: "reload rejected").count - 1 == 3)
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit() == 0)
    }
}

@Suite struct LogFormatTests {
    /// Under journald a config error is logged at error priority (`<3>`), so `journalctl -p err`
    /// shows why the service did not start; `JOURNAL_STREAM` inherited by a process whose stderr
    /// goes elsewhere (a redirect, a file) gets plain lines.
    @Test func configErrorsCarryErrorPriorityOnlyWhenStderrIsTheJournal() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try writeFile(dir.file("config.json"), #"{"listen": {"port": 70000}}"#)
        let underJournal = try DaemonProcess(["serve", "--config", dir.file("config.json")],
                                             environment: ["PAN_SEC_XERO_WEBHOOK_KEY": "journal-test-key-0123"],
                                             waitForListening: false, journal: true)
        #expect(underJournal.waitForExit() == 78)
        #expect(underJournal.stderr.hasPrefix("<3>config: listen.port: 70000"), "\(underJournal.stderr)")

        try writeFile(dir.file("good.json"), #"{"stateDirectory": "\#(dir.file("state"))", "listen": {"port": 0}}"#)
        let inherited = try DaemonProcess(["serve", "--config", dir.file("good.json")],
                                          environment: ["PAN_SEC_XERO_WEBHOOK_KEY": "journal-test-key-0123", "JOURNAL_STREAM": "8:1234"])
        inherited.signal(SIGTERM)
        #expect(inherited.waitForExit() == 0)
        #expect(!inherited.stderr.contains("<6>") && inherited.stderr.contains(" info starting"), "\(inherited.stderr)")
    }

    /// What operators expect of a daemon: `--version`, the version in `/metrics`, and a log level
    /// chosen on the command line over the config's.
    @Test func versionBuildInfoAndLogLevelFromTheCommandLine() throws {
        let version = try Binary.run(["--version"])
        #expect(version.status == 0)
        #expect(version.stdout.range(of: #"^\d+\.\d+\.\d+\n$"#, options: .regularExpression) != nil, "\(version.stdout)")
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try writeFile(dir.file("config.json"), #"{"stateDirectory": "\#(dir.file("state"))", "listen": {"port": 0}, "log": {"level": "info"}}"#)
        let daemon = try DaemonProcess(["serve", "--config", dir.file("config.json"), "--log-level", "warning"],
                                       environment: ["PAN_SEC_XERO_WEBHOOK_KEY": "version-test-key-0123"], waitForListening: false)
        // At warning the info line announcing the listener is not written: find the port in /proc.
        #expect(waitUntil(seconds: 30) { !daemon.openDescriptorTargets().filter { $0.hasPrefix("socket:") }.isEmpty })
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit() == 0)
        #expect(!daemon.stderr.contains(" info "), "\(daemon.stderr)")
        let metricsDaemon = try DaemonProcess(["serve", "--config", dir.file("config.json")], environment: ["PAN_SEC_XERO_WEBHOOK_KEY": "version-test-key-0123"])
        let client = try RawHTTPClient(port: metricsDaemon.port)
        let metrics = String(decoding: try client.exchange(Array("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".utf8)).body, as: UTF8.self)
        #expect(metrics.contains("xero_webhookd_build_info{version=\"\(version.stdout.dropLast())\"} 1"))
        metricsDaemon.signal(SIGTERM)
        #expect(metricsDaemon.waitForExit() == 0)
    }

    @Test func jsonLinesAndJournalPriorities() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try writeFile(dir.file("config.json"), #"{"stateDirectory": "\#(dir.file("state"))", "listen": {"port": 0}, "log": {"format": "json"}}"#)
        let daemon = try DaemonProcess(["serve", "--config", dir.file("config.json")],
                                       environment: ["PAN_SEC_XERO_WEBHOOK_KEY": "journal-test-key-0123"], journal: true)
        let client = try RawHTTPClient(port: daemon.port)
        _ = try client.exchange(RawHTTPClient.post("/webhooks/xero", body: Array("{}".utf8)))  // unsigned: rejected, logged at notice
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit() == 0)
        let lines = daemon.stderr.split(separator: "\n")
        #expect(!lines.isEmpty)
        for line in lines {
            // "<N>" then one JSON object with time, level and message.
            #expect(line.first == "<" && line.dropFirst(2).first == ">", "\(line)")
            let object = try JSONParser.parse(Array(line.dropFirst(3).utf8))
            #expect(object["time"]?.stringValue != nil && object["message"]?.stringValue != nil)
        }
        // Numbers are JSON numbers: the status, the pid.
        #expect(lines.contains { $0.hasPrefix("<5>") && $0.contains(#""message":"request rejected""#) && $0.contains(#""status":401"#) })
        #expect(lines.contains { $0.contains(#""message":"starting""#) && $0.range(of: #""pid":[0-9]+[,}]"#, options: .regularExpression) != nil })
        #expect(lines.contains { $0.hasPrefix("<6>") && $0.contains(#""message":"listening""#) })
    }
}
