import ArgumentParser
import CLISupport
import LabelStore

/// `list-images`: query the label database the recognize workers fill.
@main
struct ListImages: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list-images",
        abstract: "List recognized images and their labels from the pipeline's label database.",
        discussion: """
            Reads <home>/labels.sqlite read-only; safe while workers write. Field names and formats: \
            docs/LIST-IMAGES.md. Exit status: 0 ok, 64 usage, 66 no database, 1 other errors.
            """,
        subcommands: [ListCommand.self, ShowCommand.self, LabelsCommand.self, DuplicatesCommand.self, SimilarCommand.self, CheckCommand.self],
        defaultSubcommand: ListCommand.self)
}

extension ImageQuery.Sort: ExpressibleByArgument {}
extension ImageQuery.LabelMatch: EnumerableFlag {
    public static func help(for value: Self) -> ArgumentHelp? {
        switch value {
        case .any: return "Match images carrying any of the --label terms."
        case .all: return "Match only images carrying every --label term."
        }
    }
}
