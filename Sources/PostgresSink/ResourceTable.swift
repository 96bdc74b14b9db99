import DaemonConfig

/// The resource table's name, checked (`PostgresSinkSettings.tableProblem`) and quoted for SQL,
/// and the names derived from it: the migrations table in the same schema and the NOTIFY channel.
package struct ResourceTable: Sendable, Equatable {
    /// As configured: `xero_resources` or `schema.xero_resources`.
    package let name: String
    /// Each part double-quoted: `"schema"."xero_resources"`.
    package let quoted: String
    /// `"schema"."xero_webhookd_migrations"`, or unqualified beside an unqualified table.
    package let migrationsQuoted: String
    /// The channel `LISTEN` takes: the table's name as configured (default `xero_resources`).
    package var channel: String { name }

    /// Nil when `name` is not a valid table name.
    package init?(_ name: String) {
        guard PostgresSinkSettings.tableProblem(name) == nil else { return nil }
        self.name = name
        let parts = name.split(separator: ".").map { "\"\($0)\"" }
        quoted = parts.joined(separator: ".")
        migrationsQuoted = (parts.dropLast() + ["\"xero_webhookd_migrations\""]).joined(separator: ".")
    }
}
