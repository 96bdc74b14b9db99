import Glibc

/// Starts programs for the daemon (token commands, the command sink) with a clean slate.
///
/// The daemon blocks SIGTERM, SIGINT and SIGHUP in every thread (the main thread takes them
/// with sigwait) and ignores SIGPIPE; a child would inherit both, so it could not be stopped
/// with SIGTERM and would not die of a broken pipe. Here the child starts with an empty signal
/// mask, default dispositions, and in a process group of its own (so a timeout can stop the
/// helpers it started too). It gets descriptors 0-2 only. Its environment is only what `ChildEnvironment` lets through, never
/// this process's (which holds the daemon's secrets).
package enum ChildProcess {
    /// posix_spawn of `executable` with `arguments` (argv, the program name first) and exactly
    /// `environment`. A nil descriptor means /dev/null. Returns the child's pid.
    package static func spawn(_ executable: String, arguments: [String], environment: ChildEnvironment, stdin: Int32? = nil,
                             stdout: Int32? = nil, stderr: Int32? = nil) -> Result<pid_t, SystemCallError> {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (target, source, mode) in [(Int32(0), stdin, O_RDONLY), (1, stdout, O_WRONLY), (2, stderr, O_WRONLY)] {
            if let source {
                posix_spawn_file_actions_adddup2(&actions, source, target)
            } else {
                posix_spawn_file_actions_addopen(&actions, target, "/dev/null", mode, 0)
            }
        }
        // Nothing else of the daemon's reaches the child: not its connections to Xero (which carry
        // the access token), not a socket systemd passed, not a pipe another thread has just made
        // and not yet marked close-on-exec. After the dup2s, so 0-2 are already in place.
        closeFrom(3, in: &actions)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var every = sigset_t()
        sigfillset(&every)  // every ignored signal back to its default, not just the usual ones
        posix_spawnattr_setsigdefault(&attributes, &every)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))

        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for argument in argv { free(argument) } }
        let envp: [UnsafeMutablePointer<CChar>?] = environment.entries.map { strdup($0) } + [nil]
        defer { for entry in envp { free(entry) } }
        var child: pid_t = 0
        let result = posix_spawn(&child, executable, &actions, &attributes, argv, envp)
        guard result == 0 else { return .failure(SystemCallError(call: "posix_spawn", errno: result, path: executable)) }
        return .success(child)
    }

    /// `posix_spawn_file_actions_addclosefrom_np` (glibc 2.34 and later), looked up at run time:
    /// Swift's Glibc module does not declare it.
    private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    private static let addCloseFrom: AddCloseFrom? = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np")
        .map { unsafeBitCast($0, to: AddCloseFrom.self) }

    /// Adds actions that close every descriptor from `first` up in the child: one close-from
    /// action where glibc has it, else a close for each descriptor open now (from /proc/self/fd).
    private static func closeFrom(_ first: Int32, in actions: inout posix_spawn_file_actions_t) {
        if let addCloseFrom, addCloseFrom(&actions, first) == 0 { return }
        guard let directory = opendir("/proc/self/fd") else { return }
        defer { closedir(directory) }
        let own = dirfd(directory)
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if let fd = Int32(name), fd >= first, fd != own { posix_spawn_file_actions_addclose(&actions, fd) }
        }
    }

    /// The program `name` names: itself when it holds a `/` (if executable), else the first
    /// executable of that name in the directories of this process's `PATH`. Nil when none.
    package static func resolve(_ name: String, path: String? = nil) -> String? {
        if name.contains("/") { return access(name, X_OK) == 0 ? name : nil }
        let directories = path ?? getenv("PATH").map { String(cString: $0) } ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in directories.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }

    /// How a child ended, from a `waitpid` status.
    package enum Ending: Equatable, Sendable {
        case exited(Int32)
        case killed(signal: Int32)
        /// The status could not be learned: the child was reaped by someone else (SIGCHLD set
        /// to be ignored makes the kernel do it) or could not be waited for. Never a success.
        case unknown

        package init(waitStatus status: Int32) {
            let signal = status & 0x7F
            self = signal != 0 ? .killed(signal: signal) : .exited((status >> 8) & 0xFF)
        }
    }

    /// Blocks until `pid` ends (retrying on EINTR) and returns its raw wait status.
    package static func wait(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return status
    }
}
