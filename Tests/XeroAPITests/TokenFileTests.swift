import Foundation
import TestSupport
import Testing
import XeroAPI

@Suite struct TokenFileTests {
    @Test func savesDurablyWithMode0600AndReadsBack() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let file = TokenFile(stateDirectory: dir.path + "/state")
        #expect(try file.load() == nil)
        let set = StoredTokenSet(refreshToken: "rt-\"1\"", accessToken: "at-1", expiresAt: Date(timeIntervalSince1970: 1_800_000_000),
                                 scopes: ["offline_access", "accounting.contacts.read"], updatedAt: Date(timeIntervalSince1970: 1_700_000_000))
        try file.save(set)
        #expect(try file.load() == set)
        let attributes = try FileManager.default.attributesOfItem(atPath: file.path)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        let first = file.stamp()
        try file.save(StoredTokenSet(refreshToken: "rt-2", accessToken: nil, expiresAt: nil, scopes: [], updatedAt: Date()))
        #expect(file.stamp() != first)
        #expect(try file.load()?.refreshToken == "rt-2")
        // Only the token file is left: no temporary files.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path + "/state") == [TokenFile.defaultName])
    }

    @Test func damagedFileIsReportedNotGuessed() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try writeFile(dir.file("xero-token.json"), "{\"nope\":1}")
        #expect(throws: TokenStoreError.damaged(path: dir.file("xero-token.json"))) { try TokenFile(stateDirectory: dir.path).load() }
    }

    /// A directory or FIFO at the token file's name is named as such (a FIFO is not waited on).
    @Test func aDirectoryOrFIFOIsNotAFile() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.file("xero-token.json")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        #expect(throws: TokenStoreError.notAFile(path: path)) { try TokenFile(stateDirectory: dir.path).load() }
        #expect(TokenStoreError.notAFile(path: path).description == "\(path) is not a regular file")
        try FileManager.default.removeItem(atPath: path)
        #expect(mkfifo(path, 0o600) == 0)
        #expect(throws: TokenStoreError.notAFile(path: path)) { try TokenFile(stateDirectory: dir.path).load() }
    }

    @Test func printingNeverShowsATokenOrSecret() {
        let set = StoredTokenSet(refreshToken: "SECRET-RT", accessToken: "SECRET-AT", expiresAt: nil, scopes: [], updatedAt: Date())
        let token = XeroToken(accessToken: "SECRET-AT", expiresAt: nil)
        let client = ClientCredentials(id: "SECRET-ID", secret: "SECRET-S")
        let response = TokenResponse(accessToken: "SECRET-AT", expiresIn: 5, refreshToken: "SECRET-RT")
        for text in ["\(set)", "\(token)", "\(client)", "\(response)", String(reflecting: token), String(reflecting: client)] {
            #expect(!text.contains("SECRET"))
        }
    }
}
