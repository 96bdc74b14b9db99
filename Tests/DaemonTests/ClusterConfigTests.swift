import Foundation
import TestSupport
import Testing
@testable import DaemonConfig

/// `cluster`: where its PostgreSQL URL comes from, and what bad values say.
@Suite struct ClusterConfigTests {
    @Test func clusterModeIsOnlyWhereTheConfigHasACluster() throws {
        #expect(try loadConfig(#"{}"#).cluster == nil)
        let cluster = try #require(try loadConfig(#"{"cluster": {"postgresURL": "postgres://node:secret@10.0.0.7/shared"}}"#).cluster)
        let resolved = try cluster.endpoint(environment: ["XERO_WEBHOOKD_POSTGRES_URL": "postgres://env@db/other"])
        #expect(resolved.source == "cluster.postgresURL")
        #expect(resolved.endpoint.user == "node" && resolved.endpoint.database == "shared")
        #expect(!resolved.endpoint.description.contains("secret"))
        #expect(cluster.tokenTable == "xero_webhookd_tokens")
    }

    @Test func theURLFallsBackToTheEnvironmentThenTheCredential() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try writeFile(dir.file("postgres-url"), "postgres://cred@db.internal/shared\n")
        let cluster = try #require(try loadConfig(#"{"cluster": {}}"#).cluster)
        #expect(try cluster.endpoint(environment: ["XERO_WEBHOOKD_POSTGRES_URL": "postgres://env@db/shared", "CREDENTIALS_DIRECTORY": dir.path]).endpoint.user == "env")
        let fromCredential = try cluster.endpoint(environment: ["CREDENTIALS_DIRECTORY": dir.path])
        #expect(fromCredential.endpoint.user == "cred" && fromCredential.source == "systemd credential postgres-url")
        #expect(throws: ConfigError("cluster.postgresURL", "no PostgreSQL URL for cluster mode: set it, set XERO_WEBHOOKD_POSTGRES_URL, or pass the systemd credential \"postgres-url\"")) {
            try cluster.endpoint(environment: [:])
        }
    }

    @Test func badValuesNameTheirKey() throws {
        #expect(throws: ConfigError("cluster.postgresURL", "is empty")) { try loadConfig(#"{"cluster": {"postgresURL": ""}}"#) }
        #expect(throws: ConfigError.self) { try loadConfig(#"{"cluster": {"postgresUrl": "postgres://a@b/c"}}"#) }
        let badTable = #expect(throws: ConfigError.self) { try loadConfig(#"{"cluster": {"tokenTable": "Tokens; DROP"}}"#) }
        #expect(badTable?.key == "cluster.tokenTable")
        let cluster = try #require(try loadConfig(#"{"cluster": {"postgresURL": "mysql://a@b/c"}}"#).cluster)
        let badURL = #expect(throws: ConfigError.self) { try cluster.endpoint(environment: [:]) }
        #expect(badURL?.key == "cluster.postgresURL")
    }

    @Test func thePostgresQueueNeedsAClusterAndNamesItsKeys() throws {
        #expect(try loadConfig(#"{}"#).queueBackend == .disk)
        let config = try loadConfig(#"{"queue": {"backend": "postgres", "laneLeaseMilliseconds": 5000}, "cluster": {}}"#)
        #expect(config.queueBackend == .postgres && config.queueLaneLeaseMilliseconds == 5000)
        #expect(throws: ConfigError("queue.backend", "postgres needs a cluster section (cluster.postgresURL, or the URL in XERO_WEBHOOKD_POSTGRES_URL)")) {
            try loadConfig(#"{"queue": {"backend": "postgres"}}"#)
        }
        #expect(throws: ConfigError("queue.backend", "\"kafka\" is not a queue backend (disk, postgres)")) {
            try loadConfig(#"{"queue": {"backend": "kafka"}}"#)
        }
        #expect(throws: ConfigError("queue.laneLeaseMilliseconds", "100 is out of range (2000-600000)")) {
            try loadConfig(#"{"queue": {"laneLeaseMilliseconds": 100}}"#)
        }
    }
}
