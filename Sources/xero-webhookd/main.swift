import CLI

XeroWebhookdCommand.main()
