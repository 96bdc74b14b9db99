import SystemSupport

extension ConfigObject {
    /// An array of environment variable names to pass to a command (`sink.passEnvironment`,
    /// `xero.auth.passEnvironment`). An entry that is not a name is an error naming its
    /// position, never its text: `NAME=value` written by mistake may hold a secret.
    package func variableNames(_ key: String) throws(ConfigError) -> [String]? {
        guard let names = try stringArray(key) else { return nil }
        for (index, name) in names.enumerated() where !ChildEnvironment.isVariableName(name) {
            let hint = name.contains("=") ? "; list names only, not NAME=value (the value is not shown)" : ""
            throw ConfigError(keyPath(key), "entry \(index + 1) is not a variable name (a letter or _, then letters, digits, _)\(hint)")
        }
        var seen = Set<String>()
        return names.filter { seen.insert($0).inserted }
    }
}
