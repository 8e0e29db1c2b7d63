import Foundation
import Testing

@testable import Cluster

@Suite struct JobStatusTests {
    func store() throws -> JobStore {
        let s = try JobStore()
        try s.createJob(
            JobSpec(
                jobID: "job-7", dataFiles: ["d.csv"], parameters: Data(), seed: 1, partitions: 2,
                testFraction: 0.2, trees: 10), now: 0)
        try s.workerJoined(WorkerRecord(id: "w2", host: "node-b", pid: 4121, cores: 2, memoryLimit: 512 << 20), now: 0)
        try s.recordHeartbeat(workerID: "w2", rss: 300 << 20, peakRSS: 498 << 20, now: 95)
        let e = try s.beginAttempt(TaskName(.extract, 0), workerID: "w2", leaseDeadline: 50, now: 1)
        _ = try s.attemptRunning(e, now: 1)
        _ = try s.saveExtractCheckpoint(e, stats: Data([1]), counts: PartitionCounts(trainRows: 80, testRows: 20), now: 2)
        _ = try s.completeAttempt(e, peakRSS: 1, now: 3)
        let t = try s.beginAttempt(TaskName(.train, 1), workerID: "w2", leaseDeadline: 50, firstTree: 0, now: 4)
        _ = try s.attemptRunning(t, now: 4)
        _ = try s.saveTrees(t, firstTree: 0, trees: [Data([1]), Data([2])], now: 5)
        try s.failAttempt(t, outcome: .lost, reason: "worker w2 (pid 4121) was killed by signal 9", peakRSS: nil, now: 6)
        try s.stepStarted("extract", now: 0)
        try s.stepEnded("extract", rows: 100, now: 2)
        try s.setMetric("accuracy", 0.95)
        return s
    }

    @Test func textReportShowsStageTasksWorkersAndTimings() throws {
        let text = try JobStatus.load(from: store()).render(now: 100)
        #expect(text.hasPrefix("job job-7: extract\n"))
        #expect(text.contains("partitions: 2, statistics for 1; trees: 2 of 10 checkpointed"))
        #expect(text.contains("  extract/p0     done         attempts 1, on w2"))
        #expect(
            text.contains(
                "  train/p1       lost         attempts 1, on w2, trees 2/5 (last failure: worker w2 (pid 4121) was killed by signal 9)"))
        #expect(text.contains("  w2 node-b pid 4121 connected, RSS 300 MiB of 512 MiB, peak 498 MiB, last heartbeat 5.0 s ago"))
        #expect(text.contains("  extract           2.00 s, 100 rows, 50 rows/s"))
        #expect(text.contains("  accuracy: 0.95"))
    }

    @Test func jsonRoundTrips() throws {
        let status = try JobStatus.load(from: store())
        let json = try status.json()
        let decoded = try JSONDecoder().decode(JobStatus.self, from: Data(json.utf8))
        #expect(decoded == status)
        #expect(json.contains("\"stage\" : \"extract\""))
        #expect(decoded.tasks.count == 6 && decoded.tasks.first?.name == "extract/p0")
    }

    @Test func emptyStoreIsAnError() throws {
        #expect(throws: JobStoreError.self) { _ = try JobStatus.load(from: JobStore()) }
    }
}
