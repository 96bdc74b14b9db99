import ArgumentParser
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
struct Reload: ParsableCommand {
    static let configuration = CommandConfiguration(
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

    @OptionGroup var state: StateOptions

    @Option(help: ArgumentHelp("The daemon's process id (under systemd: $MAINPID).", valueName: "pid"))
    var pid: Int32

    @Option(help: ArgumentHelp("Seconds to wait for the daemon's answer.", valueName: "seconds"))
    var timeout = 60

    func validate() throws {
        guard pid > 0 else { throw ValidationError("--pid must be a process id (a positive number)") }
        guard (1...3600).contains(timeout) else { throw ValidationError("--timeout must be between 1 and 3600 seconds") }
    }

    func run() throws {
        let settings = try state.settings(for: "reload")
        let path = StateOptions.absolute(settings.stateDirectory) + "/" + ReloadResult.fileName
        let before = ReloadResult.read(path)
        guard kill(pid, SIGHUP) == 0 else {
            printError("reload: cannot signal process \(pid): \(String(cString: strerror(errno)))")
            throw ExitCode.failure
        }
        let after = before?.pid == pid ? before!.number : 0
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(timeout) * 1_000_000_000
        while DispatchTime.now().uptimeNanoseconds < deadline {
            if let result = ReloadResult.read(path), result.pid == pid, result.number > after {
                if let error = result.error {
                    printError("reload: rejected, the running configuration stays: \(error)")
                    throw ExitCode.failure
                }
                writeOut(Array("reload: configuration reloaded\n".utf8))
                return
            }
            usleep(20_000)  // a reload takes milliseconds; this waits for another process, not a test
        }
        printError("reload: process \(pid) gave no answer in \(path) within \(timeout) s (is it xero-webhookd serve with this state directory?)")
        throw ExitCode.failure
    }
}

/// What a daemon writes after each SIGHUP: its pid, the how-manieth reload this was, and why
/// it was rejected (nil when it took effect). One JSON object, replaced atomically.
struct ReloadResult: Equatable {
    static let fileName = "reload-result"

    var pid: Int32
    var number: Int
    var error: String?

    func json() -> [UInt8] {
        var object: [String: Any] = ["pid": Int(pid), "reload": number, "result": error == nil ? "reloaded" : "rejected"]
        if let error { object["error"] = error }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return Array(data) + [10]
    }

    static func read(_ path: String) -> ReloadResult? {
        guard let data = FileManager.default.contents(atPath: path),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let pid = object["pid"] as? Int, let number = object["reload"] as? Int,
              let result = object["result"] as? String else { return nil }
        let error = result == "reloaded" ? nil : (object["error"] as? String ?? "rejected")
        return ReloadResult(pid: Int32(pid), number: number, error: error)
    }

    /// Written by the daemon; a failure is logged by the caller, the reload itself stands.
    func write(stateDirectory: String) throws(SystemCallError) {
        try AtomicFile.replace(stateDirectory + "/" + Self.fileName, with: json(), mode: 0o640)
    }
}
