/// The environment a command the daemon runs (the token command, the command sink) starts
/// with: a short allowlist of ordinary variables plus the names the operator passes on purpose,
/// never the daemon's whole environment.
///
/// The daemon's environment holds its secrets (`PAN_SEC_XERO_WEBHOOK_KEY`, the Xero client
/// secret and access token, `XERO_WEBHOOKD_SINK_SECRET`), `CREDENTIALS_DIRECTORY` (where
/// systemd put the credential files), and `NOTIFY_SOCKET` / `LISTEN_FDS` (with which a child
/// could speak for the service). A denylist would miss the next secret someone adds under a
/// new name; an allowlist fails safe: a command that needs more gets it by name in the config,
/// where `check-config` shows it. The base keeps what ordinary programs expect to find: the
/// search path, home directory, locale, time zone, temporary directory and user name.
package struct ChildEnvironment: Sendable, Equatable {
    /// Variables every child gets when the daemon has them.
    package static let baseNames: [String] = ["PATH", "HOME", "LANG", "TZ", "TMPDIR", "USER", "LOGNAME", "SHELL"]
    /// Locale categories (`LC_ALL`, `LC_CTYPE`, …) are passed too: the POSIX and glibc ones by
    /// name, not any `LC_` name (`LC_SECRET` is not a locale).
    package static let basePrefix = "LC_"
    package static let localeNames: Set<String> = [
        "LC_ALL", "LC_CTYPE", "LC_COLLATE", "LC_MESSAGES", "LC_MONETARY", "LC_NUMERIC", "LC_TIME",
        "LC_ADDRESS", "LC_IDENTIFICATION", "LC_MEASUREMENT", "LC_NAME", "LC_PAPER", "LC_TELEPHONE",
    ]

    /// The child's variables by name.
    package let variables: [String: String]

    /// The base variables of `environment`, plus each of `passing` that `environment` has. A
    /// name in `passing` is passed whatever it is, a secret's too: naming it is the operator's
    /// decision (a token command may need the client secret). Names not set are left out.
    package init(from environment: [String: String], passing names: [String] = []) {
        let wanted = Set(Self.baseNames).union(Self.localeNames).union(names)
        variables = environment.filter { name, _ in wanted.contains(name) }
    }

    /// `NAME=value` strings sorted by name, as `posix_spawn` takes them.
    package var entries: [String] {
        variables.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
    }

    /// True for a name a shell would accept: a letter or `_`, then letters, digits and `_`.
    package static func isVariableName(_ name: String) -> Bool {
        guard let first = name.utf8.first, first == UInt8(ascii: "_") || isLetter(first) else { return false }
        return name.utf8.allSatisfy { $0 == UInt8(ascii: "_") || isLetter($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
    }

    private static func isLetter(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
    }
}
