import CLI
#if canImport(Glibc)
import Glibc
#endif

// A parent that ignores SIGCHLD passes that on through exec, and then the kernel reaps every
// child itself: no exit status of a token command or sink command could be learned. Default it.
signal(SIGCHLD, SIG_DFL)
XeroWebhookdCommand.main()
