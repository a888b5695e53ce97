import WorkerRuntime

/// One-line, human-readable outcome of a locally invoked event (`--event`).
public enum OutcomeText {
    /// e.g. `completed local-1f…` or `dead-letter local-1f…: reason`.
    public static func describe(_ outcome: MessageOutcome, messageID: String) -> String {
        switch outcome {
        case .completed: return "completed \(messageID)"
        case .retry(let delay, let reason): return "retry \(messageID) (in \(delay) s): \(reason)"
        case .deadLetter(let reason): return "dead-letter \(messageID): \(reason)"
        }
    }
}
