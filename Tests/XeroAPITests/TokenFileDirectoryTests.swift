import Foundation
import SystemSupport
import TestSupport
import Testing
import XeroAPI

/// The token file's directory is created with its parent synced, and each save syncs it after
/// the rename (`DirectorySync`); a failure names the call.
@Suite struct TokenFileDirectoryTests {
    @Test func saveCreatesTheStateDirectoryDurably() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let state = dir.path + "/state/xero"
        let recorder = DirectorySync.Recorder(under: dir.path)
        let file = TokenFile(stateDirectory: state)
        try file.save(StoredTokenSet(refreshToken: "rt", accessToken: nil, expiresAt: nil, scopes: [], updatedAt: Date()))
        #expect(recorder.take() == [
            .created(dir.path + "/state"), .synchronized(dir.path),
            .created(state), .synchronized(dir.path + "/state"),
            .synchronized(state),  // the token file, renamed into place
        ])
        let attributes = try FileManager.default.attributesOfItem(atPath: state)
        #expect((attributes[.posixPermissions] as? NSNumber).map { $0.intValue & 0o077 } == 0)
    }

    @Test func aFileWhereTheDirectoryGoesNamesMkdir() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try writeFile(dir.file("state"), "not a directory")
        let file = TokenFile(stateDirectory: dir.file("state"))
        #expect(throws: TokenStoreError.system(call: "mkdir", path: dir.file("state"), errno: ENOTDIR)) {
            try file.save(StoredTokenSet(refreshToken: "rt", accessToken: nil, expiresAt: nil, scopes: [], updatedAt: Date()))
        }
    }
}
