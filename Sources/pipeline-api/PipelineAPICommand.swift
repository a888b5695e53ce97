import ArgumentParser

/// `pipeline-api`: the HTTP API and web gallery over the pipeline's home.
@main
struct PipelineAPICommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pipeline-api",
        abstract: "Serve the pipeline over HTTP: the JSON API (docs/openapi.yaml) and a web gallery.",
        subcommands: [ServeCommand.self, KeysCommand.self],
        defaultSubcommand: ServeCommand.self)
}
