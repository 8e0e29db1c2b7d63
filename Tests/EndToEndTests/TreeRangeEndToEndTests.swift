import Foundation
import TestSupport
import Testing

@testable import Cluster

/// Tree-range train tasks with real processes: a job with fewer partitions than
/// workers trains on every worker, and its model is the one of one task per
/// partition (the single-process run with the same `--partitions`), also when a
/// worker is killed halfway through its range.
@Suite(.serialized) struct TreeRangeEndToEndTests {
    static let training = ["--partitions", "1", "--trees", "12", "--seed", "5"]
    static let liveness = ["--heartbeat", "0.25", "--liveness", "12"]

    /// The done train attempts' workers, by task.
    private func trainers(_ store: JobStore) throws -> [TaskName: Set<String>] {
        var out: [TaskName: Set<String>] = [:]
        for task in try store.tasks() where task.name.kind == .train {
            out[task.name] = Set(try store.attempts(of: task.name).filter { $0.outcome == .done }.map(\.workerID))
        }
        return out
    }

    @Test func bothWorkersTrainOnePartitionWithTheModelOfOneTask() throws {
        let dir = try E2E.tempDir("ranges")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = try E2E.generate(rows: 4000, in: dir)
        let single = try E2E.singleProcess(data, in: dir, flags: Self.training)
        let (status, child) = try E2E.run(
            [
                "local", data, "--workers", "2", "--memory-limit", "256MiB", "--job-dir", dir + "/job",
                "--model-out", "dist.stm", "--report-json", "dist.json"
            ] + Self.training + Self.liveness,
            in: dir, name: "local")
        #expect(status == 0, "\(child.stderr)")
        #expect(try E2E.json(dir + "/dist.json")["fingerprint"] as? String == single.fingerprint, "split and unsplit models differ")
        #expect(
            child.stderr.contains("train: 1 partition for 2 workers (w1 1 core, w2 1 core): 2 train tasks over tree ranges"),
            "\(child.stderr)")
        let store = try #require(try E2E.openStore(dir + "/job"))
        let done = try trainers(store)
        #expect(done.keys.sorted() == [TaskName(.train, 0, .trees(0..<6)), TaskName(.train, 0, .trees(6..<12))])
        #expect(done.values.reduce(into: Set<String>()) { $0.formUnion($1) } == ["w1", "w2"], "both workers trained: \(done)")
        let (_, statusChild) = try E2E.run(["status", dir + "/job"], in: dir, name: "status")
        #expect(statusChild.stdout.contains("train/p0.t6-12"), "\(statusChild.stdout)")
        #expect(statusChild.stdout.contains("trees 6/6"), "\(statusChild.stdout)")
        #expect(statusChild.stdout.contains("2 train tasks over tree ranges"), "\(statusChild.stdout)")
    }

    @Test func aWorkerKilledMidRangeIsRerunFromItsCheckpointsWithTheSameModel() throws {
        let dir = try E2E.tempDir("ranges-kill")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = try E2E.generate(rows: 4000, in: dir)
        let single = try E2E.singleProcess(data, in: dir, flags: Self.training)
        let job = try E2E.Child(
            [
                "local", data, "--workers", "2", "--memory-limit", "256MiB", "--job-dir", dir + "/job",
                "--model-out", "dist.stm", "--report-json", "dist.json"
            ] + Self.training + Self.liveness,
            in: dir, name: "local", environment: ["SPACETIME_TEST_TREE_DELAY_MS": "300"])
        defer { _ = job.wait(1) }
        let store = try #require(try E2E.openStore(dir + "/job"))
        // A range task that has checkpointed some, not all, of its trees: kill its worker.
        var victim: (worker: String, task: TaskName)?
        #expect(
            try E2E.waitUntil(90) {
                for task in try store.tasks() where task.name.kind == .train && [.running, .checkpointed].contains(task.state) {
                    guard let range = task.name.variant.treeRange, let id = task.currentAttempt, let a = try store.attempt(id) else {
                        continue
                    }
                    let stored = try store.checkpointedTreeCount(partition: 0, in: range)
                    if stored >= 1 && stored < range.count - 1 {
                        victim = (a.workerID, task.name)
                        return true
                    }
                }
                return false
            })
        let (worker, task) = try #require(victim)
        let pid = try #require(try store.workers().first { $0.id == worker && $0.state == .connected }.map { Int32($0.pid) })
        kill(pid, SIGKILL)
        let status = job.wait(120)
        let log = job.stderr
        #expect(status == 0, "\(log)")
        #expect(log.contains("was killed by signal 9"))
        #expect(log.contains("\(task) resumed at tree"), "the range resumed at its first missing tree: \(log)")
        #expect(try E2E.json(dir + "/dist.json")["fingerprint"] as? String == single.fingerprint, "the model is the same through the kill")
        let lost = try store.attempts(of: task).filter { $0.outcome == .lost }
        #expect(lost.map(\.workerID) == [worker])
        #expect(try store.attempts(of: task).last?.outcome == .done)
    }
}
