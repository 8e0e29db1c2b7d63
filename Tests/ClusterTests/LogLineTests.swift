import Foundation
import Logging
import Testing

@testable import Cluster

/// The standard-error line format: `HH:MM:SS WHO [level: ]text`, then the
/// metadata the line does not name already.
@Suite struct LogLineTests {
    private let noon = Date(timeIntervalSince1970: 12 * 3600 + 34 * 60 + 56)
    private let utc = TimeZone(identifier: "UTC")!

    private func line(
        _ level: Logger.Level, _ text: Logger.Message, _ metadata: Logger.Metadata = [:], who: String = "coordinator"
    ) -> String {
        LogLine.format(who: who, level: level, message: text, metadata: metadata, at: noon, timeZone: utc)
    }

    @Test func infoHasNoLevelWordAndTheOthersSayTheirs() {
        let zone = ISO8601DateFormatter.string(from: noon, timeZone: utc, formatOptions: [.withTime, .withColonSeparatorInTime])
        #expect(zone.hasPrefix("12:34:56"))
        #expect(line(.info, "listening on tcp://127.0.0.1:5555") == "\(zone) coordinator listening on tcp://127.0.0.1:5555")
        #expect(line(.warning, "partition plan: tight") == "\(zone) coordinator warning: partition plan: tight")
        #expect(line(.error, "job failed: x") == "\(zone) coordinator error: job failed: x")
    }

    @Test func metadataTheTextDoesNotNameFollowsInAStableOrder() {
        let metadata = Logger.Metadata.about(task: "train/p3", attempt: 7, worker: "w1", peer: PeerAddress([0, 0x1f]))
        #expect(
            line(.warning, "memory is short", metadata + ["zone": "b", "host": "h 1"]).hasSuffix(
                " warning: memory is short [task=train/p3 attempt=7 worker=w1 host=\"h 1\" zone=b]"))
        // Named by the text (or by WHO): left out.
        #expect(line(.info, "train/p3 attempt 7: 100 rows binned", metadata).hasSuffix("100 rows binned [worker=w1]"))
        #expect(
            line(.warning, "dropped message from worker w1 (peer 0x001f): bad (attempt 7)", metadata).hasSuffix(
                "bad (attempt 7) [task=train/p3]"))
        #expect(line(.info, "attempt 7 failed", metadata, who: "w1").hasSuffix("attempt 7 failed [task=train/p3]"))
        #expect(line(.warning, "dropped a message", .about(peer: PeerAddress([0, 0x1f]))).hasSuffix("dropped a message [peer=0x001f]"))
    }

    @Test func aValueCountsAsNamedOnlyAsAWholeWord() {
        #expect(!LogLine.names("train/p30 done", key: "task", value: "train/p3"))
        #expect(!LogLine.names("train/p3.t0-5 done", key: "task", value: "train/p3"))
        #expect(LogLine.names("(train/p3) done", key: "task", value: "train/p3"))
        #expect(!LogLine.names("grows 7 trees", key: "attempt", value: "7"), "a number only after its key's name")
        #expect(!LogLine.names("attempt 17 failed", key: "attempt", value: "7"))
        #expect(LogLine.names("[attempt 7]", key: "attempt", value: "7"))
        #expect(!LogLine.names("worker w10 joined", key: "worker", value: "w1"))
    }
}

private func + (a: Logger.Metadata, b: Logger.Metadata) -> Logger.Metadata { a.merging(b) { _, new in new } }
