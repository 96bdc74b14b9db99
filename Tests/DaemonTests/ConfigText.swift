import TestSupport
@testable import DaemonConfig

/// Loads `json` as a config file would be (written to a temporary file, read by the loader).
func loadConfig(_ json: String, environment: [String: String] = [:]) throws(ConfigError) -> DaemonConfig {
    let dir = try! TemporaryDirectory()
    defer { dir.remove() }
    let path = dir.file("config.json")
    try! writeFile(path, json)
    return try ConfigLoader.load(path: path, environment: environment)
}
