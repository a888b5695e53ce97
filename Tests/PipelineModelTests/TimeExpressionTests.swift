import Foundation
import Testing

@testable import PipelineModel

@Suite struct TimeExpressionTests {
    let now = Date(timeIntervalSince1970: 1_790_000_000)
    let utc = TimeZone(identifier: "UTC")!

    @Test func agesCountBackFromNow() throws {
        #expect(try TimeExpression.parse("90s", now: now) == now.addingTimeInterval(-90))
        #expect(try TimeExpression.parse("30m", now: now) == now.addingTimeInterval(-1800))
        #expect(try TimeExpression.parse("2h", now: now) == now.addingTimeInterval(-7200))
        #expect(try TimeExpression.parse("7d", now: now) == now.addingTimeInterval(-7 * 86_400))
        #expect(try TimeExpression.parse("1w", now: now) == now.addingTimeInterval(-604_800))
        #expect(try TimeExpression.parse("1.5h", now: now) == now.addingTimeInterval(-5400))
    }

    @Test func isoDatesAndDatetimes() throws {
        let midnight = try TimeExpression.parse("2026-11-22", timeZone: utc)
        #expect(midnight == Date(timeIntervalSince1970: 1_795_305_600))
        #expect(try TimeExpression.parse("2026-11-22T08:30", timeZone: utc) == midnight.addingTimeInterval(8.5 * 3600))
        #expect(try TimeExpression.parse("2026-11-22 08:30:15Z") == midnight.addingTimeInterval(8.5 * 3600 + 15))
        #expect(try TimeExpression.parse("2026-11-22T08:30:00+01:00") == midnight.addingTimeInterval(7.5 * 3600))
        #expect(try TimeExpression.parse("2026-11-22T08:30:00.250Z") == midnight.addingTimeInterval(8.5 * 3600 + 0.25))
        let berlin = TimeZone(identifier: "Europe/Berlin")!
        #expect(try TimeExpression.parse("2026-11-22", timeZone: berlin) == midnight.addingTimeInterval(-3600))
    }

    @Test func nonsenseIsRejected() {
        for text in ["yesterday", "", "5x", "-3h", "2026-13-01", "2026-02-30", "2026-11-22T25:00", "h"] {
            #expect(throws: TimeExpression.ParseError.self, "\(text)") { try TimeExpression.parse(text, now: now) }
        }
    }
}
