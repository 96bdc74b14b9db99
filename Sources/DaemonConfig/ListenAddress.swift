/// Parses `HOST:PORT`, `[IPv6]:PORT` or `:PORT` (keeps the configured host).
package enum ListenAddress {
    package static func parse(_ text: String, defaultHost: String) throws(ConfigError) -> (host: String, port: UInt16) {
        var host: Substring
        var portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                throw ConfigError("--listen", "\"\(text)\" is not [IPv6]:PORT")
            }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else { throw ConfigError("--listen", "\"\(text)\" is not HOST:PORT") }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        if host.isEmpty { host = Substring(defaultHost) }
        guard ConfigLoader.isNumericAddress(String(host)) else {
            throw ConfigError("--listen", "\"\(host)\" is not a numeric IPv4 or IPv6 address")
        }
        guard let port = Int(portText), (0...65535).contains(port) else {
            throw ConfigError("--listen", "\(portText) is not a port (0-65535)")
        }
        return (String(host), UInt16(port))
    }
}
