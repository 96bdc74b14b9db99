import Foundation
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// A PostgreSQL cluster of its own for a test run: `initdb` in a temporary directory, the server
/// on a loopback port the kernel picked free, its Unix socket in that directory, trust
/// authentication for the one user. `stop()` (also at process exit, see `TestPostgres`) shuts
/// it down and removes the directory.
///
/// initdb and postgres refuse to run as root: as root they run as `nobody` (through setpriv),
/// with the directory given to that user.
package final class ThrowawayPostgres: Sendable {
    /// Why no server could be started, as a sentence.
    package struct Unavailable: Error, CustomStringConvertible {
        package let description: String
    }

    package static let user = "xero_test"
    package let port: UInt16
    package let directory: TemporaryDirectory
    private let binaries: String
    private let runAs: [String]

    /// `postgres://xero_test@127.0.0.1:<port>/<database>?sslmode=disable`.
    package func url(database: String = "postgres") -> String {
        "postgres://\(Self.user)@127.0.0.1:\(port)/\(database)?sslmode=disable"
    }

    private init(port: UInt16, directory: TemporaryDirectory, binaries: String, runAs: [String]) {
        self.port = port
        self.directory = directory
        self.binaries = binaries
        self.runAs = runAs
    }

    /// The newest `/usr/lib/postgresql/<version>/bin` holding initdb and pg_ctl (Debian's layout).
    package static func findBinaries() -> String? {
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap { name in Int(name).map { ($0, name) } }
        for (_, name) in versions.sorted(by: { $0.0 > $1.0 }) {
            let bin = "\(root)/\(name)/bin"
            if FileManager.default.isExecutableFile(atPath: bin + "/initdb"), FileManager.default.isExecutableFile(atPath: bin + "/pg_ctl") { return bin }
        }
        return nil
    }

    /// Creates and starts a cluster; throws `Unavailable` saying which step failed.
    package static func start() throws(Unavailable) -> ThrowawayPostgres {
        guard let binaries = findBinaries() else {
            throw Unavailable(description: "no PostgreSQL server programs (initdb, pg_ctl) under /usr/lib/postgresql/*/bin; install Debian's postgresql package")
        }
        let directory: TemporaryDirectory
        do {
            directory = try TemporaryDirectory("xero-webhookd-postgres")
        } catch {
            throw Unavailable(description: "cannot create a temporary directory: \(error)")
        }
        var runAs: [String] = []
        if geteuid() == 0 {
            // initdb: "cannot be run as root". The cluster belongs to nobody; the temp dir's
            // parent (/tmp) lets every user through.
            guard FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") else {
                directory.remove()
                throw Unavailable(description: "running as root and /usr/bin/setpriv (util-linux) is missing to run initdb as nobody")
            }
            guard chown(directory.path, 65_534, 65_534) == 0, chmod(directory.path, 0o700) == 0 else {
                directory.remove()
                throw Unavailable(description: "cannot give \(directory.path) to nobody: \(String(cString: strerror(errno)))")
            }
            runAs = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
        }
        let cluster = ThrowawayPostgres(port: 0, directory: directory, binaries: binaries, runAs: runAs)
        let initdb = try cluster.run("initdb", ["-D", directory.file("data"), "-U", user, "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"])
        guard initdb.status == 0 else {
            directory.remove()
            throw Unavailable(description: "initdb failed (exit \(initdb.status)): \(initdb.stderr.suffix(400))")
        }
        // A port the kernel picked free a moment ago; should another process take it first, the
        // start fails and another port is picked.
        var lastError = ""
        for _ in 0..<5 {
            let (fd, port) = loopbackListener()
            close(fd)
            let started = ThrowawayPostgres(port: port, directory: directory, binaries: binaries, runAs: runAs)
            let options = "-c listen_addresses=127.0.0.1 -p \(port) -k \(directory.path) -c fsync=off -c max_connections=500"
            let result = try started.run("pg_ctl", ["-D", directory.file("data"), "-l", directory.file("server.log"), "-w", "-t", "60", "-o", options, "start"])
            if result.status == 0 { return started }
            let log = (try? String(contentsOfFile: directory.file("server.log"), encoding: .utf8)) ?? ""
            lastError = "pg_ctl start failed (exit \(result.status)): \(result.stderr.suffix(300)) \(log.suffix(400))"
            _ = try? started.run("pg_ctl", ["-D", directory.file("data"), "-m", "immediate", "-w", "stop"])  // nothing may be running
        }
        directory.remove()
        throw Unavailable(description: lastError)
    }

    /// Stops the server (immediate shutdown: nothing in it is kept) and removes its directory.
    package func stop() {
        _ = try? run("pg_ctl", ["-D", directory.file("data"), "-m", "immediate", "-w", "stop"])  // best effort at teardown
        directory.remove()
    }

    /// Runs one of the server programs, as nobody when this process is root, and waits for it.
    ///
    /// Not through Foundation's Process: it learns of a child's exit from a socket the child
    /// inherits, and the server pg_ctl leaves running keeps that socket open, so the wait never
    /// ends. Here the program gets /dev/null, one output file, and no other descriptor of this
    /// process (closefrom 3), and is reaped with waitpid.
    private func run(_ program: String, _ arguments: [String]) throws(Unavailable) -> (status: Int32, stdout: String, stderr: String) {
        let command = runAs + [binaries + "/" + program] + arguments
        let output = directory.path + "-\(program).out"
        defer { unlink(output) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        guard GNUSpawnActions.closeFrom(&actions, 3), GNUSpawnActions.changeDirectory(&actions, directory.path) else {
            throw Unavailable(description: "this C library lacks posix_spawn_file_actions_addclosefrom_np or _addchdir_np (glibc 2.34 or later has both)")
        }
        let pid: pid_t
        do {
            pid = try spawnProcess(command, environment: ["PATH=/usr/bin:/bin", "LC_ALL=C", "HOME=\(directory.path)"], actions: &actions)
        } catch {
            throw Unavailable(description: "cannot run \(program): \(error)")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw Unavailable(description: "waitpid for \(program): \(String(cString: strerror(errno)))") }
        }
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""  // no output file: nothing to report
        // Exit status as the shell reports it; a signal as 128 + its number.
        let code = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        return (code, text, text)
    }
}

/// glibc's posix_spawn file actions that Glibc's module map leaves out (they need _GNU_SOURCE),
/// looked up at run time.
enum GNUSpawnActions {
    private typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    private typealias ChangeDirectory = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32

    private static func symbol<T>(_ name: String, as type: T.Type) -> T? {
        guard let handle = dlopen(nil, RTLD_NOW), let address = dlsym(handle, name) else { return nil }
        return unsafeBitCast(address, to: type)
    }

    /// The child closes every descriptor from `lowest` up before it runs the program.
    static func closeFrom(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ lowest: Int32) -> Bool {
        symbol("posix_spawn_file_actions_addclosefrom_np", as: CloseFrom.self).map { $0(actions, lowest) == 0 } ?? false
    }

    /// The child changes to `path` before it runs the program.
    static func changeDirectory(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ path: String) -> Bool {
        symbol("posix_spawn_file_actions_addchdir_np", as: ChangeDirectory.self).map { function in path.withCString { function(actions, $0) == 0 } } ?? false
    }
}

// An immediate stop and a start on the same port, for tests that take the
// server away under a client and bring it back (a crash, a failover to the same address).
extension ThrowawayPostgres {
    /// `pg_ctl stop -m immediate`: every backend ends at once, no shutdown checkpoint.
    package func stopImmediately() throws {
        let result = try run("pg_ctl", ["-D", directory.file("data"), "-m", "immediate", "-w", "stop"])
        guard result.status == 0 else { throw Unavailable(description: "pg_ctl stop: \(result.stderr)") }
    }

    /// Starts the stopped server again on the same port and socket directory.
    package func startAgain() throws {
        let options = "-c listen_addresses=127.0.0.1 -p \(port) -k \(directory.path) -c fsync=off -c max_connections=500"
        let result = try run("pg_ctl", ["-D", directory.file("data"), "-l", directory.file("server.log"), "-w", "-t", "60", "-o", options, "start"])
        guard result.status == 0 else { throw Unavailable(description: "pg_ctl start: \(result.stderr)") }
    }
}

// The same, for async tests: starting and stopping a server blocks for seconds (initdb,
// pg_ctl), which on the concurrency pool's few threads would stall every test running beside
// it. These run on a thread of their own.
extension ThrowawayPostgres {
    private static func offPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread { continuation.resume(with: Result { try work() }) }
        }
    }

    /// `start()` off the concurrency pool.
    package static func startOffPool() async throws -> ThrowawayPostgres {
        try await offPool { try ThrowawayPostgres.start() }
    }

    /// `stopImmediately()` off the concurrency pool.
    package func stopImmediatelyOffPool() async throws {
        try await Self.offPool { try self.stopImmediately() }
    }

    /// `startAgain()` off the concurrency pool.
    package func startAgainOffPool() async throws {
        try await Self.offPool { try self.startAgain() }
    }

    /// `stop()` on a thread of its own, not waited for (for `defer` in async tests).
    package func stopInBackground() {
        Thread.detachNewThread { self.stop() }
    }
}
