import ArgumentParser
import CLI
import DaemonRuntime
import Demo

/// `xero-webhookd`: the root command; everything happens in its subcommands.
struct XeroWebhookdCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "xero-webhookd",
        abstract: "Receives Xero webhooks, verifies them and keeps every acknowledged event on disk.",
        discussion: """
        Set it as the Delivery URL of your Xero app (behind HTTPS on port 443). The webhook key \
        comes from PAN_SEC_XERO_WEBHOOK_KEY, the systemd credential "webhook-key", or webhook.keyFile.
        """,
        version: Release.version,
        subcommands: [Serve.self, Reload.self, Demo.self, CheckConfig.self, Sign.self, Selftest.self, Send.self, QueueCommand.self, DeadCommand.self, Authorize.self, TokenCommand.self]
    )

    init() {}
}
