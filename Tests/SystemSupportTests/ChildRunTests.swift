import Foundation
import Glibc
import SystemSupport
import TestSupport
import Testing

/// `ChildRun`: one program run to its end on one thread, for the token commands and the
/// command sink.
@Suite struct ChildRunTests {
    let environment = ChildEnvironment(from: ["PATH": "/usr/bin:/bin"])

    func sh(_ script: String, stdin: [UInt8]? = nil, capture: Bool = true, maxStdout: Int = 1 << 20,
            timeout: Duration = .seconds(20)) throws -> ChildRun.Outcome {
        try ChildRun.run("/bin/sh", arguments: ["sh", "-c", script], environment: environment, stdin: stdin,
                         captureStdout: capture, maxStdout: maxStdout, timeout: timeout).get()
    }

    @Test func keepsStdoutTheExitStatusAndTheFirstErrorLine() throws {
        let outcome = try sh("echo out; echo first >&2; echo second >&2; exit 3")
        #expect(outcome.ending == .exited(3))
        #expect(outcome.stdout == Array("out\n".utf8))
        #expect(outcome.firstErrorLine == "first")
        #expect(!outcome.timedOut && !outcome.stdoutOverflowed)
    }

    @Test func writesStdinFarLargerThanASocketBufferAsTheProgramReads() throws {
        let input = (0..<(4 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let outcome = try sh("wc -c", stdin: input)
        #expect(outcome.ending == .exited(0))
        #expect(String(decoding: outcome.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) == "\(input.count)")
    }

    @Test func aProgramThatNeverReadsItsInputEndsTheRunWhenItExits() throws {
        let started = Date()
        let outcome = try sh("exit 0", stdin: [UInt8](repeating: 0x61, count: 4 << 20))
        #expect(outcome.ending == .exited(0))
        #expect(!outcome.timedOut)
        #expect(Date().timeIntervalSince(started) < 10, "the unread input must not hold the run to its deadline")
    }

    @Test func outputPastTheLimitIsDroppedAndSaid() throws {
        let outcome = try sh("head -c 3000000 /dev/zero", maxStdout: 1 << 20)
        #expect(outcome.ending == .exited(0))
        #expect(outcome.stdout.count == 1 << 20)
        #expect(outcome.stdoutOverflowed)
    }

    @Test func theDeadlineStopsTheProgramAndTheHelpersItStarted() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let outcome = try sh("sleep 30 & echo $! > \(dir.file("helper")); wait", timeout: .milliseconds(300))
        #expect(outcome.timedOut)
        #expect(outcome.ending == .killed(signal: SIGTERM))
        let helper = try #require(pid_t(String(contentsOfFile: dir.file("helper"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(waitUntil(seconds: 10) {
            kill(helper, 0) != 0 || ((try? String(contentsOfFile: "/proc/\(helper)/stat", encoding: .utf8)) ?? "").contains(") Z ")
        })
    }

    @Test func aHelperLeftHoldingStderrDoesNotHoldTheRun() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let started = Date()
        // The helper inherits stderr and outlives the program; the exit status decides at once.
        let outcome = try sh("(sleep 30 & echo $! > \(dir.file("helper"))); echo bye >&2; exit 0", capture: false)
        let helper = pid_t(((try? String(contentsOfFile: dir.file("helper"), encoding: .utf8)) ?? "")
            .trimmingCharacters(in: .whitespacesAndNewlines))
        if let helper { kill(helper, SIGKILL) }
        #expect(outcome.ending == .exited(0))
        #expect(!outcome.timedOut)
        #expect(outcome.firstErrorLine == "bye")
        #expect(Date().timeIntervalSince(started) < 10)
    }

    @Test func aHelperLeftHoldingStdoutIsWaitedForUntilTheDeadline() throws {
        // The output is all of the answer (a token command's token), so its end is waited for.
        let outcome = try sh("(sleep 30 &); echo token", timeout: .milliseconds(300))
        #expect(outcome.timedOut)
        #expect(outcome.outputHeldOpen, "the program itself had exited: it is the helper that held the output")
        #expect(outcome.stdout == Array("token\n".utf8))
    }

    @Test func aProgramThatCannotStartIsTheSystemCallsError() {
        let result = ChildRun.run("/nonexistent/program", arguments: ["program"], environment: environment,
                                  captureStdout: true, timeout: .seconds(5))
        guard case let .failure(error) = result else {
            Issue.record("a missing program started: \(result)")
            return
        }
        #expect(error.call == "posix_spawn")
        #expect(error.errno == ENOENT)
    }

    @Test func manyRunsAtOnceEachGetTheirOwnAnswer() async throws {
        for _ in 0..<3 {
            let answers = await withTaskGroup(of: (Int, String).self) { group in
                for index in 0..<48 {
                    group.addTask {
                        let outcome = await ChildRun.runDetached("/bin/sh", arguments: ["sh", "-c", "echo \(index); echo e\(index) >&2"],
                                                                 environment: environment, stdin: Array("\(index)".utf8),
                                                                 captureStdout: true, timeout: .seconds(30))
                        guard case let .success(run) = outcome, run.ending == .exited(0), run.firstErrorLine == "e\(index)" else {
                            return (index, "failed: \(outcome)")
                        }
                        return (index, String(decoding: run.stdout, as: UTF8.self))
                    }
                }
                var answers: [Int: String] = [:]
                for await (index, answer) in group { answers[index] = answer }
                return answers
            }
            for index in 0..<48 { #expect(answers[index] == "\(index)\n") }
        }
    }

    @Test func aProgramThatLeavesItsProcessGroupIsStillStoppedAtTheDeadline() throws {
        let started = Date()
        // Moves into this process's group (out of reach of a signal to its own) and ignores SIGTERM.
        let result = ChildRun.run("/usr/bin/perl", arguments: ["perl", "-e", "setpgrp(0, getpgrp(getppid())) or die; $SIG{TERM} = 'IGNORE'; sleep 30"],
                                  environment: environment, captureStdout: false, timeout: .milliseconds(300))
        let outcome = try result.get()
        #expect(outcome.timedOut)
        #expect(!outcome.outputHeldOpen)
        #expect(outcome.ending == .killed(signal: SIGKILL))
        #expect(Date().timeIntervalSince(started) < 10, "the run must end about 2 s after its deadline")
    }

    @Test func timeoutsAtTheEdgesOfDuration() throws {
        let huge = try sh("exit 0", timeout: .seconds(9_223_372_036) + .milliseconds(900))
        #expect(huge.ending == .exited(0) && !huge.timedOut, "a timeout too long to count in nanoseconds is no timeout at all")
        let negative = try sh("sleep 30", timeout: .seconds(Int64.min))
        #expect(negative.timedOut, "a negative timeout is over at once")
    }

    @Test func theFirstErrorLineCarriesNoControlCharacters() throws {
        let outcome = try sh(#"printf '\033[31mred\tline\r\nsecond\n' >&2; exit 1"#)
        #expect(outcome.firstErrorLine == "?[31mred?line")
        let long = try sh("head -c 5000 /dev/zero | tr '\\0' x >&2; exit 1")
        #expect(long.firstErrorLine.count == 200)
    }

    @Test func namesWithoutASlashAreLookedUpOnThePath() {
        #expect(ChildProcess.resolve("sh", path: "/nonexistent:/bin") == "/bin/sh")
        #expect(ChildProcess.resolve("sh", path: "/nonexistent") == nil)
        #expect(ChildProcess.resolve("/bin/sh") == "/bin/sh")
        #expect(ChildProcess.resolve("./no-such-program") == nil)
    }
}

