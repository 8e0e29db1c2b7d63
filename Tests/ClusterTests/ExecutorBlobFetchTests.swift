import Forest
import Foundation
import Logging
import TestSupport
import Testing

@testable import Cluster

/// A worker whose session ended while it was fetching the model must fetch it
/// again for its next assignment; otherwise that attempt waits for chunks that
/// will never come, and the job hangs while heartbeats keep its lease alive.
@Suite struct ExecutorBlobFetchTests {
    /// The schema of `WireSamples.schema()` (two numeric features, a class label).
    static let schema = DatasetSchema(
        header: ["f0", "f1", "label"], targetIndex: 2, task: .classification,
        featureIndices: [0, 1], featureKinds: [.numeric, .numeric])

    private func requestsFromStart(_ events: [WorkerEvent]) -> Bool {
        events.contains { event in
            if case .requestBlob(_, let offset, _) = event { return offset == 0 }
            return false
        }
    }

    @Test func aCancelledAttemptsFetchStartsOverForTheNextAssignment() throws {
        let spillBase = FileManager.default.temporaryDirectory
            .appendingPathComponent("executor-fetch-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: spillBase, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: spillBase) }
        let executor = try ForestTaskExecutor(options: .init(spillBase: spillBase))

        var first = WireSamples.task(kind: .evaluate, attemptID: 7)
        first.parameters = ForestJobParameters(forest: ForestParameters(), schema: Self.schema, maxBins: 255, source: "data.csv")
            .serialize()
        #expect(requestsFromStart(executor.handle(.run(first))))

        // The session ends mid-fetch (coordinator silent, reconnect): the engine cancels the attempt.
        _ = executor.handle(.cancel(attemptID: 7, reason: "session ended"))

        var second = first
        second.attemptID = 8
        #expect(
            requestsFromStart(executor.handle(.run(second))),
            "the new attempt must request the model again from offset 0")
    }
}

extension ExecutorBlobFetchTests {
    /// A fetch that gets no chunk within the timeout fails its attempt as retryable
    /// (the coordinator reruns it) instead of leaving the task waiting forever.
    @Test func aStalledFetchFailsItsAttemptAsRetryable() throws {
        let spillBase = FileManager.default.temporaryDirectory
            .appendingPathComponent("executor-stall-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: spillBase, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: spillBase) }
        let log = CapturedLog()
        let executor = try ForestTaskExecutor(options: .init(spillBase: spillBase, logger: log.logger))

        var a = WireSamples.task(kind: .evaluate, attemptID: 11)
        a.parameters = ForestJobParameters(forest: ForestParameters(), schema: Self.schema, maxBins: 255, source: "data.csv").serialize()
        #expect(requestsFromStart(executor.handle(.run(a))))

        #expect(executor.expireStalledFetches(after: .seconds(30)).isEmpty, "a fresh fetch is not stalled")

        let later = ContinuousClock.now.advanced(by: .seconds(31))
        let events = executor.expireStalledFetches(after: .seconds(30), now: later)
        #expect(events.count == 1)
        if case .failed(let attemptID, let failure, _)? = events.first {
            #expect(attemptID == 11)
            #expect(failure.retryable)
            #expect(failure.message.contains("no chunk of the model"))
        } else {
            Issue.record("expected a failed event, got \(events)")
        }
        #expect(executor.expireStalledFetches(after: .seconds(30), now: later).isEmpty, "reported once")
        // The attempt's lines carry its task and attempt.
        let failed = try #require(log.events.first { $0.message.hasPrefix("attempt 11 failed") })
        #expect(failed.level == .warning)
        #expect(failed.metadata[LogKey.task] == "evaluate/p\(a.partition)" && failed.metadata[LogKey.attempt] == "11")
    }
}
