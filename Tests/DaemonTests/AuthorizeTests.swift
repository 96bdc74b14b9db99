import FakeXero
import Foundation
import Synchronization
import TestSupport
import Testing
@testable import CLI
@testable import DaemonConfig
@testable import DaemonRuntime
import XeroAPI
import XeroAuthorization
import XeroTestSupport

/// `xero-webhookd authorize` and `token status` end to end against FakeXero; the browser's
/// redirect is an HTTP GET to the listener.
@Suite struct AuthorizeTests {
    func settings(_ harness: Harness, mode: XeroSettings.AuthMode = .refreshToken) -> XeroSettings {
        var settings = XeroSettings()
        settings.apiBaseURL = harness.configuration.apiBaseURL
        settings.identityBaseURL = harness.configuration.identityBaseURL
        settings.loginBaseURL = harness.configuration.loginBaseURL
        settings.auth.mode = mode
        settings.auth.redirectURI = "http://127.0.0.1:0/callback"
        return settings
    }

    func redirect(_ redirectURI: String, query: String) throws -> RawHTTPClient.Response {
        let url = try #require(URLComponents(string: redirectURI))
        let client = try RawHTTPClient(port: UInt16(try #require(url.port)))
        return try client.exchange(Array("GET \(url.path)?\(query) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8))
    }

    @Test func authorizeStoresTheRefreshTokenAndListsTenants() async throws {
        let harness = try Harness()
        defer { harness.stop() }
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let tenants = [newID(), newID()]
        harness.fake.addTenant(tenants[0], name: "Demo Company (NZ)")
        let flow = AuthorizationFlow(settings: settings(harness), client: harness.client, stateDirectory: dir.path + "/state",
                                     transport: harness.transport)
        let url = try flow.start()
        let components = try #require(URLComponents(string: url))
        #expect(url.hasPrefix(harness.configuration.apiBaseURL + "/identity/connect/authorize?response_type=code&client_id=client-id-1"))
        let items = Dictionary(uniqueKeysWithValues: (components.queryItems ?? []).map { ($0.name, $0.value ?? "") })
        #expect(items["scope"] == "offline_access accounting.invoices.read accounting.payments.read accounting.contacts.read")
        #expect(items["redirect_uri"] == flow.redirectURI)
        let state = try #require(items["state"])
        #expect(state.count == 64)
        harness.fake.registerAuthorizationCode("code-123", clientId: Harness.clientId, redirectURI: flow.redirectURI, tenants: tenants)

        let finished = Task { try await flow.finish(timeout: .seconds(30)) }
        // A request with another state is not the redirect of this run: refused, still waiting.
        #expect(try redirect(flow.redirectURI, query: "code=code-123&state=forged").status == 400)
        #expect(try redirect(flow.redirectURI, query: "code=code-123&state=\(state)").status == 200)
        let outcome = try await finished.value

        let stored = try #require(try TokenFile(stateDirectory: dir.path + "/state").load())
        #expect(stored.refreshToken.hasPrefix("rt-"))
        #expect(outcome.tokenFile == dir.path + "/state/xero-token.json")
        let permissions = try FileManager.default.attributesOfItem(atPath: outcome.tokenFile)[.posixPermissions] as? NSNumber
        #expect(permissions?.intValue == 0o600)
        let listed = try outcome.connections.get()
        #expect(Set(listed.map(\.tenantId)) == Set(tenants))
        #expect(listed.contains { $0.tenantName == "Demo Company (NZ)" })
        #expect(harness.fake.stats.tokenGrants["authorization_code"] == 1)
        let report = Authorize.report(outcome).joined(separator: "\n")
        #expect(report.contains("Demo Company (NZ)") && !report.contains(stored.refreshToken))

        // The stored token works for the daemon's provider.
        let provider = RefreshTokenProvider(client: harness.client, store: TokenFile(stateDirectory: dir.path + "/state"),
                                            identity: harness.identity, now: harness.clock.now)
        guard case .ready = await provider.token() else { throw Failure("the stored token must be usable") }
    }

    /// A browser step: GET `url` (on the fake or on the flow's listener); the status and the
    /// `Location` it is sent on to.
    func browse(_ url: String) throws -> (status: Int, location: String?) {
        let components = try #require(URLComponents(string: url))
        let client = try RawHTTPClient(port: UInt16(try #require(components.port)))
        let target = components.percentEncodedPath + (components.percentEncodedQuery.map { "?" + $0 } ?? "")
        let response = try client.exchange(Array("GET \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8))
        return (response.status, response.header("location"))
    }

    /// Runs the flow with a browser that follows every redirect, and returns its outcome.
    func consent(_ flow: AuthorizationFlow) async throws -> Result<AuthorizationFlow.Outcome, AuthorizationFlow.Failure> {
        var next: String? = try flow.start()
        let finished = Task { () -> Result<AuthorizationFlow.Outcome, AuthorizationFlow.Failure> in
            do throws(AuthorizationFlow.Failure) {
                return .success(try await flow.finish(timeout: .seconds(30)))
            } catch {
                return .failure(error)
            }
        }
        var hops = 0
        while let url = next, hops < 6 {
            next = try browse(url).location
            hops += 1
        }
        return await finished.value
    }

    @Test func theDefaultGranularScopesAreAskedForAndANewAppGetsThem() async throws {
        let harness = try Harness()
        defer { harness.stop() }
        let tenant = newID()
        harness.fake.setConsent(clientId: Harness.clientId, tenants: [tenant], appScopes: .granular)
        let flow = AuthorizationFlow(settings: settings(harness), client: harness.client, stateDirectory: harness.dir.file("state"),
                                     transport: harness.transport)
        let outcome = try await consent(flow).get()
        #expect(outcome.scopes.contains("accounting.invoices.read") && !outcome.scopes.contains("accounting.transactions.read"))
        #expect(try outcome.connections.get().map(\.tenantId) == [tenant])
        #expect(harness.fake.stats.invalidScopes == 0)
    }

    /// Xero refuses granular scopes for an app created before 2 March 2026: authorize says so
    /// and asks again, with the broad scopes, without starting over.
    @Test func anOlderAppRefusingGranularScopesFallsBackToTheBroadOnes() async throws {
        let harness = try Harness()
        defer { harness.stop() }
        let tenant = newID()
        harness.fake.setConsent(clientId: Harness.clientId, tenants: [tenant], appScopes: .broad)
        let notices = Mutex<[String]>([])
        let flow = AuthorizationFlow(settings: settings(harness), client: harness.client, stateDirectory: harness.dir.file("state"),
                                     transport: harness.transport, notice: { message in notices.withLock { $0.append(message) } })
        let outcome = try await consent(flow).get()
        #expect(Set(outcome.scopes) == Set(XeroSettings.Auth.broadScopes.split(separator: " ").map(String.init)))
        #expect(flow.requestedScopes == XeroSettings.Auth.broadScopes)
        #expect(harness.fake.stats.invalidScopes == 1)
        #expect(harness.fake.stats.tokenGrants["authorization_code"] == 1)
        let said = notices.withLock { $0 }
        #expect(said.count == 1)
        #expect(said.first?.contains("refused the granular scopes") == true && said.first?.contains("accounting.transactions.read") == true)
        #expect(try TokenFile(stateDirectory: harness.dir.file("state")).load() != nil)
    }

    @Test func configuredScopesXeroRefusesFailWithWhatToSet() async throws {
        let harness = try Harness()
        defer { harness.stop() }
        harness.fake.setConsent(clientId: Harness.clientId, tenants: [newID()], appScopes: .granular)
        var chosen = settings(harness)
        chosen.auth.scopes = XeroSettings.Auth.broadScopes
        let flow = AuthorizationFlow(settings: chosen, client: harness.client, stateDirectory: harness.dir.file("state"),
                                     transport: harness.transport)
        guard case let .failure(failure) = try await consent(flow) else { throw Failure("the refused scopes must fail the flow") }
        #expect(failure == .scopesRefused(XeroSettings.Auth.broadScopes))
        #expect(failure.description.contains("xero.auth.scopes") && failure.description.contains("2 March 2026"))
        #expect(harness.fake.stats.invalidScopes == 1)
        #expect(try TokenFile(stateDirectory: harness.dir.file("state")).load() == nil)
    }

    @Test func deniedConsentFailsTheFlow() async throws {
        let harness = try Harness()
        defer { harness.stop() }
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let flow = AuthorizationFlow(settings: settings(harness), client: harness.client, stateDirectory: dir.path,
                                     transport: harness.transport)
        let url = try flow.start()
        let state = try #require(URLComponents(string: url)?.queryItems?.first { $0.name == "state" }?.value)
        let finished = Task { () -> AuthorizationFlow.Failure? in
            do throws(AuthorizationFlow.Failure) {
                _ = try await flow.finish(timeout: .seconds(30))
                return nil
            } catch {
                return error
            }
        }
        #expect(try redirect(flow.redirectURI, query: "error=access_denied&state=\(state)").status == 200)
        #expect(await finished.value == AuthorizationFlow.Failure.denied("access_denied"))
        #expect(try TokenFile(stateDirectory: dir.path).load() == nil)
    }

    @Test func tokenStatusShowsModeExpiryScopesAndTenantsButNoSecret() async throws {
        let harness = try Harness()
        defer { harness.stop() }
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let tenant = newID()
        harness.fake.addTenant(tenant, name: "Status Org")
        let (provider, _) = try harness.refreshProvider(tenants: [tenant], directory: dir)
        let settings = settings(harness)
        let secrets = XeroSecrets(clientId: Harness.clientId, clientIdSource: "test", clientSecret: Harness.clientSecret,
                                  clientSecretSource: "test")
        // Before the daemon's first refresh: no access token, and status must not refresh.
        let before = await TokenStatusReport.lines(settings: settings, secrets: secrets, stateDirectory: dir.path,
                                                   transport: harness.transport, now: harness.clock.now)
        #expect(before.contains("mode: refreshToken"))
        #expect(before.contains { $0.hasPrefix("tenants: not listed") })
        #expect(harness.fake.stats.tokenGrants["refresh_token"] == nil)

        guard case .ready = await provider.token() else { throw Failure("refresh failed") }
        let after = await TokenStatusReport.lines(settings: settings, secrets: secrets, stateDirectory: dir.path,
                                                  transport: harness.transport, now: harness.clock.now)
        #expect(after.contains("state: ready"))
        #expect(after.contains { $0.hasPrefix("expires: ") && $0.contains("in 17") })
        #expect(after.contains("tenants (1):"))
        #expect(after.contains { $0.contains(tenant) && $0.contains("Status Org") })
        let stored = try #require(try TokenFile(stateDirectory: dir.path).load())
        let text = after.joined(separator: "\n")
        #expect(!text.contains(stored.refreshToken) && !text.contains(stored.accessToken ?? "-") && !text.contains(Harness.clientSecret))
        #expect(harness.fake.stats.tokenGrants["refresh_token"] == 1)
    }
}
