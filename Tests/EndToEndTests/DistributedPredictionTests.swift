import Foundation
import SpaceTime
import TestSupport
import Testing

@testable import Cluster

/// `spacetime predict` over worker processes: the output is byte-identical
/// to the single-process command's with 2 workers and with 1, with and
/// without probabilities, when a worker is killed mid-prediction, and with
/// a worker that joined over `--bind`; bad rows give the same located error.
@Suite(.serialized) struct DistributedPredictionTests {
    static let liveness = ["--heartbeat", "0.25", "--liveness", "12"]

    /// Data, a model trained on it, and the single-process predictions (plain and with --proba).
    struct Fixture {
        let dir: String
        let data: String
        let model: String
        let plain: Data
        let proba: Data

        init(_ name: String, rows: Int = 5000, trainFlags: [String] = []) throws {
            dir = try E2E.tempDir(name)
            data = try E2E.generate(rows: rows, in: dir)
            model = dir + "/model.stm"
            let (trained, train) = try E2E.run(
                ["train", data, "--trees", "12", "--model-out", model, "--threads", "1"] + trainFlags, in: dir, name: "train")
            guard trained == 0 else { throw PipelineError(.io, "train failed: \(train.stderr)") }
            for (flags, out) in [([String](), "single.csv"), (["--proba"], "single-proba.csv")] {
                let (status, child) = try E2E.run(
                    ["predict", "--model", model, data, "--out", out, "--threads", "1"] + flags, in: dir, name: out)
                guard status == 0 else { throw PipelineError(.io, "predict failed: \(child.stderr)") }
            }
            plain = try Data(contentsOf: URL(fileURLWithPath: dir + "/single.csv"))
            proba = try Data(contentsOf: URL(fileURLWithPath: dir + "/single-proba.csv"))
        }

        func output(_ name: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: dir + "/" + name)) }
        func remove() { try? FileManager.default.removeItem(atPath: dir) }
    }

    @Test func twoWorkersAndOneWriteTheSingleProcessBytes() throws {
        let f = try Fixture("pred-same")
        defer { f.remove() }
        #expect(f.plain.count > 5000 && f.proba.count > f.plain.count)
        let runs: [(workers: Int, proba: Bool)] = [(2, true), (1, false), (2, false)]
        for (i, run) in runs.enumerated() {
            let out = "dist-\(i).csv"
            let job = f.dir + "/job-\(i)"
            let (status, child) = try E2E.run(
                [
                    "predict", "--model", f.model, f.data, "--out", out, "--workers", "\(run.workers)",
                    "--memory-limit", "256MiB", "--threads", "1", "--block-rows", "500", "--job-dir", job
                ]
                    + (run.proba ? ["--proba"] : []) + Self.liveness,
                in: f.dir, name: "predict-\(i)", timeout: 120)
            #expect(status == 0, "\(child.stderr)")
            #expect(try f.output(out) == (run.proba ? f.proba : f.plain), "\(run.workers) worker(s), proba \(run.proba): same bytes")
            let store = try #require(try E2E.openStore(job))
            let tasks = try store.tasks()
            #expect(tasks.count == 10 && tasks.allSatisfy { $0.name.kind == .predict && $0.state == .done })
            #expect(try store.stage() == .done)
            let workers = Set(try tasks.flatMap { try store.attempts(of: $0.name) }.map(\.workerID))
            #expect(workers.count == run.workers, "blocks ran on every worker: \(workers)")
        }
    }

    /// Tree-sharded scoring (each worker loads one slice of the forest, every row goes to
    /// every slice, the coordinator adds the partial sums in the model's fixed grouping)
    /// writes the single-process bytes: one and three partitions, 2 and 3 slices, with and
    /// without probabilities; `auto` on a small model says it scores with the whole model.
    @Test func treeShardedScoringWritesTheSingleProcessBytes() throws {
        for (partitions, slices) in [(1, 2), (3, 3)] {
            let f = try Fixture("pred-shard-\(partitions)", rows: 3000, trainFlags: ["--partitions", "\(partitions)"])
            defer { f.remove() }
            for proba in [true, false] {
                let out = "sharded-\(proba).csv"
                let job = f.dir + "/job-\(proba)"
                let (status, child) = try E2E.run(
                    [
                        "predict", "--model", f.model, f.data, "--out", out, "--workers", "2",
                        "--memory-limit", "256MiB", "--threads", "1", "--block-rows", "1000", "--job-dir", job,
                        "--scoring", "sharded", "--slices", "\(slices)"
                    ] + (proba ? ["--proba"] : []) + Self.liveness,
                    in: f.dir, name: "predict-sharded-\(proba)", timeout: 120)
                #expect(status == 0, "\(child.stderr)")
                #expect(
                    try f.output(out) == (proba ? f.proba : f.plain),
                    "\(partitions) partition(s), \(slices) slices, proba \(proba): same bytes")
                #expect(child.stderr.contains("tree-sharded scoring: \(slices) slices of the 12 trees"), "\(child.stderr)")
                let store = try #require(try E2E.openStore(job))
                #expect(try store.tasks().count == 3 * slices && store.tasks().allSatisfy { $0.state == .done })
                #expect(try store.artifact("model-slice-\(slices - 1)") != nil)
                #expect(try store.artifact("model-slice-\(slices)") == nil)
                try Self.expectTasksPerBlockAndSlice(store, blocks: 3, slices: slices)
            }
            let (_, statusChild) = try E2E.run(["status", f.dir + "/job-false"], in: f.dir, name: "status")
            #expect(
                statusChild.stdout.contains(
                    "blocks: 3, done 3; tasks: \(3 * slices) (a task per block and tree slice), done \(3 * slices)"),
                "\(statusChild.stdout)")
            #expect(statusChild.stdout.contains("predict/p2.t"), "\(statusChild.stdout)")
            // The same job scored with the whole model: the same bytes, a task predict/pK per block.
            let job = f.dir + "/job-whole"
            let (status, child) = try E2E.run(
                [
                    "predict", "--model", f.model, f.data, "--out", "whole.csv", "--workers", "2",
                    "--memory-limit", "256MiB", "--threads", "1", "--block-rows", "1000", "--job-dir", job,
                    "--scoring", "whole"
                ] + Self.liveness, in: f.dir, name: "predict-whole", timeout: 120)
            #expect(status == 0, "\(child.stderr)")
            #expect(try f.output("whole.csv") == f.output("sharded-false.csv"), "\(slices) slices: the bytes of whole-model scoring")
            let store = try #require(try E2E.openStore(job))
            #expect(try store.tasks().map(\.name).sorted().map(\.description) == ["predict/p0", "predict/p1", "predict/p2"])
        }
        let f = try Fixture("pred-shard-auto", rows: 1000)
        defer { f.remove() }
        let (status, child) = try E2E.run(
            [
                "predict", "--model", f.model, f.data, "--out", "auto.csv", "--proba", "--workers", "1",
                "--memory-limit", "256MiB", "--threads", "1"
            ] + Self.liveness, in: f.dir, name: "predict-auto", timeout: 120)
        #expect(status == 0, "\(child.stderr)")
        #expect(try f.output("auto.csv") == f.proba)
        #expect(child.stderr.contains("whole-model scoring: the model ("), "\(child.stderr)")
    }

    /// A sharded job's tasks are `predict/pK.tA-B`: every block K has one task per slice, the
    /// slices' tree ranges are the same for every block and cover the model's trees from 0.
    static func expectTasksPerBlockAndSlice(
        _ store: JobStore, blocks: Int, slices: Int, trees: Int = 12,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let names = try store.tasks().map(\.name).sorted()
        let ranges = names.filter { $0.partition == 0 }.compactMap(\.variant.treeRange)
        #expect(
            ranges.count == slices && ranges.first?.lowerBound == 0 && ranges.last?.upperBound == trees
                && zip(ranges, ranges.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound }, "\(names)", sourceLocation: sourceLocation
        )
        let expected = (0..<blocks).flatMap { k in ranges.map { "predict/p\(k).t\($0.lowerBound)-\($0.upperBound)" } }
        #expect(names.map(\.description) == expected, sourceLocation: sourceLocation)
    }

    @Test func aWorkerKilledMidPredictionLeavesTheOutputComplete() throws {
        let f = try Fixture("pred-kill")
        defer { f.remove() }
        let job = f.dir + "/job"
        let child = try E2E.Child(
            [
                "predict", "--model", f.model, f.data, "--out", "dist.csv", "--proba", "--workers", "2",
                "--memory-limit", "256MiB", "--threads", "1", "--block-rows", "250", "--job-dir", job
            ] + Self.liveness,
            in: f.dir, name: "predict", environment: ["SPACETIME_TEST_BATCH_DELAY_MS": "400"])
        defer { _ = child.wait(1) }
        let store = try #require(try E2E.openStore(job))
        // After some blocks are done: a worker whose attempt is still running (rows streaming in).
        var victim: (worker: String, task: TaskName, attempt: UInt64)?
        #expect(
            try E2E.waitUntil(60) {
                let tasks = try store.tasks()
                guard tasks.filter({ $0.state == .done }).count >= 3 else { return false }
                for t in tasks where t.state == .running {
                    if let id = t.currentAttempt, let a = try store.attempt(id) {
                        victim = (a.workerID, t.name, id)
                        return true
                    }
                }
                return false
            })
        let (worker, task, picked) = try #require(victim)
        let pid = try #require(try store.workers().first { $0.id == worker }?.pid)
        kill(Int32(pid), SIGKILL)
        let status = child.wait(120)
        #expect(status == 0, "\(child.stderr)")
        #expect(try f.output("dist.csv") == f.proba, "complete and identical despite the kill")
        #expect(child.stderr.contains("was killed by signal 9"), "the log names the kill")
        // The attempt that was running when the worker died is lost (normally `task`'s; if that one
        // finished in the instant before the kill, the victim's next one), and its block was redone elsewhere.
        let lost = try store.tasks().filter { t in try store.attempts(of: t.name).contains { $0.workerID == worker && $0.outcome == .lost }
        }
        // A block is one batch here, so on a loaded machine the picked attempt may have sent `done`
        // just before the kill landed; then the worker may have died idle (nothing lost) or in its next block.
        let pickedFinished = try store.attempt(picked)?.outcome == .done
        #expect(
            pickedFinished ? lost.count <= 1 : lost.count == 1,
            "one attempt of \(worker) lost (picked while it ran \(task); that attempt \(pickedFinished ? "finished" : "did not finish"))")
        for t in lost {
            let attempts = try store.attempts(of: t.name)
            #expect(
                attempts.count >= 2 && attempts.last?.outcome == .done && attempts.last?.workerID != worker, "\(t.name) redone elsewhere")
        }
    }

    @Test func attemptsUsedUpFailTheJobWithTheTrainingStyleMessage() throws {
        let f = try Fixture("pred-fail", rows: 2000)
        defer { f.remove() }
        let job = f.dir + "/job"
        let child = try E2E.Child(
            [
                "predict", "--model", f.model, f.data, "--out", "dist.csv", "--workers", "2", "--max-attempts", "1",
                "--memory-limit", "256MiB", "--threads", "1", "--block-rows", "250", "--job-dir", job
            ] + Self.liveness,
            in: f.dir, name: "predict", environment: ["SPACETIME_TEST_BATCH_DELAY_MS": "400"])
        defer { _ = child.wait(1) }
        let store = try #require(try E2E.openStore(job))
        var victim: String?
        #expect(
            try E2E.waitUntil(60) {
                for t in try store.tasks() where t.state == .running {
                    if let id = t.currentAttempt, let a = try store.attempt(id) {
                        victim = a.workerID
                        return true
                    }
                }
                return false
            })
        let pid = try #require(try store.workers().first { $0.id == victim }?.pid)
        kill(Int32(pid), SIGKILL)
        #expect(child.wait(60) == 1)
        let message = try #require(child.stderr.split(separator: "\n").last { $0.contains("prediction failed:") })
        #expect(message.contains("failed once: worker \(victim ?? "?") (pid \(pid)) was killed by signal 9"), "\(message)")
        #expect(!FileManager.default.fileExists(atPath: f.dir + "/dist.csv"), "no partial output")
        #expect(try store.stage() == .failed)
    }

    @Test func aWorkerJoiningOverBindDoesTheWork() throws {
        let f = try Fixture("pred-bind", rows: 2000)
        defer { f.remove() }
        let coordinator = try E2E.Child(
            [
                "predict", "--model", f.model, f.data, "--out", "dist.csv", "--bind", "tcp://127.0.0.1:*",
                "--block-rows", "400"
            ] + Self.liveness, in: f.dir, name: "predict")
        defer { _ = coordinator.wait(1) }
        var endpoint: String?
        #expect(
            E2E.waitUntil(30) {
                endpoint = coordinator.stderr.split(separator: "\n").first { $0.contains("coordinator on tcp://") }
                    .flatMap { $0.split(separator: " ").last.map(String.init) }
                return endpoint != nil
            })
        let worker = try E2E.Child(
            [
                "worker", "--connect", try #require(endpoint), "--memory-limit", "256MiB", "--threads", "1",
                "--worker-id", "remote1"
            ], in: f.dir, name: "worker")
        defer { _ = worker.wait(5) }
        #expect(coordinator.wait(120) == 0, "\(coordinator.stderr)")
        #expect(try f.output("dist.csv") == f.plain)
        #expect(worker.wait(10) == 0, "the worker exits when the job is done: \(worker.stderr)")
    }

    @Test func aBadRowFailsWithTheSingleProcessLocatedError() throws {
        let f = try Fixture("pred-bad", rows: 1500)
        defer { f.remove() }
        var lines = try String(contentsOfFile: f.data, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).map(
            String.init)
        var fields = lines[1201].split(separator: ",").map(String.init)
        fields[2] = "oops"
        lines[1201] = fields.joined(separator: ",")
        try lines.joined(separator: "\n").write(toFile: f.dir + "/bad.csv", atomically: true, encoding: .utf8)
        let (single, one) = try E2E.run(["predict", "--model", f.model, "bad.csv", "--out", "s.csv"], in: f.dir, name: "single-bad")
        let (dist, many) = try E2E.run(
            [
                "predict", "--model", f.model, "bad.csv", "--out", "d.csv", "--workers", "2", "--block-rows", "300",
                "--memory-limit", "256MiB", "--threads", "1"
            ] + Self.liveness, in: f.dir, name: "dist-bad")
        #expect(single != 0 && dist != 0)
        let located = try #require(one.stderr.split(separator: "\n").first { $0.contains("bad.csv: line 1,202") })
            .replacingOccurrences(of: "Error: ", with: "")
        #expect(many.stderr.contains(located), "same located error: \(located)")
        #expect(!FileManager.default.fileExists(atPath: f.dir + "/d.csv"), "no partial output")
    }
}
