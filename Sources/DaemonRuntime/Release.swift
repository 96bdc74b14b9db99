/// The release this source is.
package enum Release {
    /// `--version` prints it and `/metrics` has it in `xero_webhookd_build_info`.
    package static let version = "0.13.0"
}
