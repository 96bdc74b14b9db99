import Foundation
import XeroAPI

/// Reads the `xero` object of the config into `XeroSettings`, naming the key path in errors
/// (`config: xero.auth.mode: "x" is not one of …`).
package enum XeroSettingsLoader {
    package static func apply(_ xero: ConfigObject, to settings: inout XeroSettings) throws(ConfigError) {
        settings.apiBaseURL = try baseURL(xero, "apiBaseURL") ?? settings.apiBaseURL
        settings.identityBaseURL = try baseURL(xero, "identityBaseURL") ?? settings.identityBaseURL
        settings.loginBaseURL = try baseURL(xero, "loginBaseURL") ?? settings.loginBaseURL
        if let timeout = try xero.integer("requestTimeoutMilliseconds") {
            guard (1000...600_000).contains(timeout) else {
                throw ConfigError("xero.requestTimeoutMilliseconds", "\(timeout) is out of range (1000-600000)")
            }
            settings.requestTimeoutMilliseconds = timeout
        }
        if let auth = try xero.object("auth") { try applyAuth(auth, to: &settings.auth) }
        if let limits = try xero.object("limits") { try applyLimits(limits, to: &settings.limits) }
        try xero.rejectUnknown(["apiBaseURL", "identityBaseURL", "loginBaseURL", "requestTimeoutMilliseconds", "auth", "limits"])
        if settings.auth.mode == .command && settings.auth.command == nil {
            throw ConfigError("xero.auth.command", "is required when xero.auth.mode is command")
        }
    }

    private static func applyAuth(_ o: ConfigObject, to auth: inout XeroSettings.Auth) throws(ConfigError) {
        if let mode = try o.string("mode") {
            guard let parsed = XeroSettings.AuthMode(rawValue: mode) else {
                let names = XeroSettings.AuthMode.allCases.map(\.rawValue).joined(separator: ", ")
                throw ConfigError("xero.auth.mode", "\"\(mode)\" is not one of \(names)")
            }
            auth.mode = parsed
        }
        auth.accessTokenFile = try path(o, "accessTokenFile") ?? auth.accessTokenFile
        auth.clientIdFile = try path(o, "clientIdFile") ?? auth.clientIdFile
        auth.clientSecretFile = try path(o, "clientSecretFile") ?? auth.clientSecretFile
        if let command = try o.stringArray("command") {
            guard let program = command.first, !program.isEmpty else {
                throw ConfigError("xero.auth.command", "must name a program (a non-empty array of strings)")
            }
            auth.command = command
        }
        if let names = try o.variableNames("passEnvironment") { auth.passEnvironment = names }
        if let scopes = try o.string("scopes") {
            guard !scopes.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw ConfigError("xero.auth.scopes", "must not be empty")
            }
            auth.scopes = scopes
        }
        if let redirect = try o.string("redirectURI") {
            guard let components = URLComponents(string: redirect), components.scheme == "http" || components.scheme == "https",
                  let host = components.host, !host.isEmpty, components.port != nil || components.scheme == "https" else {
                throw ConfigError("xero.auth.redirectURI", "\"\(redirect)\" is not an http URL with a host and port")
            }
            auth.redirectURI = redirect
        }
        try o.rejectUnknown(["mode", "accessTokenFile", "clientIdFile", "clientSecretFile", "command", "passEnvironment", "scopes",
                             "redirectURI"])
    }

    private static func applyLimits(_ o: ConfigObject, to limits: inout RateLimits) throws(ConfigError) {
        // Upper bounds are Xero's own limits: the daemon may be kinder than Xero, never ruder.
        if let v = try o.integer("concurrentPerTenant", in: 1...5) { limits.concurrentPerTenant = v }
        if let v = try o.integer("perMinutePerTenant", in: 1...60) { limits.perMinutePerTenant = v }
        if let v = try o.integer("perDayPerTenant", in: 1...5000) { limits.perDayPerTenant = v }
        if let v = try o.integer("perMinuteApp", in: 1...10_000) { limits.perMinuteApp = v }
        try o.rejectUnknown(["concurrentPerTenant", "perMinutePerTenant", "perDayPerTenant", "perMinuteApp"])
    }

    private static func baseURL(_ o: ConfigObject, _ key: String) throws(ConfigError) -> String? {
        guard let text = try o.string(key) else { return nil }
        guard let components = URLComponents(string: text), let scheme = components.scheme,
              scheme == "https" || scheme == "http", let host = components.host, !host.isEmpty,
              components.query == nil, components.fragment == nil, components.user == nil else {
            throw ConfigError("xero.\(key)", "\"\(text)\" is not an http(s) URL without query or user info")
        }
        return text.hasSuffix("/") ? String(text.dropLast()) : text
    }

    private static func path(_ o: ConfigObject, _ key: String) throws(ConfigError) -> String? {
        guard let text = try o.string(key) else { return nil }
        guard !text.isEmpty else { throw ConfigError("xero.auth.\(key)", "must not be empty") }
        return text
    }
}
