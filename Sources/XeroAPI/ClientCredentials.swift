/// A Xero app's client id and secret. Printing it shows neither.
package struct ClientCredentials: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    package var id: String
    package var secret: String

    package init(id: String, secret: String) {
        self.id = id
        self.secret = secret
    }

    package var description: String { "ClientCredentials(masked)" }
    package var debugDescription: String { description }
}
