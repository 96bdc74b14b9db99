import Foundation
import TestSupport
import Testing
@testable import DaemonConfig
import DaemonRuntime

/// `sink.type: postgres`: where the URL comes from, what a bad URL or table name says.
@Suite struct PostgresSinkConfigTests {
    @Test func theURLComesFromTheConfigThenTheEnvironmentThenTheCredential() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try writeFile(dir.file("postgres-url"), "postgres://cred@db.internal/mirror\n")
        let environment = ["XERO_WEBHOOKD_POSTGRES_URL": "postgres://env@db.internal/mirror", "CREDENTIALS_DIRECTORY": dir.path]
        let inFile = try loadConfig(#"{"sink": {"type": "postgres", "postgresURL": "postgres://file:pw@10.0.0.5:6543/mirror?sslmode=require"}}"#)
        let fromFile = try PostgresSinkSettings.endpoint(inFile.worker, environment: environment)
        #expect(fromFile.source == "sink.postgresURL")
        #expect(fromFile.endpoint == PostgresEndpoint(host: "10.0.0.5", port: 6543, unixSocketPath: nil, user: "file", password: "pw", database: "mirror", tls: .require))
        #expect(!fromFile.endpoint.description.contains("pw"))

        let bare = try loadConfig(#"{"sink": {"type": "postgres"}}"#)
        #expect(try PostgresSinkSettings.endpoint(bare.worker, environment: environment).endpoint.user == "env")
        var credentialOnly = environment
        credentialOnly["XERO_WEBHOOKD_POSTGRES_URL"] = nil
        let fromCredential = try PostgresSinkSettings.endpoint(bare.worker, environment: credentialOnly)
        #expect(fromCredential.endpoint.user == "cred" && fromCredential.source == "systemd credential postgres-url")
        #expect(throws: ConfigError("sink.postgresURL", "no PostgreSQL URL for the postgres sink: set it, set XERO_WEBHOOKD_POSTGRES_URL, or pass the systemd credential \"postgres-url\"")) {
            try PostgresSinkSettings.endpoint(bare.worker, environment: [:])
        }
        // The factory asks for the URL before anything else, and names the build's missing support.
        #expect(throws: ConfigError.self) { try SinkFactory.make(bare.worker, stateDirectory: dir.path, environment: [:]) }
        #expect(throws: ConfigError("sink.type", "postgres: this build of xero-webhookd has no PostgreSQL support (built without the PostgreSQL trait)")) {
            try SinkFactory.make(bare.worker, stateDirectory: dir.path, environment: environment)
        }
        // A bad URL from the environment is named by its source.
        #expect(throws: ConfigError("XERO_WEBHOOKD_POSTGRES_URL", "names no user (postgres://user@host/database)")) {
            try PostgresSinkSettings.endpoint(bare.worker, environment: ["XERO_WEBHOOKD_POSTGRES_URL": "postgres://db.internal/mirror"])
        }
    }

    @Test(arguments: [
        ("postgres://u@h/d?host=/run/postgresql", PostgresEndpoint(host: "h", port: 5432, unixSocketPath: "/run/postgresql/.s.PGSQL.5432", user: "u", password: nil, database: "d", tls: .prefer)),
        ("postgresql://u%40x:p%2Fw@[::1]:5433", PostgresEndpoint(host: "::1", port: 5433, unixSocketPath: nil, user: "u@x", password: "p/w", database: "u@x", tls: .prefer)),
        ("postgres://u@localhost/d?sslmode=disable", PostgresEndpoint(host: "localhost", port: 5432, unixSocketPath: nil, user: "u", password: nil, database: "d", tls: .disable)),
    ])
    func urlsAreTakenApartAsLibpqDoes(text: String, expected: PostgresEndpoint) throws {
        #expect(try PostgresEndpoint.parse(text) == expected)
    }

    @Test(arguments: [
        (#"{"sink": {"postgresURL": "mysql://u@h/d"}}"#, ConfigError("sink.postgresURL", "scheme \"mysql\" is not postgres or postgresql")),
        (#"{"sink": {"postgresURL": "postgres://u@h/d?sslmode=maybe"}}"#,
         ConfigError("sink.postgresURL", "sslmode \"maybe\" is not one of disable, prefer, require, verify-ca, verify-full")),
        (#"{"sink": {"postgresURL": "postgres://u@h:0/d"}}"#, ConfigError("sink.postgresURL", "port 0 is not a port (1-65535)")),
        (#"{"sink": {"postgresURL": "postgres://u@/d"}}"#, ConfigError("sink.postgresURL", "names no host (postgres://user@host/database, or ?host=/socket/directory)")),
        (#"{"sink": {"postgresURL": "postgres://u@h/d?options=x"}}"#, ConfigError("sink.postgresURL", "parameter \"options\" is not supported (sslmode, host)")),
        (#"{"sink": {"table": "Resources"}}"#,
         ConfigError("sink.table", "\"Resources\" is not an SQL identifier (lower-case letters, digits and _, not starting with a digit)")),
        (#"{"sink": {"table": "x; DROP TABLE y"}}"#,
         ConfigError("sink.table", "\"x; DROP TABLE y\" is not an SQL identifier (lower-case letters, digits and _, not starting with a digit)")),
        (#"{"sink": {"table": "1st"}}"#, ConfigError("sink.table", "\"1st\" is not an SQL identifier (lower-case letters, digits and _, not starting with a digit)")),
        (#"{"sink": {"table": "a.b.c"}}"#, ConfigError("sink.table", "\"a.b.c\" has more than one dot (schema.table at most)")),
        (#"{"sink": {"table": ""}}"#, ConfigError("sink.table", "\"\" is not an SQL identifier (1 to 63 characters per part)")),
        (#"{"worker": {"mode": "events"}, "sink": {"type": "postgres"}}"#,
         ConfigError("sink.type", "postgres keeps the fetched record of each resource; it needs worker.mode fetch")),
        (#"{"sink": {"type": "mysql"}}"#, ConfigError("sink.type", "\"mysql\" is not one of directory, http, command, postgres")),
    ])
    func aBadSettingNamesItsKeyAndTheReason(json: String, expected: ConfigError) {
        #expect(throws: expected) { try loadConfig(json) }
    }

    @Test func tableDefaultsAndAcceptsASchema() throws {
        #expect(try loadConfig("{}").worker.sinkTable == "xero_resources")
        #expect(try loadConfig(#"{"sink": {"table": "mirror.xero_resources"}}"#).worker.sinkTable == "mirror.xero_resources")
        #expect(try loadConfig(#"{"sink": {"table": "\#(String(repeating: "a", count: 63))"}}"#).worker.sinkTable.count == 63)
        #expect(throws: ConfigError.self) { try loadConfig(#"{"sink": {"table": "\#(String(repeating: "a", count: 64))"}}"#) }
    }
}
