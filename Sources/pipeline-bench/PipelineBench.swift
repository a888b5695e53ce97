import ArgumentParser

/// `pipeline-bench`: the benchmarks behind Scripts/bench*, kept out of the product executables.
/// Each subcommand prints figures (JSON lines or a short report); none of them asserts.
@main
struct PipelineBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pipeline-bench",
        abstract: "Measure the pipeline's parts: the classifier, other models, notification delivery, list-images queries.",
        subcommands: [ClassifierBench.self, ModelBench.self, NotifyBench.self, ListImagesBench.self, TextBench.self, BusBench.self])
}
