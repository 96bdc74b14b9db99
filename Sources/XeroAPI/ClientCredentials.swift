/// A Xero app's client id and secret. Printing it shows neither.
public struct ClientCredentials: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    public var id: String
    public var secret: String

    public init(id: String, secret: String) {
        self.id = id
        self.secret = secret
    }

    public var description: String { "ClientCredentials(masked)" }
    public var debugDescription: String { description }
}
