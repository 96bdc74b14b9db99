import SystemSupport
import TestSupport
import Testing
@testable import CLI
@testable import DaemonConfig
@testable import DaemonRuntime

/// What the token command and the command sink start with: the base variables and the names
/// passed on purpose, nothing else of the daemon's environment.
@Suite struct ChildEnvironmentTests {
    static let daemon: [String: String] = [
        "PATH": "/usr/bin:/bin", "HOME": "/var/lib/xero-webhookd", "LANG": "en_NZ.UTF-8", "LC_ALL": "C.UTF-8",
        "LC_TIME": "en_GB.UTF-8", "TZ": "Pacific/Auckland", "TMPDIR": "/tmp", "USER": "xero", "LOGNAME": "xero",
        "SHELL": "/bin/sh",
        "PAN_SEC_XERO_WEBHOOK_KEY": "webhook-key-value-0123456789", "PAN_SEC_XERO_CLIENT_ID": "client-id-value",
        "PAN_SEC_XERO_CLIENT_SECRET": "client-secret-value", "PAN_SEC_XERO_ACCESS_TOKEN": "access-token-value",
        "PAN_SEC_XERO_TENANT_URL": "https://example.invalid/tenants", "XERO_WEBHOOKD_SINK_SECRET": "sink-secret-value",
        "XERO_WEBHOOKD_FAILPOINTS": "beforeWrite=crash@1", "CREDENTIALS_DIRECTORY": "/run/credentials/xero-webhookd.service",
        "NOTIFY_SOCKET": "/run/systemd/notify", "LISTEN_FDS": "1", "LISTEN_PID": "42", "STATE_DIRECTORY": "/var/lib/xero-webhookd",
        "DATABASE_URL": "postgres://db/records", "SHLVL": "1", "LC_SECRET": "lc-secret-value",
    ]
    static let base = ["PATH", "HOME", "LANG", "LC_ALL", "LC_TIME", "TZ", "TMPDIR", "USER", "LOGNAME", "SHELL"]

    @Test func onlyTheBaseVariablesByDefault() {
        let child = ChildEnvironment(from: Self.daemon)
        #expect(Set(child.variables.keys) == Set(Self.base))
        for name in Self.base { #expect(child.variables[name] == Self.daemon[name]) }
        let secrets = Self.daemon.filter { $0.key.hasPrefix("PAN_SEC_") || $0.key.hasPrefix("XERO_WEBHOOKD_") }.values
        for value in secrets + ["/run/credentials/xero-webhookd.service", "/run/systemd/notify", "lc-secret-value"] {
            #expect(!child.entries.contains { $0.contains(value) }, "\(value) reached the child")
        }
    }

    @Test func namedVariablesArePassedSecretsIncludedAndMissingOnesLeftOut() {
        let child = ChildEnvironment(from: Self.daemon, passing: ["DATABASE_URL", "PAN_SEC_XERO_CLIENT_SECRET", "NOT_SET_HERE"])
        #expect(Set(child.variables.keys) == Set(Self.base + ["DATABASE_URL", "PAN_SEC_XERO_CLIENT_SECRET"]))
        #expect(child.variables["PAN_SEC_XERO_CLIENT_SECRET"] == "client-secret-value")
        #expect(child.variables["PAN_SEC_XERO_CLIENT_ID"] == nil && child.variables["CREDENTIALS_DIRECTORY"] == nil)
    }

    @Test func entriesAreNameEqualsValueSortedByName() {
        let child = ChildEnvironment(from: ["TZ": "UTC", "PATH": "/bin", "X": "1", "LC_CTYPE": "a=b"], passing: ["X"])
        #expect(child.entries == ["LC_CTYPE=a=b", "PATH=/bin", "TZ=UTC", "X=1"])
        #expect(ChildEnvironment(from: [:], passing: ["PATH"]).entries.isEmpty)
    }

    @Test(arguments: [("PATH", true), ("_X1", true), ("database_url", true), ("", false), ("1X", false),
                      ("A=B", false), ("A B", false), ("A-B", false), ("É", false)])
    func variableNames(_ name: String, _ valid: Bool) {
        #expect(ChildEnvironment.isVariableName(name) == valid)
    }

    @Test func bothKeysAreReadAndDuplicatesDropped() throws {
        let config = try loadConfig(#"""
        {"sink": {"type": "command", "command": ["/bin/true"], "passEnvironment": ["DATABASE_URL", "DATABASE_URL", "TZ"]},
         "xero": {"auth": {"mode": "command", "command": ["/bin/true"], "passEnvironment": ["PAN_SEC_XERO_CLIENT_SECRET"]}}}
        """#)
        #expect(config.worker.sinkPassEnvironment == ["DATABASE_URL", "TZ"])
        #expect(config.xero.auth.passEnvironment == ["PAN_SEC_XERO_CLIENT_SECRET"])
        #expect(try loadConfig("{}").worker.sinkPassEnvironment.isEmpty)
    }

    @Test(arguments: [
        (#"{"sink": {"passEnvironment": "DATABASE_URL"}}"#, "config: sink.passEnvironment: must be an array of strings"),
        (#"{"sink": {"passEnvironment": ["OK", "TOKEN=s3cr3t-value"]}}"#,
         "config: sink.passEnvironment: entry 2 is not a variable name (a letter or _, then letters, digits, _); list names only, not NAME=value (the value is not shown)"),
        (#"{"xero": {"auth": {"passEnvironment": ["1PASSWORD"]}}}"#,
         "config: xero.auth.passEnvironment: entry 1 is not a variable name (a letter or _, then letters, digits, _)"),
        (#"{"xero": {"auth": {"passEnvironment": [""]}}}"#,
         "config: xero.auth.passEnvironment: entry 1 is not a variable name (a letter or _, then letters, digits, _)"),
    ])
    func badNamesAreConfigErrorsWithoutTheirText(_ json: String, _ message: String) {
        #expect(throws: ConfigError.self) { try loadConfig(json) }
        do {
            _ = try loadConfig(json)
        } catch {
            #expect(error.description == message)
            #expect(!error.description.contains("s3cr3t"))
        }
    }

    /// `check-config` shows the names, marks a secret passed on purpose and a name not set,
    /// and never a value.
    @Test func checkConfigLineNamesWithoutValues() {
        let passing = ["DATABASE_URL", "PAN_SEC_XERO_CLIENT_SECRET", "NOT_SET_HERE"]
        let line = ChildEnvironment.describe(passing: passing, built: ChildEnvironment(from: Self.daemon, passing: passing))
        #expect(line.hasPrefix("DATABASE_URL, PAN_SEC_XERO_CLIENT_SECRET (a secret of the daemon's, passed on purpose), NOT_SET_HERE (not set), besides the base set (PATH HOME"))
        #expect(!line.contains("client-secret-value") && !line.contains("postgres"))
        #expect(ChildEnvironment.describe(passing: [], built: ChildEnvironment(from: Self.daemon))
            == "none (the command gets only the base set: PATH HOME LANG LC_* TZ TMPDIR USER LOGNAME SHELL)")
    }

    /// The token command's environment is built with the secrets, from the same environment.
    @Test func tokenCommandEnvironmentComesWithTheSecrets() throws {
        var settings = XeroSettings()
        settings.auth.mode = .command
        settings.auth.command = ["/bin/true"]
        settings.auth.passEnvironment = ["VAULT_ADDR"]
        var environment = Self.daemon
        environment["VAULT_ADDR"] = "https://vault.invalid"
        let secrets = try XeroSecrets.load(settings, environment: environment)
        #expect(Set(secrets.commandEnvironment.variables.keys) == Set(Self.base + ["VAULT_ADDR"]))
    }
}
