import Foundation
import Testing

@testable import Cluster

/// What the job report reads from the store: heartbeat RSS samples (bounded per worker,
/// peaks kept), attempts with their reruns and the checkpoints they resumed from, and the
/// page of a running job.
@Suite struct ReportStoreTests {
    static func spec(partitions: Int = 2, trees: Int = 8) -> JobSpec {
        JobSpec(
            jobID: "job-r", dataFiles: ["/data/a.csv"], parameters: Data([1, 2]), seed: 1,
            partitions: partitions, testFraction: 0.2, trees: trees)
    }

    static func worker(_ id: String) -> WorkerRecord {
        WorkerRecord(id: id, host: "h", pid: 10, cores: 1, memoryLimit: 512 << 20)
    }

    @Test func rssSamplesStayBoundedSpreadAndKeepThePeak() throws {
        let store = try JobStore()
        try store.createJob(Self.spec(), now: 0)
        try store.workerJoined(Self.worker("w1"), now: 10)
        try store.workerJoined(Self.worker("w2"), now: 10)
        let beats = 8000
        for i in 0..<beats {
            let t = 10 + Double(i) * 0.25
            try store.recordHeartbeat(
                workerID: "w1", rss: i == 4321 ? 900 << 20 : UInt64(100 + i % 97) << 20,
                peakRSS: i == 6000 ? 2000 << 20 : 0, now: t)
            if i % 100 == 0 { try store.recordHeartbeat(workerID: "w2", rss: 50 << 20, peakRSS: 0, now: t) }
        }
        let samples = try store.rssSamples()
        let w1 = try #require(samples["w1"])
        let w2 = try #require(samples["w2"])
        #expect(w1.count <= JobStore.rssSamplesPerWorker && w1.count >= JobStore.rssSamplesPerWorker / 4)
        #expect(w2.count == beats / 100)  // sparse heartbeats: every one kept
        #expect(w1.map(\.rss).max() == 900 << 20)
        #expect(w1.map(\.peak).max() == 2000 << 20 && w1.allSatisfy { $0.peak >= $0.rss })
        #expect(zip(w1, w1.dropFirst()).allSatisfy { $0.at < $1.at })
        let end = 10 + Double(beats - 1) * 0.25
        #expect(w1.first!.at < 10 + (end - 10) * 0.02 && w1.last!.at > end - (end - 10) * 0.02)
        // The gaps are even: none much wider than the mean.
        let gaps = zip(w1, w1.dropFirst()).map { $1.at - $0.at }
        #expect(gaps.max()! < 3 * (end - 10) / Double(w1.count))
    }

    @Test func reportLinksTheRerunToTheCheckpointItResumedFrom() throws {
        let store = try JobStore()
        try store.createJob(Self.spec(), now: 100)
        try store.workerJoined(Self.worker("w1"), now: 100)
        try store.workerJoined(Self.worker("w2"), now: 100)
        try store.stepStarted("train", now: 101)
        let train = TaskName(.train, 0)
        let a = try store.beginAttempt(train, workerID: "w1", leaseDeadline: 1000, firstTree: 0, now: 101)
        _ = try store.attemptRunning(a, now: 101.5)
        _ = try store.saveTrees(a, firstTree: 0, trees: [Data("t0".utf8)], now: 102)
        _ = try store.saveTrees(a, firstTree: 1, trees: [Data("t1".utf8)], now: 103)
        try store.recordHeartbeat(workerID: "w1", rss: 80 << 20, peakRSS: 90 << 20, now: 103)
        try store.workerGone("w1", state: .lost, reason: "killed by signal 9", now: 104)
        try store.failAttempt(a, outcome: .lost, reason: "worker w1 was killed by signal 9", peakRSS: 95 << 20, now: 104)
        let first = try store.firstMissingTree(partition: 0)
        let b = try store.beginAttempt(train, workerID: "w2", leaseDeadline: 1000, firstTree: first, now: 105)
        _ = try store.attemptRunning(b, now: 105)
        _ = try store.saveTrees(a, firstTree: 2, trees: [Data("late".utf8)], now: 106)  // stale: discarded

        let report = try JobReport.load(store: store, now: 110)
        #expect(report.state == .running && report.stage == "extract")
        let lost = try #require(report.attempts.first { $0.id == a })
        let rerun = try #require(report.attempts.first { $0.id == b })
        #expect(lost.outcome == "lost" && lost.checkpoints == [2, 3] && lost.staleMessages == 1 && lost.peakRSS == 95 << 20)
        #expect(rerun.rerunOf == a && rerun.resumedFrom == a && rerun.firstTree == 2 && rerun.outcome == "running" && rerun.end == nil)
        #expect(report.origin == 100 && report.duration == 10)
        #expect(report.workers.first { $0.id == "w1" }?.peakRSS == 95 << 20)
        #expect(report.marks.contains { $0.kind == "lost" && $0.worker == "w1" && $0.at == 4 })
        #expect(report.memory.first { $0.worker == "w1" }?.samples.map(\.t) == [3])
        #expect(report.stages.first?.name == "train" && report.stages.first?.finished == false)
        #expect(report.stages.first?.peaks.first { $0.worker == "w1" }?.peak == 95 << 20)

        let page = ReportHTML.render(report)
        #expect(page.contains("<meta http-equiv=\"refresh\" content=\"\(JobReport.refreshSeconds)\">"))
        #expect(page.contains("data-state=\"running\""))
        #expect(
            page.contains("data-attempt=\"\(b)\"") && page.contains("data-rerun-of=\"\(a)\"") && page.contains("data-resumed-from=\"\(a)\"")
        )
        #expect(page.contains("class=\"data rerun-link\" data-from=\"\(a)\" data-to=\"\(b)\""))
        #expect(page.contains("resumed at tree 2 from the checkpoint of attempt \(a)"))
        for id in ["summary", "stages", "timeline", "memory", "quality", "importance"] { #expect(page.contains("<section id=\"\(id)\">")) }
        for forbidden in ["http:", "https:", "src=", "<script", "<link", "url("] { #expect(!page.contains(forbidden), "\(forbidden)") }
        #expect(page.contains("not evaluated yet"))
    }

    @Test func aFinishedJobsPageDoesNotRefresh() throws {
        let store = try JobStore()
        try store.createJob(Self.spec(partitions: 1, trees: 1), now: 0)
        try store.setStage(.done, now: 5)
        let page = ReportHTML.render(try JobReport.load(store: store, now: 60))
        #expect(!page.contains("http-equiv") && page.contains("data-state=\"done\""))
        #expect(throws: JobStoreError.self) { try JobReport.load(store: try JobStore(), now: 0) }
    }
}
