import ArgumentParser

/// `notify-xml`: turns image.labeled messages into XML notifications POSTed to an e-mail gateway.
@main
struct NotifyXML: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notify-xml",
        abstract: "Send XML notifications of labelled images to an e-mail gateway.",
        subcommands: [RunNotifier.self],
        defaultSubcommand: RunNotifier.self)
}
