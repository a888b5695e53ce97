import ArgumentParser
import CLISupport
import Foundation
import Recognition
import RecognitionOptions

/// `recognize`: the labelling worker, plus direct classification of files.
@main
struct Recognize: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recognize",
        abstract: "Label images with a local pretrained classifier.",
        discussion: """
            Without a subcommand, runs the worker: takes image.stored messages from the recognize \
            queue, labels each image, stores the labels in SQLite and publishes image.labeled.
            `recognize classify PHOTO...` labels files directly, without the pipeline; \
            `recognize labels` lists what the model can report (labels, aliases, categories).
            """,
        subcommands: [RunWorker.self, Classify.self, LabelsCommand.self],
        defaultSubcommand: RunWorker.self)
}
