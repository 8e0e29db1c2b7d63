import Foundation
import TestSupport
import Testing

@testable import Cluster

/// Tree-sharded evaluation with real processes: each evaluate task loads one tree slice
/// of the merged model, the coordinator adds the slices' partial sums in the model's
/// grouping, and the metrics are those of whole-model evaluation (and of the single
/// process), also when a worker is killed during a slice's evaluation.
@Suite(.serialized) struct ShardedEvaluationEndToEndTests {
    static let training = ["--partitions", "2", "--trees", "12", "--seed", "3"]
    static let liveness = ["--heartbeat", "0.25", "--liveness", "12"]
    static let metricKeys = ["accuracy", "auc", "log_loss", "balanced_accuracy"]

    static func local(
        _ data: String, in dir: String, name: String, scoring: [String],
        environment: [String: String] = [:]
    ) throws -> E2E.Child {
        try E2E.Child(
            [
                "local", data, "--workers", "2", "--memory-limit", "256MiB", "--job-dir", dir + "/" + name,
                "--model-out", name + ".stm", "--report-json", name + ".json"
            ] + scoring + Self.training + Self.liveness,
            in: dir, name: name, environment: environment)
    }

    static func metrics(_ report: [String: Any]) -> [String: Double] {
        var out: [String: Double] = [:]
        for k in metricKeys { out[k] = report[k] as? Double }
        return out
    }

    @Test func shardedAndWholeEvaluationGiveTheSameMetrics() throws {
        let dir = try E2E.tempDir("sharded-eval")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = try E2E.generate(rows: 4000, in: dir)
        let single = try E2E.singleProcess(data, in: dir, flags: Self.training)
        let whole = try Self.local(data, in: dir, name: "whole", scoring: ["--scoring", "whole"])
        #expect(whole.wait(180) == 0, "\(whole.stderr)")
        #expect(whole.stderr.contains("evaluate: whole-model scoring: asked for (--scoring whole)"), "\(whole.stderr)")
        let sharded = try Self.local(data, in: dir, name: "sharded", scoring: ["--scoring", "sharded", "--slices", "3"])
        #expect(sharded.wait(180) == 0, "\(sharded.stderr)")
        #expect(sharded.stderr.contains("evaluate: tree-sharded scoring: 3 slices of the 12 trees"), "\(sharded.stderr)")
        let w = try E2E.json(dir + "/whole.json")
        let s = try E2E.json(dir + "/sharded.json")
        #expect(Self.metrics(w).count == Self.metricKeys.count)
        #expect(Self.metrics(s) == Self.metrics(w), "sharded \(Self.metrics(s)) whole \(Self.metrics(w))")
        #expect(s["accuracy"] as? Double == single.accuracy)
        #expect(s["fingerprint"] as? String == single.fingerprint)
        let store = try #require(try E2E.openStore(dir + "/sharded"))
        let evaluate = try store.tasks().filter { $0.name.kind == .evaluate }
        #expect(
            evaluate.count == 6 && evaluate.allSatisfy { $0.state == .done && $0.name.variant.treeRange != nil }, "\(evaluate.map(\.name))")
        let (_, status) = try E2E.run(["status", dir + "/sharded"], in: dir, name: "status")
        #expect(status.stdout.contains("evaluate: tree-sharded scoring"), "\(status.stdout)")
    }

    @Test func aWorkerKilledDuringShardedEvaluationIsRerunWithTheSameMetrics() throws {
        let dir = try E2E.tempDir("sharded-eval-kill")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = try E2E.generate(rows: 4000, in: dir)
        let whole = try Self.local(data, in: dir, name: "whole", scoring: ["--scoring", "whole"])
        #expect(whole.wait(180) == 0, "\(whole.stderr)")
        let job = try Self.local(
            data, in: dir, name: "sharded", scoring: ["--scoring", "sharded", "--slices", "2"],
            environment: ["SPACETIME_TEST_EVALUATE_DELAY_MS": "1500"])
        defer { _ = job.wait(1) }
        let store = try #require(try E2E.openStore(dir + "/sharded"))
        var victim: (worker: String, task: TaskName)?
        #expect(
            try E2E.waitUntil(120) {
                for t in try store.tasks() where t.name.kind == .evaluate && t.state == .running && t.name.variant.treeRange != nil {
                    if let id = t.currentAttempt, let a = try store.attempt(id) {
                        victim = (a.workerID, t.name)
                        return true
                    }
                }
                return false
            })
        let (worker, task) = try #require(victim)
        let pid = try #require(try store.workers().first { $0.id == worker && $0.state == .connected }.map { Int32($0.pid) })
        kill(pid, SIGKILL)
        let status = job.wait(180)
        #expect(status == 0, "\(job.stderr)")
        #expect(job.stderr.contains("was killed by signal 9"))
        let attempts = try store.attempts(of: task)
        #expect(attempts.contains { $0.workerID == worker && $0.outcome == .lost }, "\(attempts)")
        #expect(attempts.last?.outcome == .done && attempts.last?.workerID != worker, "\(task) rerun elsewhere")
        let w = try E2E.json(dir + "/whole.json")
        let s = try E2E.json(dir + "/sharded.json")
        #expect(Self.metrics(s) == Self.metrics(w), "through the kill: sharded \(Self.metrics(s)) whole \(Self.metrics(w))")
        #expect(s["fingerprint"] as? String == w["fingerprint"] as? String)
    }
}
