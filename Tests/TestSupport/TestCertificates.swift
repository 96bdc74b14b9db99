import Foundation

/// A private PKI made with the `openssl` command for TLS tests: a root CA, an intermediate CA
/// and a server certificate (RSA 2048 or ECDSA P-256) for `localhost` and 127.0.0.1 signed by
/// the intermediate.
/// `chainFile` holds the leaf then the intermediate (what a server sends); a client trusts
/// `caFile` (the root) only, so a handshake verifies only if the server sent the whole chain.
package struct TestCertificates: Sendable {
    package let caFile: String
    package let chainFile: String
    package let keyFile: String
    /// Subject of the leaf, e.g. `CN=localhost,O=first`.
    package let subject: String

    /// Writes `<name>-ca.pem`, `<name>-chain.pem` and `<name>-key.pem` into `directory`;
    /// `name` goes into the leaf's subject (O=name) so tests can tell certificates apart.
    package enum Key: Sendable { case rsa, ecdsa }

    package static func make(in directory: String, name: String, key: Key = .rsa) throws -> TestCertificates {
        let config = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/test-pki.cnf").path
        func file(_ suffix: String) -> String { "\(directory)/\(name)-\(suffix)" }
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        // Root and intermediate CAs (EC keys: fast to make), then the leaf: RSA by default, so
        // RSA key exchange would be possible if the server allowed it.
        try openssl(["req", "-x509", "-config", config, "-extensions", "ca"] + ec +
                    ["-keyout", file("root.key"), "-out", file("ca.pem"), "-days", "3", "-subj", "/CN=\(name) test root"])
        try openssl(["req", "-new", "-config", config] + ec +
                    ["-keyout", file("intermediate.key"), "-out", file("intermediate.csr"), "-subj", "/CN=\(name) test intermediate"])
        try openssl(["x509", "-req", "-in", file("intermediate.csr"), "-CA", file("ca.pem"), "-CAkey", file("root.key"),
                     "-set_serial", "2", "-days", "2", "-extfile", config, "-extensions", "ca", "-out", file("intermediate.pem")])
        try openssl(["req", "-new", "-config", config] + (key == .rsa ? ["-newkey", "rsa:2048", "-nodes"] : ec) +
                    ["-keyout", file("key.pem"), "-out", file("leaf.csr"), "-subj", "/O=\(name)/CN=localhost"])
        try openssl(["x509", "-req", "-in", file("leaf.csr"), "-CA", file("intermediate.pem"), "-CAkey", file("intermediate.key"),
                     "-set_serial", "3", "-days", "1", "-extfile", config, "-extensions", "leaf", "-out", file("leaf.pem")])
        let chain = try String(contentsOfFile: file("leaf.pem"), encoding: .utf8)
            + (try String(contentsOfFile: file("intermediate.pem"), encoding: .utf8))
        try writeFile(file("chain.pem"), chain)
        chmod(file("key.pem"), 0o600)
        return TestCertificates(caFile: file("ca.pem"), chainFile: file("chain.pem"), keyFile: file("key.pem"),
                                subject: "CN=localhost,O=\(name)")
    }

    /// Copies this chain and key over `other`'s files (a certificate renewal in place).
    package func install(over other: TestCertificates) throws {
        for (from, to) in [(chainFile, other.chainFile), (keyFile, other.keyFile)] {
            let temporary = to + ".new"
            try? FileManager.default.removeItem(atPath: temporary)
            try FileManager.default.copyItem(atPath: from, toPath: temporary)
            guard rename(temporary, to) == 0 else { throw CommandFailure(description: "rename \(temporary): errno \(errno)") }
        }
    }

    package struct CommandFailure: Error, CustomStringConvertible {
        package let description: String
    }

    private static func openssl(_ arguments: [String]) throws {
        let tool = ["/usr/bin/openssl", "/bin/openssl", "/usr/local/bin/openssl"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let tool else {
            throw CommandFailure(description: "the openssl command is needed to make test certificates: apt-get install -y openssl")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        let errors = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = errors
        try withProcessSpawnLock { try process.run() }
        let output = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CommandFailure(description: "openssl \(arguments.joined(separator: " ")) failed: \(String(decoding: output, as: UTF8.self))")
        }
    }
}
