import Foundation

/// Waits for a condition with a deadline: polls `condition` until it holds or `seconds` pass.
/// Returns whether it held. This waits for an observable state, never for a guessed duration.
package func waitUntil(seconds: Double = 10, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return true }
        usleep(2_000)
    }
    return try condition()
}
