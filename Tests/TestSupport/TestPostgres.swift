import Foundation

/// The PostgreSQL server of the test run: `PIPELINE_TEST_POSTGRES_URL`, which Scripts/test sets
/// after starting a throw-away cluster. Tests that need it run only when it is set.
public enum TestPostgres {
    public static var url: String? { ProcessInfo.processInfo.environment["PIPELINE_TEST_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 } }

    /// A fresh schema name, so that tests sharing the server never see each other's tables.
    public static func schemaName(_ prefix: String) -> String {
        prefix + "_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
    }
}
