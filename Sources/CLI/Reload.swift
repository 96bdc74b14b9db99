import ArgumentParser
import DaemonConfig
import DaemonRuntime
import Dispatch
import Foundation
import SystemSupport
#if canImport(Glibc)
import Glibc
#endif

/// `xero-webhookd reload --pid PID`: SIGHUP to a running daemon, then its verdict. The unit's
/// `ExecReload=`: `systemctl reload` then fails when the daemon rejected the new configuration,
/// which no released systemd can learn from a `Type=notify-reload` service (its READY=1 after a
/// reload has no way to say "rejected"), and which `kill -HUP` never knew.
package struct Reload: ParsableCommand {
    package init() {}

    package static let configuration = CommandConfiguration(
        abstract: "Make a running daemon re-read its configuration and report whether it took it.",
        discussion: """
        Sends SIGHUP to --pid and waits for the daemon's answer in <state directory>/reload-result. \
        Exits 0 when the new configuration took effect, 1 when the daemon rejected it (the running \
        configuration stays; the reason is printed) or did not answer within --timeout seconds. \
        With --config, a config that does not load is reported at once and the daemon is not \
        signalled. Under systemd: ExecReload=xero-webhookd reload --pid $MAINPID (the state \
        directory comes from $STATE_DIRECTORY).
        """
    )

    @OptionGroup package var state: StateOptions

    @Option(help: ArgumentHelp("The daemon's process id (under systemd: $MAINPID).", valueName: "pid"))
    package var pid: Int32

    @Option(help: ArgumentHelp("Seconds to wait for the daemon's answer.", valueName: "seconds"))
    package var timeout = 60

    package func validate() throws {
        guard pid > 0 else { throw ValidationError("--pid must be a process id (a positive number)") }
        guard (1...3600).contains(timeout) else { throw ValidationError("--timeout must be between 1 and 3600 seconds") }
    }

    package func run() throws {
        let settings = try state.settings(for: "reload")
        let path = StateOptions.absolute(settings.stateDirectory) + "/" + ReloadResult.fileName
        // Only a reload that started after this signal answers it: not one already under way
        // (it read the config before the change this reload is for), not a file an earlier
        // daemon left (in a container the daemon is often always pid 1). The pid in the file is
        // not compared: a daemon in its own pid namespace writes the pid it sees (often 1), not
        // the one given here, and one state directory has one daemon (the queue's lock).
        let signalled = ReloadResult.Moment.now()
        guard kill(pid, SIGHUP) == 0 else {
            throw failure("reload: cannot signal process \(pid): \(String(cString: strerror(errno)))")
        }
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(timeout) * 1_000_000_000
        while DispatchTime.now().uptimeNanoseconds < deadline {
            if let result = ReloadResult.read(path), result.started.isAfter(signalled), !result.started.isAfter(.now()) {
                if let error = result.error {
                    throw failure("reload: rejected, the running configuration stays: \(error)")
                }
                writeOut(Array("reload: configuration reloaded\n".utf8))
                return
            }
            if Self.hasExited(pid) {
                throw failure("reload: process \(pid) exited without an answer (SIGHUP ends a process that is not xero-webhookd serve)")
            }
            usleep(20_000)  // a reload takes milliseconds; this waits for another process, not a test
        }
        throw failure("reload: process \(pid) gave no answer in \(path) within \(timeout) s (is it xero-webhookd serve with this state directory? its log says why it could not write there)")
    }

    /// Gone, or a zombie its parent has not reaped yet (it exited all the same).
    package static func hasExited(_ pid: Int32) -> Bool {
        if kill(pid, 0) != 0 { return errno == ESRCH }
        guard let stat = try? FileBytes.read("/proc/\(pid)/stat"),
              let close = stat.lastIndex(of: UInt8(ascii: ")")), close + 2 < stat.count else { return false }
        return stat[close + 2] == UInt8(ascii: "Z")
    }
}

/// What a daemon writes after each SIGHUP: its pid, when the reload started, and why it was
/// rejected (nil when it took effect). One JSON object, replaced atomically.
package struct ReloadResult: Equatable {
    package static let fileName = "reload-result"

    /// A moment on this machine's monotonic clock, with the boot it belongs to (the clock starts
    /// again at every boot, and a state directory outlives boots).
    package struct Moment: Equatable {
        package var boot: String
        package var nanoseconds: UInt64

        package static func now() -> Moment {
            var time = timespec()
            clock_gettime(CLOCK_MONOTONIC, &time)
            return Moment(boot: bootID, nanoseconds: UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec))
        }

        /// Same boot, and not earlier (a time on another boot's clock compares with nothing).
        package func isAfter(_ other: Moment) -> Bool { boot == other.boot && nanoseconds >= other.nanoseconds }

        package static let bootID: String = {
            let bytes = (try? FileBytes.read("/proc/sys/kernel/random/boot_id")) ?? []
            return String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }()
    }

    package var pid: Int
    package var started: Moment
    package var error: String?

    package func json() -> [UInt8] {
        var object: [String: Any] = ["pid": pid, "boot": started.boot, "startedNanoseconds": String(started.nanoseconds),
                                     "result": error == nil ? "reloaded" : "rejected"]
        if let error { object["error"] = error }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return Array(data) + [10]
    }

    /// The most a verdict may take (a daemon writes about 200 bytes, and its reason).
    package static let maxBytes = 16_384

    /// Nil for a file that is missing or is not one a daemon wrote (whatever its content): a
    /// symbolic link, anything but a regular file, over `maxBytes`, or fields of the wrong type.
    package static func read(_ path: String) -> ReloadResult? {
        guard let bytes = try? FileBytes.read(path, limit: maxBytes, followSymlinks: false),
              let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
              let pidText = (object["pid"] as? NSNumber)?.stringValue, let pid = Int(pidText),
              let boot = object["boot"] as? String,
              let started = (object["startedNanoseconds"] as? String).flatMap({ UInt64($0) }),
              let result = object["result"] as? String, ["reloaded", "rejected"].contains(result) else { return nil }
        let error: String?
        if result == "reloaded" {
            error = nil
        } else if let reason = object["error"] {
            guard let text = reason as? String else { return nil }
            error = text
        } else {
            error = "rejected"
        }
        return ReloadResult(pid: pid, started: Moment(boot: boot, nanoseconds: started), error: error)
    }

    /// Written by the daemon; a failure is logged by the caller, the reload itself stands.
    package func write(stateDirectory: String) throws(SystemCallError) {
        try AtomicFile.replace(stateDirectory + "/" + Self.fileName, with: json(), mode: 0o640)
    }
}
