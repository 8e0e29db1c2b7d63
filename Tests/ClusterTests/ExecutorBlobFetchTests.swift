import Foundation
import Testing
import Forest
@testable import Cluster

/// A worker whose session ended while it was fetching the model must fetch it
/// again for its next assignment; otherwise that attempt waits for chunks that
/// will never come, and the job hangs while heartbeats keep its lease alive.
@Suite struct ExecutorBlobFetchTests {
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

        var first = WireSamples.assignment(kind: .evaluate, attemptID: 7)
        first.parameters = ForestJobParameters(forest: ForestParameters(), maxBins: 255, source: "data.csv").serialize()
        #expect(requestsFromStart(executor.handle(.run(first))))

        // The session ends mid-fetch (coordinator silent, reconnect): the engine cancels the attempt.
        _ = executor.handle(.cancel(attemptID: 7, reason: "session ended"))

        var second = first
        second.attemptID = 8
        #expect(requestsFromStart(executor.handle(.run(second))),
                "the new attempt must request the model again from offset 0")
    }
}
