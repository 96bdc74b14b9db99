/// The rate-limit headers of one Xero answer (xero-facts §6). Xero sends them lower case;
/// they are matched without regard to case.
package struct RateLimitHeaders: Sendable, Equatable {
    /// `X-MinLimit-Remaining`: calls left in this tenant's minute.
    package var minuteRemaining: Int?
    /// `X-DayLimit-Remaining`: calls left in this tenant's day.
    package var dayRemaining: Int?
    /// `X-AppMinLimit-Remaining`: calls left in the app's minute.
    package var appMinuteRemaining: Int?
    /// `X-Rate-Limit-Problem` on a 429: `minute`, `day`, or another value for other limits.
    package var problem: String?
    /// `Retry-After`, in seconds.
    package var retryAfter: Duration?

    package init(minuteRemaining: Int? = nil, dayRemaining: Int? = nil, appMinuteRemaining: Int? = nil,
                problem: String? = nil, retryAfter: Duration? = nil) {
        self.minuteRemaining = minuteRemaining
        self.dayRemaining = dayRemaining
        self.appMinuteRemaining = appMinuteRemaining
        self.problem = problem
        self.retryAfter = retryAfter
    }

    package init(_ response: InboundResponse) {
        func number(_ name: String) -> Int? {
            response.header(name).flatMap { Int($0.trimmedBlanks) }
        }
        self.init(
            minuteRemaining: number("x-minlimit-remaining"),
            dayRemaining: number("x-daylimit-remaining"),
            appMinuteRemaining: number("x-appminlimit-remaining"),
            problem: response.header("x-rate-limit-problem")?.trimmedBlanks.lowercased(),
            retryAfter: Self.retryAfter(response)
        )
    }

    /// The longest `Retry-After` taken as given: Xero's longest limit is a day, so anything
    /// beyond a few days is a broken proxy or a hostile upstream, not a wait.
    package static let maxRetryAfter: Duration = .seconds(3 * 86_400)

    /// `Retry-After` as whole seconds, at most `maxRetryAfter` (Xero sends an integer; an
    /// HTTP-date is not used by Xero and is ignored). A number too long for `Int` is the maximum too.
    static func retryAfter(_ response: InboundResponse) -> Duration? {
        guard let text = response.header("retry-after")?.trimmedBlanks, !text.isEmpty,
              text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        let limit = maxRetryAfter.components.seconds
        guard let seconds = Int64(text), seconds < limit else { return maxRetryAfter }
        return .seconds(seconds)
    }
}

extension String {
    /// Without leading and trailing spaces and tabs.
    var trimmedBlanks: String {
        let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        return String(drop(while: blank).reversed().drop(while: blank).reversed())
    }
}
