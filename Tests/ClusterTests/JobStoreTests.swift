import Foundation
import SpaceTime
import Testing

@testable import Cluster

private func spec(partitions: Int = 3, trees: Int = 10, maxAttempts: Int = 3) -> JobSpec {
    JobSpec(
        jobID: "job-1", dataFiles: ["/data/a.csv"], parameters: Data([1, 2]), seed: 0xFFFF_FFFF_FFFF_FFF0,
        partitions: partitions, testFraction: 0.2, trees: trees, maxAttempts: maxAttempts)
}

private func tree(_ p: Int, _ i: Int) -> Data { Data("tree \(p).\(i)".utf8) }

/// A temporary job directory removed at deinit.
private final class TempDir {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("jobstore-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }
    var dbPath: String { url.appendingPathComponent("job.sqlite").path }
}

@Suite struct JobStoreTests {
    @Test func createsJobWithPartitionsAndTasks() throws {
        let store = try JobStore()
        try store.createJob(spec(), now: 100)
        #expect(try store.jobSpec() == spec())
        #expect(try store.stage() == .extract)
        #expect(try store.partitions().map(\.trees) == [4, 3, 3])
        let tasks = try store.tasks()
        #expect(tasks.count == 9)
        #expect(tasks.allSatisfy { $0.state == .pending && $0.failures == 0 })
        #expect(
            Set(tasks.map(\.name)) == Set((0..<3).flatMap { p in [TaskName(.extract, p), TaskName(.train, p), TaskName(.evaluate, p)] }))
        #expect(throws: JobStoreError.self) { try store.createJob(spec(), now: 101) }
        do {
            try store.createJob(spec(), now: 101)
        } catch let e as JobStoreError {
            #expect(e.code == .jobExists)
        }
        #expect(throws: JobStoreError.self) { try JobStore().createJob(spec(partitions: 4, trees: 3), now: 1) }
    }

    @Test func fileStoreUsesWALAndSurvivesReopening() throws {
        let dir = try TempDir()
        do {
            let store = try JobStore(path: dir.dbPath)
            #expect(try store.journalMode() == "wal")
            try store.createJob(spec(), now: 1)
            let a = try store.beginAttempt(TaskName(.train, 1), workerID: "w1", leaseDeadline: 50, firstTree: 0, now: 2)
            _ = try store.attemptRunning(a, now: 3)
            _ = try store.saveTrees(a, firstTree: 0, trees: [tree(1, 0), tree(1, 1)], now: 4)
        }
        let reopened = try JobStore(path: dir.dbPath)
        #expect(try reopened.jobSpec()?.seed == 0xFFFF_FFFF_FFFF_FFF0)
        #expect(try reopened.checkpointedTrees(partition: 1) == [0, 1])
        #expect(try reopened.task(TaskName(.train, 1)).state == .checkpointed)
    }

    @Test func trainAttemptLifecycle() throws {
        let store = try JobStore()
        try store.createJob(spec(), now: 0)
        let name = TaskName(.train, 2)
        let a = try store.beginAttempt(name, workerID: "w1", leaseDeadline: 30, firstTree: 0, now: 1)
        #expect(try store.task(name).state == .leased)
        #expect(try store.leases() == [LeaseRecord(attemptID: a, workerID: "w1", deadline: 30)])
        #expect(try store.attemptRunning(a, now: 2) == .applied)
        #expect(try store.saveTrees(a, firstTree: 0, trees: [tree(2, 0)], now: 3) == .applied)
        #expect(try store.task(name).state == .checkpointed)
        // done before all trees are in is refused
        #expect(throws: JobStoreError.self) { _ = try store.completeAttempt(a, peakRSS: 1, now: 4) }
        #expect(try store.saveTrees(a, firstTree: 1, trees: [tree(2, 1), tree(2, 2)], now: 5) == .applied)
        #expect(throws: JobStoreError.self) { _ = try store.saveTrees(a, firstTree: 3, trees: [tree(2, 3)], now: 5) }
        #expect(try store.completeAttempt(a, peakRSS: 300 << 20, now: 6) == .applied)
        #expect(try store.task(name).state == .done)
        #expect(try store.leases().isEmpty)
        let attempt = try #require(try store.attempt(a))
        #expect(attempt.outcome == .done && attempt.peakRSS == 300 << 20 && attempt.endedAt == 6 && attempt.firstTree == 0)
        // resends are idempotent
        #expect(try store.completeAttempt(a, peakRSS: 1, now: 7) == .duplicate)
        #expect(try store.tree(partition: 2, index: 1) == tree(2, 1))
    }

    @Test func resentTreesAreDuplicates() throws {
        let store = try JobStore()
        try store.createJob(spec(), now: 0)
        let a = try store.beginAttempt(TaskName(.train, 0), workerID: "w1", leaseDeadline: 30, firstTree: 0, now: 1)
        _ = try store.attemptRunning(a, now: 1)
        #expect(try store.saveTrees(a, firstTree: 0, trees: [tree(0, 0), tree(0, 1)], now: 2) == .applied)
        #expect(try store.saveTrees(a, firstTree: 0, trees: [tree(0, 0), tree(0, 1)], now: 3) == .duplicate)
        #expect(try store.checkpointedTrees(partition: 0) == [0, 1])
    }

    @Test func staleResultsOfAReassignedAttemptAreDiscardedAndRecorded() throws {
        let store = try JobStore()
        try store.createJob(spec(), now: 0)
        let name = TaskName(.train, 1)
        let old = try store.beginAttempt(name, workerID: "w2", leaseDeadline: 10, firstTree: 0, now: 1)
        _ = try store.attemptRunning(old, now: 1)
        _ = try store.saveTrees(old, firstTree: 0, trees: [tree(1, 0)], now: 2)
        // w2 is cut off; its lease expires and the task is rerun on w3 from tree 1
        #expect(try store.expiredLeases(now: 10).map(\.attemptID) == [old])
        #expect(try store.failAttempt(old, outcome: .lost, reason: "no heartbeat for 9 s", peakRSS: nil, now: 10) == .lost)
        let first = try store.firstMissingTree(partition: 1)
        #expect(first == 1)
        let new = try store.beginAttempt(name, workerID: "w3", leaseDeadline: 40, firstTree: first, now: 11)
        #expect(new > old)
        _ = try store.attemptRunning(new, now: 11)
        // w2 heals and delivers results from its old attempt
        #expect(
            try store.saveTrees(old, firstTree: 1, trees: [Data("stale".utf8)], now: 12)
                == .discarded(reason: "attempt \(old) is not active"))
        if case .discarded = try store.completeAttempt(old, peakRSS: 5, now: 13) {} else { Issue.record("stale done accepted") }
        #expect(try store.failAttempt(old, outcome: .failed, reason: "late", peakRSS: nil, now: 13) == nil)
        #expect(try store.checkpointedTrees(partition: 1) == [0])
        let discards = try store.events(kind: .staleDiscarded)
        #expect(discards.count == 3)
        #expect(discards.allSatisfy { $0.attemptID == old && $0.workerID == "w2" && $0.task == name })
        #expect(discards[0].message.contains("superseded by attempt \(new)"))
        // the current attempt proceeds normally
        #expect(try store.saveTrees(new, firstTree: 1, trees: [tree(1, 1), tree(1, 2)], now: 14) == .applied)
        #expect(try store.completeAttempt(new, peakRSS: 5, now: 15) == .applied)
        #expect(try store.tree(partition: 1, index: 1) == tree(1, 1))
        #expect(try store.attempts(of: name).map(\.outcome) == [.lost, .done])
        #expect(try store.task(name).failures == 1)
    }

    @Test func unknownAttemptIsDiscarded() throws {
        let store = try JobStore()
        try store.createJob(spec(), now: 0)
        #expect(try store.attemptRunning(999, now: 1) == .discarded(reason: "attempt 999 is not active"))
        #expect(try store.events(kind: .staleDiscarded).first?.attemptID == 999)
    }

    @Test func retriesAreBounded() throws {
        let store = try JobStore()
        try store.createJob(spec(maxAttempts: 3), now: 0)
        let name = TaskName(.extract, 0)
        var states: [TaskState?] = []
        for i in 0..<3 {
            let a = try store.beginAttempt(name, workerID: "w\(i)", leaseDeadline: 100, now: Double(i))
            _ = try store.attemptRunning(a, now: Double(i))
            states.append(try store.failAttempt(a, outcome: .lost, reason: "killed by signal 9", peakRSS: 498 << 20, now: Double(i)))
        }
        #expect(states == [.lost, .lost, .failed])
        #expect(try store.task(name).failures == 3)
        #expect(throws: JobStoreError.self) { _ = try store.beginAttempt(name, workerID: "w9", leaseDeadline: 1, now: 9) }
        #expect(try store.events(kind: .taskFailed).count == 1)

        let bad = TaskName(.extract, 1)
        let a = try store.beginAttempt(bad, workerID: "w1", leaseDeadline: 100, now: 1)
        #expect(
            try store.failAttempt(
                a, outcome: .failed, reason: "line 7, column 3: not a number", peakRSS: nil,
                retryable: false, now: 2) == .failed)
    }

    @Test func resumeAbandonsRunningTasksWithoutCountingFailures() throws {
        let dir = try TempDir()
        var running: UInt64 = 0
        do {
            let store = try JobStore(path: dir.dbPath)
            try store.createJob(spec(), now: 0)
            let done = try store.beginAttempt(TaskName(.extract, 0), workerID: "w1", leaseDeadline: 9, now: 1)
            _ = try store.attemptRunning(done, now: 1)
            _ = try store.saveExtractCheckpoint(
                done, stats: Data([7]),
                counts: PartitionCounts(
                    trainRows: 8, testRows: 2), now: 2)
            _ = try store.completeAttempt(done, peakRSS: 1, now: 3)
            running = try store.beginAttempt(TaskName(.train, 0), workerID: "w1", leaseDeadline: 9, firstTree: 0, now: 4)
            _ = try store.attemptRunning(running, now: 4)
            _ = try store.saveTrees(running, firstTree: 0, trees: [tree(0, 0), tree(0, 1)], now: 5)
            _ = try store.beginAttempt(TaskName(.extract, 1), workerID: "w2", leaseDeadline: 9, now: 6)
        }  // coordinator killed here
        let store = try JobStore(path: dir.dbPath)
        let abandoned = try store.abandonActiveAttempts(reason: "coordinator restarted", now: 100)
        #expect(Set(abandoned.map(\.task)) == [TaskName(.extract, 1), TaskName(.train, 0)])
        #expect(try store.task(TaskName(.train, 0)).state == .pending)
        #expect(try store.task(TaskName(.train, 0)).failures == 0)
        #expect(try store.task(TaskName(.extract, 0)).state == .done)
        #expect(try store.leases().isEmpty)
        #expect(try store.firstMissingTree(partition: 0) == 2)
        #expect(try store.attempt(running)?.outcome == .abandoned)
        // the abandoned attempt can no longer write
        if case .discarded = try store.saveTrees(running, firstTree: 2, trees: [tree(0, 2)], now: 101) {
        } else {
            Issue.record("abandoned attempt wrote trees")
        }
        #expect(try store.spillHolder(partition: 0)?.workerID == "w1")
        #expect(try store.partitions()[0].trainRows == 8)
        #expect(try store.partitions()[0].testRows == 2)
        #expect(try store.events(kind: .resumed).count == 1)
    }

    @Test func storeKeepsRowCountsOnlyAndOpensStoresWithClassColumns() throws {
        let dir = try TempDir()
        do {
            let store = try JobStore(path: dir.dbPath)
            try store.createJob(spec(partitions: 2), now: 0)
            let e = try store.beginAttempt(TaskName(.extract, 0), workerID: "w1", leaseDeadline: 9, now: 1)
            _ = try store.attemptRunning(e, now: 1)
            _ = try store.saveExtractCheckpoint(e, stats: Data([7]), counts: PartitionCounts(trainRows: 8, testRows: 2), now: 2)
            // nothing about classes is written
            let written = try store.read { db in
                try Int.fetchOne(
                    db,
                    sql: """
                        SELECT count(*) FROM partitions
                        WHERE class_labels IS NOT NULL OR train_class_counts IS NOT NULL OR test_class_counts IS NOT NULL
                        """)
            }
            #expect(written == 0)
            // a store written before kept class labels and counts in partition 1's row
            try store.write { db in
                try db.execute(
                    sql: """
                        UPDATE partitions SET train_rows = 5, test_rows = 1, class_labels = '["a","b"]',
                            train_class_counts = '[3,2]', test_class_counts = '[1,0]' WHERE partition = 1
                        """)
            }
        }
        let store = try JobStore(path: dir.dbPath)
        let partitions = try store.partitions()
        #expect(partitions.map(\.trainRows) == [8, 5])
        #expect(partitions.map(\.testRows) == [2, 1])
        #expect(try store.extractStats(partition: 0) == Data([7]))
    }

    @Test func firstMissingTreeFindsGaps() throws {
        let store = try JobStore()
        try store.createJob(spec(partitions: 1, trees: 6), now: 0)
        let a = try store.beginAttempt(TaskName(.train, 0), workerID: "w1", leaseDeadline: 9, firstTree: 0, now: 1)
        _ = try store.attemptRunning(a, now: 1)
        #expect(try store.firstMissingTree(partition: 0) == 0)
        _ = try store.saveTrees(a, firstTree: 0, trees: [tree(0, 0), tree(0, 1)], now: 2)
        _ = try store.saveTrees(a, firstTree: 3, trees: [tree(0, 3)], now: 3)
        #expect(try store.firstMissingTree(partition: 0) == 2)
    }

    @Test func treesStreamInPartitionAndIndexOrder() throws {
        let store = try JobStore()
        try store.createJob(spec(partitions: 2, trees: 4), now: 0)
        for p in [1, 0] {
            let a = try store.beginAttempt(TaskName(.train, p), workerID: "w1", leaseDeadline: 9, firstTree: 0, now: 1)
            _ = try store.attemptRunning(a, now: 1)
            _ = try store.saveTrees(a, firstTree: 1, trees: [tree(p, 1)], now: 2)
            _ = try store.saveTrees(a, firstTree: 0, trees: [tree(p, 0)], now: 3)
        }
        var seen: [String] = []
        try store.forEachTree { p, i, data in
            #expect(data == tree(p, i))
            seen.append("\(p).\(i)")
        }
        #expect(seen == ["0.0", "0.1", "1.0", "1.1"])
    }

    @Test func leasesRenewAndExpire() throws {
        let store = try JobStore()
        try store.createJob(spec(), now: 0)
        let a = try store.beginAttempt(TaskName(.extract, 0), workerID: "w1", leaseDeadline: 10, now: 0)
        let b = try store.beginAttempt(TaskName(.extract, 1), workerID: "w2", leaseDeadline: 10, now: 0)
        try store.renewLease(a, deadline: 20)
        try store.renewLease(b, deadline: 5)  // never shortens
        #expect(try store.expiredLeases(now: 9.9).isEmpty)
        #expect(try store.expiredLeases(now: 10).map(\.attemptID) == [b])
        #expect(try store.expiredLeases(now: 20).map(\.attemptID) == [a, b])
    }

    @Test func evaluationWorkersArtifactsTimingsMetrics() throws {
        let store = try JobStore()
        try store.createJob(spec(), now: 0)
        let e = try store.beginAttempt(TaskName(.evaluate, 2), workerID: "w1", leaseDeadline: 9, now: 1)
        _ = try store.attemptRunning(e, now: 1)
        #expect(throws: JobStoreError.self) { _ = try store.completeAttempt(e, peakRSS: 1, now: 2) }
        #expect(try store.completeAttempt(e, peakRSS: 1, result: Data([4, 2]), now: 2) == .applied)
        #expect(try store.evaluationResults().map(\.partition) == [2])

        try store.workerJoined(WorkerRecord(id: "w1", host: "h", pid: 4121, cores: 2, memoryLimit: 512 << 20), now: 1)
        try store.recordHeartbeat(workerID: "w1", rss: 100, peakRSS: 200, now: 2)
        try store.recordHeartbeat(workerID: "w1", rss: 90, peakRSS: 150, now: 3)
        let w = try #require(try store.workers().first)
        #expect(w.lastHeartbeat == 3 && w.rss == 90 && w.peakRSS == 200 && w.state == .connected)
        try store.workerGone("w1", state: .lost, reason: "killed by signal 9", now: 4)
        #expect(try store.workers().first?.state == .lost)
        #expect(try store.events(kind: .workerJoined).first?.message == "worker w1 joined from h (pid 4121, 2 cores, limit 512 MiB)")

        try store.putArtifact("extractor", Data([1, 2, 3]), now: 5)
        #expect(try store.artifact("extractor") == Data([1, 2, 3]))
        #expect(try store.artifact("model") == nil)
        try store.stepStarted("extract", now: 10)
        try store.stepEnded("extract", rows: 1000, now: 12.5)
        #expect(try store.stageTimings() == [StageTiming(step: "extract", startedAt: 10, endedAt: 12.5, rows: 1000)])
        try store.setMetric("accuracy", 0.93)
        #expect(try store.metrics() == ["accuracy": 0.93])
        try store.setStage(.train, now: 20)
        try store.failJob("train/p3 failed 3 times", now: 21)
        #expect(try store.stage() == .failed)
        #expect(try store.failure() == "train/p3 failed 3 times")
    }

    @Test func byteCountFormatting() {
        #expect(ByteCount(512 << 20).description == "512 MiB")
        #expect(ByteCount(1536).description == "1.5 KiB")
        #expect(ByteCount(12).description == "12 B")
    }
}
