import Foundation
import TestSupport
import Testing

/// The exit status of a command the daemon runs is never taken for success when it cannot be
/// learned, and the daemon learns it even when whoever started it ignores SIGCHLD (which the
/// kernel then reaps children for, so waitpid reports nothing).
@Suite struct ChildStatusTests {
    @Test func aFailingTokenCommandFailsEvenWhenTheParentIgnoresSIGCHLD() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        // Prints a well-formed token answer, then fails: the answer must not be used.
        let script = #"echo '{"access_token":"not-to-be-used","expires_in":1800,"token_type":"Bearer"}'; echo 'vault is sealed' >&2; exit 3"#
        let config: [String: Any] = [
            "stateDirectory": dir.path + "/state",
            "xero": ["apiBaseURL": "http://127.0.0.1:9", "identityBaseURL": "http://127.0.0.1:9",
                     "auth": ["mode": "command", "command": ["/bin/sh", "-c", script]]],
        ]
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: dir.file("config.json")))
        // perl passes its ignored SIGCHLD on through exec, as a careless supervisor would.
        let result = try Binary.runProgram("/usr/bin/perl", ["-e", #"$SIG{CHLD} = "IGNORE"; exec @ARGV or die"#, "--",
                                                             Binary.path, "token", "status", "--config", dir.file("config.json")])
        let stdout = result.stdout, stderr = result.stderr
        #expect(stdout.contains("exited with status 3: vault is sealed"), "stdout: \(stdout) stderr: \(stderr)")
    }
}
