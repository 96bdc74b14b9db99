import Foundation
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The daemon's secrets do not reach the commands it runs: the built binary runs with every
/// secret variable set, a token command and a command sink dump their environment, and no
/// secret value is in either dump, while the variable each one is given by name is.
@Suite(.serialized) struct ChildEnvironmentEndToEndTests {
    @Test func tokenCommandAndCommandSinkGetNoSecretsOnlyWhatIsPassed() throws {
        let dumps = try TemporaryDirectory("xero-webhookd-child-env")
        defer { dumps.remove() }
        let credentials = dumps.file("credentials")
        try FileManager.default.createDirectory(atPath: credentials, withIntermediateDirectories: true)
        let unique = UUID().uuidString
        let secrets = [
            "PAN_SEC_XERO_WEBHOOK_KEY": WorkerEndToEndTests.key,
            "PAN_SEC_XERO_CLIENT_ID": "client-id-\(unique)",
            "PAN_SEC_XERO_CLIENT_SECRET": "client-secret-\(unique)",
            "PAN_SEC_XERO_ACCESS_TOKEN": "access-token-\(unique)",
            "XERO_WEBHOOKD_SINK_SECRET": "sink-secret-\(unique)",
            "CREDENTIALS_DIRECTORY": credentials,
        ]
        let passed = ["SINK_DATABASE_URL": "postgres://records-\(unique)", "TOKEN_VAULT_ADDR": "https://vault-\(unique).invalid"]
        let environment = secrets.merging(passed) { $1 }.merging(["PATH": "/usr/bin:/bin", "LANG": "C.UTF-8",
                                                                  "UNRELATED_VARIABLE": "unrelated-\(unique)"]) { $1 }

        // Each dump is written aside and renamed, so a file that exists is complete.
        func dump(_ name: String) -> String { "env > \(dumps.file(name)).partial && mv \(dumps.file(name)).partial \(dumps.file(name))" }
        let tokenScript = "\(dump("token-env")) && cat \(dumps.file("token.json"))"
        let auth = #"{"mode": "command", "command": ["/bin/sh", "-c", "\#(tokenScript)"], "passEnvironment": ["TOKEN_VAULT_ADDR"]}"#
        let setup = try WorkerEndToEndTests.Setup(tenants: ["t-env"], auth: auth) { _ in
            #"{"type": "command", "command": ["/bin/sh", "-c", "cat > /dev/null && \#(dump("sink-env"))"], "passEnvironment": ["SINK_DATABASE_URL"]}"#
        }
        let token = setup.fake.issueAccessToken(tenants: ["t-env"], lifetime: 3600)
        try writeFile(dumps.file("token.json"), #"{"access_token":"\#(token)","expires_in":3600}"#)
        setup.fake.addRecord(tenant: "t-env", collection: "Contacts", id: "40000000-0000-0000-0000-000000000001")

        let check = try Binary.run(["check-config", "--config", setup.config], environment: environment)
        #expect(check.status == 0, "\(check.stderr)")
        #expect(check.stdout.contains("sink.passEnvironment: SINK_DATABASE_URL, besides the base set (PATH"), "\(check.stdout)")
        #expect(check.stdout.contains("xero.auth.passEnvironment: TOKEN_VAULT_ADDR, besides the base set (PATH"), "\(check.stdout)")
        #expect(!check.stdout.contains(unique))

        let daemon = try DaemonProcess(["serve", "--config", setup.config], environment: environment)
        let client = try RawHTTPClient(port: daemon.port)
        #expect(try setup.post(client, [setup.event(tenant: "t-env", category: "CONTACT", id: "40000000-0000-0000-0000-000000000001")]) == 200)
        let files = ["token-env", "sink-env"]
        #expect(waitUntil(seconds: 30) { files.allSatisfy { FileManager.default.fileExists(atPath: dumps.file($0)) } },
                "dumps written: \(files.filter { FileManager.default.fileExists(atPath: dumps.file($0)) })")
        daemon.signal(SIGTERM)
        let status = daemon.waitForExit()
        #expect(status == 0, "the daemon's log: \(daemon.stderr)")

        let tokenEnv = try String(contentsOfFile: dumps.file("token-env"), encoding: .utf8)
        let sinkEnv = try String(contentsOfFile: dumps.file("sink-env"), encoding: .utf8)
        for (name, text) in [("token command", tokenEnv), ("command sink", sinkEnv)] {
            // Values, not only names: a secret under another name would be as bad.
            for (variable, value) in secrets {
                #expect(!text.contains(value), "\(name) got the value of \(variable)")
                #expect(!text.contains(variable + "="), "\(name) got \(variable)")
            }
            #expect(!text.contains("unrelated-\(unique)"), "\(name) got a variable nobody passed")
            #expect(text.contains("PATH=/usr/bin:/bin") && text.contains("LANG=C.UTF-8"), "\(name) lost the base variables")
        }
        // Each command gets the variable named for it, and not the other's.
        #expect(tokenEnv.contains("TOKEN_VAULT_ADDR=https://vault-\(unique).invalid") && !tokenEnv.contains("records-\(unique)"))
        #expect(sinkEnv.contains("SINK_DATABASE_URL=postgres://records-\(unique)") && !sinkEnv.contains("vault-\(unique)"))
    }
}
