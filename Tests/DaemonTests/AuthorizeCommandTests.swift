import FakeXero
import Foundation
import TestSupport
import Testing
import XeroAPI
import XeroTestSupport

/// The built binary's `authorize` and `token status`, run as a user would, against FakeXero.
@Suite struct AuthorizeCommandTests {
    /// An app created before 2 March 2026: the binary asks for the granular scopes, Xero refuses
    /// them, the binary says so and the browser is sent on to ask for the broad ones.
    @Test func authorizeCommandFallsBackToBroadScopesAndSaysSo() async throws {
        let harness = try Harness()
        defer { harness.stop() }
        let tenant = newID()
        harness.fake.setConsent(clientId: Harness.clientId, tenants: [tenant], appScopes: .broad)
        let base = harness.configuration.apiBaseURL
        let dir = harness.dir
        try writeFile(dir.file("config.json"), #"""
        {"stateDirectory": "\#(dir.path)/state",
         "xero": {"apiBaseURL": "\#(base)", "identityBaseURL": "\#(base)", "loginBaseURL": "\#(base)",
                  "auth": {"mode": "refreshToken", "redirectURI": "http://127.0.0.1:0/callback"}}}
        """#)
        _ = FileManager.default.createFile(atPath: dir.file("out"), contents: nil)
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: dir.file("out")))
        defer { try? output.close() }  // closing twice is harmless; FileHandle tracks it
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Binary.path)
        process.arguments = ["authorize", "--config", dir.file("config.json"), "--timeout", "60"]
        process.environment = ["PAN_SEC_XERO_CLIENT_ID": Harness.clientId, "PAN_SEC_XERO_CLIENT_SECRET": Harness.clientSecret,
                               "PATH": "/usr/bin:/bin"]
        process.standardOutput = output
        process.standardError = output
        try withProcessSpawnLock { try process.run() }
        defer { if process.isRunning { process.terminate() } }
        func printed() -> String { String(decoding: FileManager.default.contents(atPath: dir.file("out")) ?? Data(), as: UTF8.self) }
        var next: String?
        #expect(waitUntil(seconds: 20) {
            next = printed().split(separator: "\n").first { $0.hasPrefix(base + "/identity/connect/authorize?") }.map(String.init)
            return next != nil
        })
        // The browser: follow every redirect between Xero's authorize page and the listener.
        var hops = 0
        while let url = next, hops < 6, let components = URLComponents(string: url), let port = components.port {
            let browser = try RawHTTPClient(port: UInt16(port))
            let target = components.percentEncodedPath + (components.percentEncodedQuery.map { "?" + $0 } ?? "")
            next = try browser.exchange(Array("GET \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8))
                .header("location")
            hops += 1
        }
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let text = printed()
        #expect(text.contains("Xero refused the granular scopes") && text.contains("accounting.transactions.read"))
        let stored = try #require(try TokenFile(stateDirectory: dir.path + "/state").load())
        #expect(stored.scopes.contains("accounting.transactions.read"))
        #expect(harness.fake.stats.invalidScopes == 1)
    }

    @Test func authorizeCommandThenTokenStatus() async throws {
        let harness = try Harness()
        defer { harness.stop() }
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let tenant = newID()
        harness.fake.addTenant(tenant, name: "Binary Org")
        let base = harness.configuration.apiBaseURL
        try writeFile(dir.file("config.json"), #"""
        {"stateDirectory": "\#(dir.path)/state",
         "xero": {"apiBaseURL": "\#(base)", "identityBaseURL": "\#(base)", "loginBaseURL": "\#(base)",
                  "auth": {"mode": "refreshToken", "redirectURI": "http://127.0.0.1:0/callback"}}}
        """#)
        let environment = ["PAN_SEC_XERO_CLIENT_ID": Harness.clientId, "PAN_SEC_XERO_CLIENT_SECRET": Harness.clientSecret,
                           "PATH": "/usr/bin:/bin"]
        _ = FileManager.default.createFile(atPath: dir.file("out"), contents: nil)
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: dir.file("out")))
        defer { try? output.close() }  // closing twice is harmless; FileHandle tracks it
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Binary.path)
        process.arguments = ["authorize", "--config", dir.file("config.json"), "--timeout", "60"]
        process.environment = environment
        process.standardOutput = output
        process.standardError = output
        try withProcessSpawnLock { try process.run() }
        defer { if process.isRunning { process.terminate() } }

        // The printed authorize URL carries the redirect URI (with the bound port) and the state.
        var authorizeURL: URLComponents?
        let printed = waitUntil(seconds: 20) {
            let text = String(decoding: FileManager.default.contents(atPath: dir.file("out")) ?? Data(), as: UTF8.self)
            guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(base + "/identity/connect/authorize?") }) else {
                return false
            }
            authorizeURL = URLComponents(string: String(line))
            return true
        }
        #expect(printed)
        let items = Dictionary(uniqueKeysWithValues: (try #require(authorizeURL).queryItems ?? []).map { ($0.name, $0.value ?? "") })
        let redirectURI = try #require(items["redirect_uri"])
        let state = try #require(items["state"])
        harness.fake.registerAuthorizationCode("binary-code", clientId: Harness.clientId, redirectURI: redirectURI, tenants: [tenant])

        // The browser's redirect.
        let redirect = try #require(URLComponents(string: redirectURI))
        let browser = try RawHTTPClient(port: UInt16(try #require(redirect.port)))
        let page = try browser.exchange(Array("GET \(redirect.path)?code=binary-code&state=\(state) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8))
        #expect(page.status == 200)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let text = String(decoding: FileManager.default.contents(atPath: dir.file("out")) ?? Data(), as: UTF8.self)
        #expect(text.contains("Binary Org") && text.contains(tenant))
        let stored = try #require(try TokenFile(stateDirectory: dir.path + "/state").load())
        #expect(!text.contains(stored.refreshToken))

        let status = try Binary.run(["token", "status", "--config", dir.file("config.json")], environment: environment)
        #expect(status.status == 0)
        #expect(status.stdout.contains("mode: refreshToken"))
        #expect(status.stdout.contains("state: ready"))
        #expect(status.stdout.contains("Binary Org"))
        #expect(!status.stdout.contains(stored.refreshToken) && !status.stdout.contains(stored.accessToken ?? "-"))
        #expect(!status.stdout.contains(Harness.clientSecret))
    }

    @Test func checkConfigMasksXeroSecrets() throws {
        let result = try Binary.run(["check-config"], environment: [
            "PAN_SEC_XERO_WEBHOOK_KEY": "authorize-key-0123456789", "PAN_SEC_XERO_CLIENT_ID": "ID-SHOULD-NOT-SHOW",
            "PAN_SEC_XERO_CLIENT_SECRET": "SECRET-SHOULD-NOT-SHOW", "PAN_SEC_XERO_ACCESS_TOKEN": "TOKEN-SHOULD-NOT-SHOW",
        ])
        #expect(result.status == 0)
        #expect(result.stdout.contains("xero.auth.clientSecret: set (masked) from environment PAN_SEC_XERO_CLIENT_SECRET"))
        #expect(!result.stdout.contains("SHOULD-NOT-SHOW") && !result.stderr.contains("SHOULD-NOT-SHOW"))
    }
}
