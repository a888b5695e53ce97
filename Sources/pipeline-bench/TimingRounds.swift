import Dispatch
import Foundation

/// The engine side of Scripts/bench_onnxruntime.py's interleaved comparison: print a ready line,
/// then for each stdin line N run N timed inferences and print their milliseconds, until a line
/// that is not a positive count. JSON lines on stdout, flushed: the driver waits for each.
enum TimingRounds {
    static func serve(ready: [String: Any], _ run: () throws -> Void) throws {
        emit(ready.merging(["ready": true]) { first, _ in first })
        while let line = readLine() {
            guard let count = Int(line.trimmingCharacters(in: .whitespaces)), count > 0 else { break }
            var samples: [Double] = []
            for _ in 0..<count {
                let start = DispatchTime.now()
                try run()
                samples.append(Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1_000_000)
            }
            emit(["samples_ms_per_batch": samples])
        }
    }

    /// One JSON line, keys sorted, flushed.
    static func emit(_ object: [String: Any]) {
        if let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) {
            print(String(decoding: data, as: UTF8.self))
        }
        fflush(nil)  // all streams: the driver waits for this line
    }
}
