import Foundation
import TestSupport
import Testing

@testable import Cluster

/// The coordinator's `--memory-limit` bounds the one step that grows with the
/// model: merging the forest. A merge that cannot fit fails the job with the
/// reason instead of growing past the limit.
@Suite(.serialized) struct CoordinatorMemoryLimitTests {
    @Test func mergeFitsCountsTheTreesThreeTimesOverTheCurrentRSS() {
        #expect(ForestCoordinatorDriver.mergeFits(storedTreeBytes: 10 << 20, currentRSS: 50 << 20, limit: 80 << 20) == (true, 30 << 20))
        #expect(ForestCoordinatorDriver.mergeFits(storedTreeBytes: 10 << 20, currentRSS: 51 << 20, limit: 80 << 20).fits == false)
        #expect(
            ForestCoordinatorDriver.mergeFits(storedTreeBytes: .max, currentRSS: 1, limit: .max).fits == false,
            "no overflow to a small number")
    }

    @Test func aCoordinatorTooSmallForTheMergedForestFailsTheJobWithTheReason() throws {
        let dir = try E2E.tempDir("coordinator-limit")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = try E2E.generate(rows: 20_000, in: dir)
        let endpoint = "tcp://127.0.0.1:\(try E2E.freePort())"
        // 40 full-depth trees on 16K rows are megabytes; with the coordinator's own few MiB, over 8 MiB.
        let coordinator = try E2E.Child(
            [
                "coordinator", data, "--bind", endpoint, "--job-dir", dir + "/job", "--partitions", "1",
                "--trees", "40", "--memory-limit", "8MiB", "--heartbeat", "0.25", "--liveness", "12"
            ],
            in: dir, name: "coordinator")
        let worker = try E2E.Child(["worker", "--connect", endpoint, "--memory-limit", "256MiB", "--worker-id", "w1"], in: dir, name: "w1")
        defer { if worker.process.isRunning { kill(worker.pid, SIGKILL) } }
        let status = coordinator.wait(60)
        #expect(status != nil && status != 0, "fails, never hangs")
        let log = coordinator.stderr
        #expect(log.contains("merging the forest needs ~") && log.contains("more than its 8 MiB --memory-limit"), "\(log)")
        let store = try #require(try E2E.openStore(dir + "/job"))
        #expect(try store.stage() == .failed)
        #expect(try store.checkpointedTrees(partition: 0) == Array(0..<40), "training finished; only the merge was refused")
        #expect(worker.wait(20) == 0)
    }
}
