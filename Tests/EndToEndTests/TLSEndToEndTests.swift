import EventRecord
import Foundation
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Native TLS with the real binary, configured from `deploy/tls/config.json`, checked with curl
/// against a CA the test makes: signed deliveries, refused old protocols, certificate renewal on
/// SIGHUP with a connection kept open across it, and bad certificate settings.
@Suite(.serialized) struct TLSEndToEndTests {
    static let key = "tls-e2e-webhook-key"
    static let delivery = Array(#"{"events":[{"resourceUrl":"https://api.xero.com/api.xro/2.0/Invoices/tls-1","resourceId":"tls-1","eventDateUtc":"2026-11-29T08:00:00.000","eventType":"UPDATE","eventCategory":"INVOICE","tenantId":"t1","tenantType":"ORGANISATION"}],"firstEventSequence":1,"lastEventSequence":1,"entropy":"TLSE2E"}"#.utf8)

    static var repository: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// `deploy/tls/config.json` with the port, the addresses and the file paths of this test.
    static func deployConfig(_ dir: TemporaryDirectory, _ pki: TestCertificates) throws -> String {
        let data = try Data(contentsOf: repository.appendingPathComponent("deploy/tls/config.json"))
        var root = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        var listen = try #require(root["listen"] as? [String: Any])
        var tls = try #require(listen["tls"] as? [String: Any])
        #expect(listen["port"] as? Int == 443)
        tls["certificateChainFile"] = pki.chainFile
        tls["privateKeyFile"] = pki.keyFile
        listen["tls"] = tls
        listen["port"] = 0
        listen["host"] = "127.0.0.1"
        root["listen"] = listen
        root["stateDirectory"] = dir.file("state")
        let path = dir.file("config.json")
        try JSONSerialization.data(withJSONObject: root).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// curl's exit status and what it wrote (`-w` output); never reads a proxy or rc file.
    static func curl(_ arguments: [String]) throws -> (status: Int32, output: String, errors: String) {
        let run = try Binary.runProgram("/usr/bin/curl", ["--silent", "--show-error", "--noproxy", "*", "-q"] + arguments)
        return (run.status, run.stdout, run.stderr)
    }

    /// A signed (or wrongly signed) delivery through curl: the status code, the body length and
    /// whether a cookie was set, as `code bytes` plus any Set-Cookie header line.
    static func deliver(port: UInt16, ca: String, key: String, extra: [String] = []) throws -> (status: Int32, output: String, errors: String) {
        let signature = WebhookSignature(current: key).signature(for: delivery)
        return try curl(extra + [
            "--cacert", ca, "--data-binary", String(decoding: delivery, as: UTF8.self),
            "-H", "Content-Type: application/json", "-H", "x-xero-signature: \(signature)",
            "-o", "/dev/null", "-D", "-", "-w", "code=%{http_code} bytes=%{size_download}\n",
            "https://localhost:\(port)/webhooks/xero",
        ])
    }

    @Test func deployExampleServesHTTPSAndRenewsOnSIGHUPWithoutDroppingConnections() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let first = try TestCertificates.make(in: dir.path, name: "first")
        let second = try TestCertificates.make(in: dir.path, name: "second")
        chmod(first.keyFile, 0o644)  // readable by everyone: the daemon must warn
        let config = try Self.deployConfig(dir, first)
        let daemon = try DaemonProcess(["serve", "--config", config], environment: ["PAN_SEC_XERO_WEBHOOK_KEY": Self.key])
        #expect(daemon.stderr.contains("scheme=https"))
        #expect(daemon.stderr.contains("secret file exposed") && daemon.stderr.contains(first.keyFile))

        // Xero's deliveries: signed → 200 with an empty body and no cookie; wrongly signed → 401.
        let good = try Self.deliver(port: daemon.port, ca: first.caFile, key: Self.key)
        #expect(good.status == 0 && good.output.contains("code=200 bytes=0"), "\(good)")
        #expect(!good.output.lowercased().contains("set-cookie"))
        let bad = try Self.deliver(port: daemon.port, ca: first.caFile, key: "not-the-key")
        #expect(bad.status == 0 && bad.output.contains("code=401 bytes=0"), "\(bad)")
        // TLS 1.2 works, TLS 1.1 does not: curl offers it (security level 0 on its side) and the
        // server answers with a protocol_version alert (curl: 35 = handshake failed).
        #expect(try Self.deliver(port: daemon.port, ca: first.caFile, key: Self.key, extra: ["--tls-max", "1.2"]).output.contains("code=200"))
        let old = try Self.deliver(port: daemon.port, ca: first.caFile, key: Self.key,
                                   extra: ["--tlsv1.1", "--tls-max", "1.1", "--ciphers", "DEFAULT:@SECLEVEL=0"])
        #expect(old.status == 35 && old.errors.contains("alert protocol version"), "\(old)")

        // A connection that stays open across the renewal.
        let open = try RawHTTPClient(port: daemon.port)
        try open.startTLS(RawHTTPClient.TLSOptions(caFile: first.caFile))
        let readyz = Array("GET /readyz HTTP/1.1\r\nHost: localhost\r\n\r\n".utf8)
        #expect(try open.exchange(readyz).status == 200)

        // A broken renewal is refused and the running certificate stays.
        try writeFile(first.chainFile, "-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n")
        daemon.signal(SIGHUP)
        #expect(waitUntil(seconds: 10) { daemon.stderr.contains("reload rejected") && daemon.stderr.contains("listen.tls.certificateChainFile") })
        #expect(try Self.deliver(port: daemon.port, ca: first.caFile, key: Self.key).output.contains("code=200"))

        // The renewal: new files in place, SIGHUP.
        try second.install(over: first)
        chmod(first.keyFile, 0o600)
        daemon.signal(SIGHUP)
        #expect(waitUntil(seconds: 10) { daemon.stderr.contains("tls certificate reloaded") })
        #expect(daemon.stderr.contains("subject=\"\(second.subject)\""))
        #expect(try open.exchange(readyz).status == 200, "the connection opened before the reload still works")
        #expect(try Self.deliver(port: daemon.port, ca: second.caFile, key: Self.key).output.contains("code=200"))
        #expect(try Self.deliver(port: daemon.port, ca: first.caFile, key: Self.key).status == 60, "old CA: curl 60 (peer certificate cannot be verified)")

        let metrics = String(decoding: try open.exchange(Array("GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n".utf8)).body, as: UTF8.self)
        #expect(metrics.contains("xero_webhookd_tls_certificate_expiry_timestamp_seconds "))
        #expect(metrics.contains("xero_webhookd_tls_failures_total "))
        #expect(!metrics.contains("xero_webhookd_tls_failures_total 0"), "the TLS 1.1 and old-CA handshakes failed")
        open.close()

        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit() == 0)
        // The four accepted deliveries are in the queue (and nothing from the refused ones).
        let dump = try Binary.run(["queue", "dump", "--config", config], environment: ["PAN_SEC_XERO_WEBHOOK_KEY": Self.key])
        #expect(dump.status == 0)
        #expect(dump.stdout.components(separatedBy: #""resourceId":"tls-1""#).count - 1 == 4, "\(dump.stdout)")
        // Neither the webhook key nor any line of either private key is ever logged.
        let keyLines: [String] = try [first.keyFile, dir.file("second-key.pem")].flatMap {
            try String(contentsOfFile: $0, encoding: .utf8).split(separator: "\n").filter { !$0.hasPrefix("-----") }.map(String.init)
        }
        #expect(!daemon.stderr.contains(Self.key))
        #expect(!keyLines.contains { daemon.stderr.contains($0) })
    }

    /// `selftest` and `send` against the daemon's own https listener with a private CA: passes
    /// with `--cacert` (by name and by IP address, both in the certificate), fails naming the
    /// reason without it, with another CA, or with a CA file that is not there.
    @Test func selftestAndSendVerifyTheCertificateAgainstTheGivenCA() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let pki = try TestCertificates.make(in: dir.path, name: "private", key: .ecdsa)
        let other = try TestCertificates.make(in: dir.path, name: "other", key: .ecdsa)
        let environment = ["PAN_SEC_XERO_WEBHOOK_KEY": Self.key]
        let daemon = try DaemonProcess(["serve", "--config", try Self.deployConfig(dir, pki)], environment: environment)
        let url = "https://localhost:\(daemon.port)/webhooks/xero"
        for target in [url, "https://127.0.0.1:\(daemon.port)/webhooks/xero"] {
            let good = try Binary.run(["selftest", target, "--cacert", pki.caFile], environment: environment)
            #expect(good.status == 0 && good.stdout.contains("selftest passed"), "\(target): \(good.stdout)\(good.stderr)")
            #expect(good.stdout.contains("PASS  wrongly signed (one character changed): status 401, want 401"))
            #expect(!good.stdout.contains("only to https"))
        }
        let system = try Binary.run(["selftest", url], environment: environment)
        #expect(system.status == 1)
        #expect(system.stdout.contains("FAIL  correctly signed: no answer (TLS handshake with localhost: certificate verify failed: unable to get local issuer certificate)"), "\(system.stdout)")
        let wrong = try Binary.run(["selftest", url, "--cacert", other.caFile], environment: environment)
        #expect(wrong.status == 1 && wrong.stdout.contains("certificate verify failed"), "\(wrong.stdout)")
        let missing = try Binary.run(["selftest", url, "--cacert", dir.file("no-such-ca.pem")], environment: environment)
        #expect(missing.status == 1 && missing.stdout.contains("cannot load CA certificates from \(dir.file("no-such-ca.pem"))"), "\(missing.stdout)")
        // Plain HTTP to the TLS port gets no HTTP answer; the check says so instead of hanging.
        let plain = try Binary.run(["selftest", "http://127.0.0.1:\(daemon.port)/webhooks/xero"], environment: environment)
        #expect(plain.status == 1 && plain.stdout.contains("FAIL  correctly signed: "), "\(plain.stdout)")

        let sent = try Binary.run(["send", url, "--cacert", pki.caFile, "--count", "2", "--tenant", "tls-tenant"], environment: environment)
        #expect(sent.status == 0, "\(sent.stdout)\(sent.stderr)")
        #expect(sent.stdout.contains("sent 2/2: 200 in "))
        let refused = try Binary.run(["send", url, "--cacert", other.caFile], environment: environment)
        #expect(refused.status == 1 && refused.stdout.contains("certificate verify failed"), "\(refused.stdout)")
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit() == 0)
    }

    @Test func unusableCertificateSettingsStopStartupNamingTheKey() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let pki = try TestCertificates.make(in: dir.path, name: "only")
        let environment = ["PAN_SEC_XERO_WEBHOOK_KEY": Self.key]
        func config(chain: String, key: String) throws -> String {
            let path = dir.file("config-\(UUID().uuidString).json")
            try writeFile(path, #"{"stateDirectory": "\#(dir.file("state"))", "listen": {"port": 0, "tls": {"certificateChainFile": "\#(chain)", "privateKeyFile": "\#(key)"}}}"#)
            return path
        }
        let missingKey = try config(chain: pki.chainFile, key: dir.file("absent.pem"))
        for command in ["serve", "check-config"] {
            let run = try Binary.run([command, "--config", missingKey], environment: environment)
            #expect(run.status == 78, "\(command): \(run.stderr)")
            #expect(run.stderr.contains("config: listen.tls.privateKeyFile: cannot load the private key from \(dir.file("absent.pem"))"))
        }
        let swapped = try Binary.run(["check-config", "--config", try config(chain: pki.keyFile, key: pki.keyFile)], environment: environment)
        #expect(swapped.status == 78 && swapped.stderr.contains("config: listen.tls.certificateChainFile: cannot load the certificate chain"))

        // systemd credentials: ${CREDENTIALS_DIRECTORY} is expanded, and its absence is an error.
        let credentials = try config(chain: "${CREDENTIALS_DIRECTORY}/tls-certificate", key: "${CREDENTIALS_DIRECTORY}/tls-key")
        try FileManager.default.createDirectory(atPath: dir.file("credentials"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: pki.chainFile, toPath: dir.file("credentials/tls-certificate"))
        try FileManager.default.copyItem(atPath: pki.keyFile, toPath: dir.file("credentials/tls-key"))
        var systemd = environment
        systemd["CREDENTIALS_DIRECTORY"] = dir.file("credentials")
        let expanded = try Binary.run(["check-config", "--config", credentials], environment: systemd)
        #expect(expanded.status == 0, "\(expanded.stderr)")
        #expect(expanded.stdout.contains("listen.tls: \(dir.file("credentials/tls-certificate")) (\(pki.subject), expires "))
        let unset = try Binary.run(["check-config", "--config", credentials], environment: environment)
        #expect(unset.status == 78 && unset.stderr.contains("listen.tls.certificateChainFile: uses ${CREDENTIALS_DIRECTORY}, which is not set"))
        let incomplete = dir.file("incomplete.json")
        try writeFile(incomplete, #"{"listen": {"tls": {"certificateChainFile": "\#(pki.chainFile)"}}}"#)
        let partial = try Binary.run(["check-config", "--config", incomplete], environment: environment)
        #expect(partial.status == 78 && partial.stderr.contains("listen.tls.privateKeyFile: is required when listen.tls is present"))
    }

    /// TLS cannot be switched on by a reload, but the files are checked then, so the restart that
    /// would turn it on does not stop at a configuration error.
    @Test func reloadThatTurnsTLSOnChecksTheFilesAndAsksForARestart() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let pki = try TestCertificates.make(in: dir.path, name: "later")
        let config = dir.file("config.json")
        let plain = #"{"stateDirectory": "\#(dir.file("state"))", "listen": {"port": 0}}"#
        try writeFile(config, plain)
        let daemon = try DaemonProcess(["serve", "--config", config], environment: ["PAN_SEC_XERO_WEBHOOK_KEY": Self.key])
        func withTLS(key: String) -> String {
            #"{"stateDirectory": "\#(dir.file("state"))", "listen": {"port": 0, "tls": {"certificateChainFile": "\#(pki.chainFile)", "privateKeyFile": "\#(key)"}}}"#
        }
        try writeFile(config, withTLS(key: dir.file("absent-key.pem")))
        daemon.signal(SIGHUP)
        #expect(waitUntil(seconds: 10) { daemon.stderr.contains("reload rejected") && daemon.stderr.contains("listen.tls.privateKeyFile") })
        try writeFile(config, withTLS(key: pki.keyFile))
        daemon.signal(SIGHUP)
        #expect(waitUntil(seconds: 10) { daemon.stderr.contains("take effect after a restart") })
        // Still plain HTTP until then.
        let client = try RawHTTPClient(port: daemon.port)
        #expect(try client.exchange(Array("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".utf8)).status == 200)
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit() == 0)
    }
}
