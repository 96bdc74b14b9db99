import SystemSupport

extension ChildEnvironment {
    /// The line `check-config` prints for a `passEnvironment` key: each name, marking the ones
    /// that hold a secret of the daemon's (passed on purpose, but worth seeing) and the ones the
    /// daemon's environment does not have. Never a value.
    package static func describe(passing names: [String], built: ChildEnvironment) -> String {
        var baseList = baseNames
        baseList.insert(basePrefix + "*", at: (baseList.firstIndex(of: "LANG") ?? 0) + 1)
        let base = baseList.joined(separator: " ")
        guard !names.isEmpty else { return "none (the command gets only the base set: \(base))" }
        let listed = names.map { name in
            if built.variables[name] == nil { return "\(name) (not set)" }
            return isDaemonSecret(name) ? "\(name) (a secret of the daemon's, passed on purpose)" : name
        }
        return listed.joined(separator: ", ") + ", besides the base set (\(base))"
    }

    /// Variables through which the daemon receives secrets or the place of its credential files.
    package static func isDaemonSecret(_ name: String) -> Bool {
        name.hasPrefix("PAN_SEC_") || name == SinkSecret.variable || name == "CREDENTIALS_DIRECTORY"
    }
}
