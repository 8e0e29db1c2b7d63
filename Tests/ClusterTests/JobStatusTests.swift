import Forest
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

    /// A 2-fold job over 2 partitions, fold 1's trees of partition 0 cut in two ranges: `status` shows each
    /// fold's tasks and trees, and a fold's metrics once all its evaluate tasks are done
    /// (the merge of the partitions' aggregates).
    @Test func crossValidationJobShowsFolds() throws {
        let s = try JobStore()
        var spec = JobSpec(
            jobID: "job-cv", dataFiles: ["d.csv"], parameters: Data(), seed: 1, partitions: 2, testFraction: 0.2, trees: 4)
        spec.folds = 2
        try s.createJob(spec, now: 0)
        #expect(try s.splitTrainTask(partition: 0, into: [0..<1, 1..<2, 2..<4], now: 1))
        let t = try s.beginAttempt(TaskName(.train, 0, .fold(0, trees: 1..<2)), workerID: "w1", leaseDeadline: 50, firstTree: 1, now: 2)
        _ = try s.attemptRunning(t, now: 2)
        _ = try s.saveTrees(t, firstTree: 1, trees: [Data([1])], now: 3)
        _ = try s.completeAttempt(t, peakRSS: nil, now: 3)
        // Fold 2's evaluate tasks: partition 0 scores 3 of 4 rows right, partition 1 1 of 2.
        for (p, rows) in [(0, [(0.9, 1), (0.8, 1), (0.3, 0), (0.7, 0)]), (1, [(0.6, 1), (0.4, 1)])] {
            var m = MetricsAggregate(classCount: 2)
            for (prob, label) in rows { m.add(probabilities: [1 - prob, prob], trueClass: label) }
            let name = TaskName(.evaluate, p, .fold(1, trees: 2..<4))
            let e = try s.beginAttempt(name, workerID: "w1", leaseDeadline: 50, now: 4)
            _ = try s.attemptRunning(e, now: 4)
            _ = try s.completeAttempt(
                e, peakRSS: nil, result: Data(EvaluationResult.encode(.classification(m), permutation: nil)), now: 5)
        }
        let status = try JobStatus.load(from: s)
        let folds = try #require(status.folds)
        #expect(folds.map(\.trainTasks) == [3, 2] && folds.map(\.trainTasksDone) == [1, 0])
        #expect(folds[0].trees == 4 && folds[0].treesCheckpointed == 1 && folds[0].metrics == nil)
        #expect(folds[1].evaluateTasksDone == 2 && folds[1].metrics?["accuracy"] == 4.0 / 6.0)
        let text = status.render(now: 10)
        #expect(text.contains("trees: 1 of 8 checkpointed (2 folds × 4)"), "\(text)")
        #expect(text.contains("  fold 1: train 1/3 tasks, trees 1/4; evaluate 0/2 tasks\n"), "\(text)")
        #expect(text.contains("  fold 2: train 0/2 tasks, trees 0/4; evaluate 2/2 tasks; accuracy 0.6667, auc "), "\(text)")
        #expect(try JSONDecoder().decode(JobStatus.self, from: Data(status.json().utf8)) == status)
        // A training job has no folds.
        #expect(try JobStatus.load(from: store()).folds == nil)
    }

    @Test func emptyStoreIsAnError() throws {
        #expect(throws: JobStoreError.self) { _ = try JobStatus.load(from: JobStore()) }
    }
}
