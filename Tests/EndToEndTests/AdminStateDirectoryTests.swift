import ByteJSON
import EventRecord
import Foundation
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The admin commands run the way an operator runs them against the installed service: from
/// another working directory, with the unit's config (which names no state directory, as the
/// service gets it from `$STATE_DIRECTORY`). They used to read `./state` silently and print
/// `pending: 0 … dead letters: 0` with exit 0.
@Suite struct AdminStateDirectoryTests {
    @Test func adminCommandsFindTheServiceStateOrSayWhyNot() throws {
        let dir = try TemporaryDirectory("xero-webhookd-admin")
        defer { dir.remove() }
        let state = dir.file("state")
        let config = dir.file("config.json")
        try writeFile(config, #"{"listen": {"port": 0}, "worker": {"enabled": false}}"#)
        // The daemon as the unit runs it: its state directory from $STATE_DIRECTORY.
        let daemon = try DaemonProcess(["serve", "--config", config],
                                       environment: ["PAN_SEC_XERO_WEBHOOK_KEY": CrashOracle.key, "STATE_DIRECTORY": state])
        let client = try RawHTTPClient(port: daemon.port)
        let body = Array(#"{"events":[\#(CrashOracle.event("admin-1"))],"firstEventSequence":1,"lastEventSequence":1,"entropy":"ADMIN"}"#.utf8)
        let signature = WebhookSignature(current: CrashOracle.key).signature(for: body)
        #expect(try client.exchange(RawHTTPClient.post("/webhooks/xero", body: body, headers: [("x-xero-signature", signature)])).status == 200)

        // From /, with the same config and nothing else: there is no ./state there.
        if !FileManager.default.fileExists(atPath: "/var/lib/xero-webhookd") {
            for command in [["queue", "status"], ["queue", "dump"], ["dead", "list"]] {
                let lost = try Binary.run(command + ["--config", config], workingDirectory: "/")
                #expect(lost.status == 1, "\(command): \(lost.stdout)")
                #expect(lost.stdout.isEmpty)
                #expect(lost.stderr.split(separator: "\n").count == 1, "\(lost.stderr)")
                #expect(lost.stderr.contains("no queue in /state/queue"), "\(lost.stderr)")
                #expect(lost.stderr.contains("--state-directory"))
            }
        }
        // Told where: --state-directory, or $STATE_DIRECTORY as under the unit.
        for (arguments, environment) in [(["--state-directory", state], [String: String]()), ([], ["STATE_DIRECTORY": state])] {
            let status = try Binary.run(["queue", "status", "--config", config] + arguments, environment: environment, workingDirectory: "/")
            #expect(status.status == 0, "\(status.stderr)")
            #expect(status.stdout.contains("pending: 1"), "\(status.stdout)")
            let dead = try Binary.run(["dead", "list", "--config", config] + arguments, environment: environment, workingDirectory: "/")
            #expect(dead.status == 0, "\(dead.stderr)")
            #expect(dead.stdout.hasSuffix("0 dead letters\n"))
        }
        // For scripts: one JSON object, numbers as numbers.
        let json = try Binary.run(["queue", "status", "--json", "--config", config, "--state-directory", state])
        #expect(json.status == 0, "\(json.stderr)")
        let status = try JSONParser.parse(Array(json.stdout.utf8))
        #expect(status["pending"]?.kind == .number("1"), "\(json.stdout)")
        #expect(status["deadLetters"]?.kind == .number("0"))
        #expect(status["backlogByTenant"]?.isObject == true)
        let dead = try Binary.run(["dead", "list", "--json", "--config", config, "--state-directory", state])
        #expect(dead.status == 0 && dead.stdout.isEmpty, "\(dead.stdout)\(dead.stderr)")
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit() == 0)
    }

    /// check-config says where the state directory came from: the unit's config leaves it to
    /// `$STATE_DIRECTORY`, a copied example once overrode that with a relative path.
    @Test func checkConfigSaysWhereTheStateDirectoryCameFrom() throws {
        let dir = try TemporaryDirectory("xero-webhookd-admin")
        defer { dir.remove() }
        let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("config.example.json").path
        let environment = ["PAN_SEC_XERO_WEBHOOK_KEY": CrashOracle.key]
        let underUnit = try Binary.run(["check-config", "--config", example], environment: environment.merging(["STATE_DIRECTORY": dir.path]) { $1 })
        #expect(underUnit.stdout.contains("stateDirectory: \(dir.path) (from $STATE_DIRECTORY)"), "\(underUnit.stdout)\(underUnit.stderr)")
        try writeFile(dir.file("config.json"), #"{"stateDirectory": "/srv/xero"}"#)
        let named = try Binary.run(["check-config", "--config", dir.file("config.json")], environment: environment.merging(["STATE_DIRECTORY": dir.path]) { $1 })
        #expect(named.stdout.contains("stateDirectory: /srv/xero (from stateDirectory in \(dir.file("config.json")))"), "\(named.stdout)")
        // Every other value says whether the file set it or the default applies.
        #expect(named.stdout.contains("listen.port: 8080  [default]"), "\(named.stdout)")
        #expect(underUnit.stdout.contains("listen.port: 8080  [config file]"), "\(underUnit.stdout)")
    }
}
