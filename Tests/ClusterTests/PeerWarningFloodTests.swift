import Foundation
import SpaceTime
import TestSupport
import Testing
import ZeroMQ

@testable import Cluster

/// A real `CoordinatorServer` flooded by a garbage peer: the warnings it
/// triggers ("dropped message from …") reach the log a few at a time, each
/// cut short, and the rest are counted, not written.
@Suite(.serialized) struct PeerWarningFloodTests {
    @Test func aGarbagePeerGetsAFewLinesAndACount() throws {
        let context = try Context()
        let store = try JobStore()
        try store.createJob(
            JobSpec(
                jobID: "flood", dataFiles: ["synthetic"], parameters: Data([1]), seed: 1,
                partitions: 1, testFraction: 0.2, trees: 1, maxAttempts: 1), now: 0)
        var options = CoordinatorServer.Options()
        options.peerWarnings = (burst: 5, interval: 1)
        let log = CapturedLog()
        let server = try CoordinatorServer(
            context: context, bind: "tcp://127.0.0.1:*", store: store, schema: WireSamples.schema(),
            options: options, logger: log.logger, makeDriver: { nil })
        defer { try? server.stop() }
        let rogue = try context.socket(.dealer)
        defer { rogue.close() }
        try rogue.connect(server.endpoint)
        // 883 long garbage messages, as in the probe.
        var rng = SplitMix64(seed: 883)
        for _ in 0..<883 {
            let frame = (0..<2000).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            _ = try rogue.send(ZeroMQ.Message(frames: [frame]), flags: [])
        }
        let deadline = Date().addingTimeInterval(20)
        while server.peerWarnings.written + server.peerWarnings.suppressed < 883 && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.02)
        }
        let counts = server.peerWarnings
        #expect(counts.written + counts.suppressed == 883, "every garbage message was seen: \(counts)")
        #expect(counts.written <= 5 * 22, "at most a burst per 1 s window: \(counts)")
        #expect(counts.suppressed >= 883 - 5 * 22)
        // The suppressed count is reported once its window has ended.
        #expect(waitForSummary(log), "\(log.lines(at: .warning).suffix(3))")
        let dropped = log.events.filter { $0.level == .warning && $0.message.hasPrefix("dropped") }
        #expect(dropped.count == counts.written)
        #expect(log.lines(at: .warning).allSatisfy { $0.utf8.count < 600 }, "lines are cut short")
        #expect(dropped.allSatisfy { $0.metadata[LogKey.peer] != nil }, "each names the peer in its metadata")
    }

    private func waitForSummary(_ log: CapturedLog) -> Bool {
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if log.lines(at: .warning).contains(where: { $0.contains("were not logged") }) { return true }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return false
    }
}
