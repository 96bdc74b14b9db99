import WebhookDaemon

XeroWebhookdCommand.main()
