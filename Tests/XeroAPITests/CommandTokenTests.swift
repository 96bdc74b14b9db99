import FakeXero
import Foundation
import TestSupport
import Testing
import XeroAPI
import XeroTestSupport

@Suite struct CommandTokenTests {
    func provider(_ script: String, timeout: Duration = .seconds(10)) -> CommandTokenProvider {
        CommandTokenProvider(command: ["/bin/sh", "-c", script], timeout: timeout, spawnGate: { try withProcessSpawnLock($0) })
    }

    @Test func commandOutputIsTheToken() async throws {
        let harness = try Harness()
        defer { harness.stop() }
        let tenant = newID(), id = newID()
        harness.fake.addRecord(tenant: tenant, collection: "Invoices", id: id)
        let token = harness.fake.issueAccessToken(tenants: [tenant])
        let provider = provider(#"printf '{"access_token":"\#(token)","expires_in":1800,"scope":"a b"}'"#)
        let client = try harness.makeClient(provider)
        let ref = harness.ref(tenant, "INVOICE", id)
        guard case .found = try #require(await client.fetch([ref])[ref.key]) else { throw Failure("not found") }
        let status = await provider.status()
        #expect(status.state == .ready)
        #expect(status.scopes == ["a", "b"])
    }

    @Test func failingCommandReportsTheFirstLineOfStderr() async {
        let failing = provider("echo 'vault: permission denied' >&2; echo second >&2; exit 3")
        guard case let .unavailable(reason, _) = await failing.token() else {
            Issue.record("expected unavailable")
            return
        }
        #expect(reason.contains("exited with status 3: vault: permission denied"))
        #expect(!reason.contains("second"))
        guard case .failing = await failing.status().state else {
            Issue.record("status must say failing")
            return
        }
    }

    @Test func slowCommandTimesOut() async {
        let started = ContinuousClock.now
        let slow = provider("exec sleep 600", timeout: .milliseconds(300))
        guard case let .unavailable(reason, _) = await slow.token() else {
            Issue.record("expected unavailable")
            return
        }
        #expect(reason.contains("did not finish"))
        // Killed, not waited for: far less than the command's 600 s, with room for a busy machine.
        #expect(ContinuousClock.now - started < .seconds(300))
    }

    @Test func outputWithoutATokenIsRejected() async {
        guard case let .unavailable(reason, _) = await provider("echo hello").token() else {
            Issue.record("expected unavailable")
            return
        }
        #expect(reason.contains("no JSON token response"))
    }

    @Test func aHelperHoldingTheCommandsOutputIsNamedAsSuch() async {
        let result = await CommandRunner.run(["/bin/sh", "-c", "echo '{}'; sleep 30 & exit 0"], timeout: .milliseconds(300))
        #expect(result == .failure(.outputHeldOpen(.milliseconds(300))), "\(result)")
    }
}

