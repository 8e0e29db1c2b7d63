import Foundation
import SpaceTime
import TestSupport
import Testing

@testable import Cluster

/// The whole product with real processes: `spacetime local`, `coordinator`,
/// `worker`, real kill -9s chosen from the job store (never a sleep).
@Suite(.serialized) struct EndToEndTests {
    static let training = ["--partitions", "3", "--trees", "18", "--seed", "7"]
    static let liveness = ["--heartbeat", "0.25", "--liveness", "12"]

    @Test func localRunMatchesSingleProcessAndThePredictCommands() throws {
        let dir = try E2E.tempDir("local")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = try E2E.generate(rows: 6000, in: dir)
        let single = try E2E.singleProcess(data, in: dir, flags: Self.training)
        let (status, child) = try E2E.run(
            [
                "local", data, "--workers", "2", "--memory-limit", "256MiB", "--job-dir", dir + "/job",
                "--model-out", "dist.stm", "--report-json", "dist.json"
            ] + Self.training + Self.liveness,
            in: dir, name: "local")
        #expect(status == 0, "\(child.stderr)")
        let report = try E2E.json(dir + "/dist.json")
        #expect(report["fingerprint"] as? String == single.fingerprint, "distributed and single-process models differ")
        #expect(report["accuracy"] as? Double == single.accuracy)
        #expect(child.stdout.contains("extract") && child.stdout.contains("rows/s") && child.stdout.contains("peak RSS"))
        let workers = report["workers"] as? [[String: Any]] ?? []
        #expect(workers.count == 2)
        for w in workers {
            let peak = (w["peak_rss"] as? NSNumber)?.intValue ?? 0
            #expect(peak > 0 && peak < 256 << 20, "worker \(w["id"] ?? "?") peak RSS \(peak) within its limit")
        }

        // The test split written out with the same assigner: evaluate and predict reproduce the job's metrics.
        var assigner = try StratifiedAssigner(seed: 7, testFraction: 0.2, partitions: 3)
        let lines = try String(contentsOfFile: data, encoding: .utf8).split(separator: "\n")
        var testRows = [String(lines[0])]
        for line in lines.dropFirst() where assigner.assign(classKey: String(line.split(separator: ",").last!)).isTest {
            testRows.append(String(line))
        }
        try (testRows.joined(separator: "\n") + "\n").write(toFile: dir + "/test.csv", atomically: true, encoding: .utf8)
        let (evalStatus, evalChild) = try E2E.run(["evaluate", "--model", "dist.stm", "test.csv", "--json"], in: dir, name: "evaluate")
        #expect(evalStatus == 0, "\(evalChild.stderr)")
        let evaluation = try JSONSerialization.jsonObject(with: Data(evalChild.stdout.utf8)) as? [String: Any] ?? [:]
        #expect(evaluation["accuracy"] as? Double == report["accuracy"] as? Double)
        #expect(evaluation["confusion_matrix"] as? [[Int]] == report["confusion_matrix"] as? [[Int]])
        let (predStatus, _) = try E2E.run(["predict", "--model", "dist.stm", "test.csv", "-o", "pred.csv"], in: dir, name: "predict")
        #expect(predStatus == 0)
        let predictions = try String(contentsOfFile: dir + "/pred.csv", encoding: .utf8).split(separator: "\n").dropFirst()
        let labels = testRows.dropFirst().map { String($0.split(separator: ",").last!) }
        #expect(predictions.count == labels.count)
        let correct = zip(predictions, labels).filter { String($0) == $1 }.count
        #expect(abs(Double(correct) / Double(labels.count) - (report["accuracy"] as? Double ?? -1)) < 1e-12)

        let (statusStatus, statusChild) = try E2E.run(["status", dir + "/job", "--json"], in: dir, name: "status")
        #expect(statusStatus == 0)
        #expect(statusChild.stdout.contains("\"done\""))
    }

    /// The model does not depend on how many workers ran the job.
    @Test func oneWorkerGivesTheSameModel() throws {
        let dir = try E2E.tempDir("one")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = try E2E.generate(rows: 4000, in: dir)
        let single = try E2E.singleProcess(data, in: dir, flags: Self.training)
        let (status, child) = try E2E.run(
            [
                "local", data, "--workers", "1", "--memory-limit", "256MiB", "--job-dir", dir + "/job",
                "--model-out", "one.stm", "--report-json", "one.json"
            ] + Self.training + Self.liveness,
            in: dir, name: "local")
        #expect(status == 0, "\(child.stderr)")
        #expect(try E2E.json(dir + "/one.json")["fingerprint"] as? String == single.fingerprint)
    }

    @Test func killedWorkersAreRerunFromCheckpointsWithTheSameModel() throws {
        let dir = try E2E.tempDir("kills")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = try E2E.generate(rows: 8000, in: dir)
        let single = try E2E.singleProcess(data, in: dir, flags: Self.training)
        let job = try E2E.Child(
            [
                "local", data, "--workers", "3", "--memory-limit", "256MiB", "--job-dir", dir + "/job",
                "--model-out", "dist.stm", "--report-json", "dist.json"
            ] + Self.training + Self.liveness,
            in: dir, name: "local",
            environment: ["SPACETIME_TEST_BATCH_DELAY_MS": "150", "SPACETIME_TEST_TREE_DELAY_MS": "200"])
        defer { _ = job.wait(1) }
        let store = try #require(try E2E.openStore(dir + "/job"))
        func pid(of worker: String) throws -> Int32? {
            try store.workers().first { $0.id == worker && $0.state == .connected }.map { Int32($0.pid) }
        }
        func runningWorker(_ kind: TaskKind, where condition: (TaskRecord) throws -> Bool = { _ in true }) throws -> String? {
            for task in try store.tasks() where task.name.kind == kind && [.leased, .running, .checkpointed].contains(task.state) {
                guard try condition(task), let attempt = task.currentAttempt, let a = try store.attempt(attempt) else { continue }
                return a.workerID
            }
            return nil
        }
        // During extraction: the worker of an extract attempt that has not finished.
        var victim1: String?
        #expect(
            try E2E.waitUntil(30) {
                victim1 = try runningWorker(.extract)
                return victim1 != nil
            })
        let name1 = try #require(victim1)
        let pid1 = try #require(try pid(of: name1))
        kill(pid1, SIGKILL)
        // During training: a worker with a train task that has checkpointed some but not all of its trees.
        var victim2: String?
        let partitions = try store.partitions()
        #expect(
            try E2E.waitUntil(60) {
                victim2 = try runningWorker(.train) { task in
                    let done = try store.checkpointedTrees(partition: task.name.partition).count
                    return done >= 1 && done < partitions[task.name.partition].trees - 1
                }
                return victim2 != nil && victim2 != victim1
            })
        let name2 = try #require(victim2)
        let pid2 = try #require(try pid(of: name2))
        kill(pid2, SIGKILL)
        let status = job.wait(120)
        let log = job.stderr
        #expect(status == 0, "\(log)")
        #expect(log.contains("was killed by signal 9"), "the log names the kills")
        #expect(log.contains("extract/p") && log.contains("(attempt 2 of 3)"), "an extract task was rerun")
        #expect(log.contains("resumed at tree"), "a train task resumed from its checkpointed trees")
        let report = try E2E.json(dir + "/dist.json")
        #expect(report["fingerprint"] as? String == single.fingerprint, "the model is the same with failures along the way")
        let lost = try store.tasks().flatMap { try store.attempts(of: $0.name) }.filter { $0.outcome == .lost }
        #expect(Set(lost.map(\.workerID)).isSuperset(of: [name1, name2]))
    }

    @Test func restartedCoordinatorResumesWithoutRetrainingCheckpointedTrees() throws {
        let dir = try E2E.tempDir("resume")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = try E2E.generate(rows: 6000, in: dir)
        let single = try E2E.singleProcess(data, in: dir, flags: Self.training)
        let port = try E2E.freePort()
        let endpoint = "tcp://127.0.0.1:\(port)"
        let coordinatorArguments =
            [
                "coordinator", data, "--bind", endpoint, "--job-dir", dir + "/job", "--wait-workers", "2",
                "--model-out", "dist.stm", "--report-json", "dist.json"
            ] + Self.training + Self.liveness
        let slow = ["SPACETIME_TEST_TREE_DELAY_MS": "200"]
        let coordinator = try E2E.Child(coordinatorArguments, in: dir, name: "coordinator1")
        var workers: [E2E.Child] = []
        for i in 1...2 {
            workers.append(
                try E2E.Child(
                    [
                        "worker", "--connect", endpoint, "--memory-limit", "256MiB", "--worker-id", "w\(i)",
                        "--threads", "1"
                    ], in: dir, name: "w\(i)", environment: slow))
        }
        defer { for w in workers where w.process.isRunning { kill(w.pid, SIGKILL) } }
        let store = try #require(try E2E.openStore(dir + "/job"))
        #expect(
            try E2E.waitUntil(60) {
                try store.stage() == .train && (0..<3).map { try store.checkpointedTrees(partition: $0).count }.reduce(0, +) >= 3
            })
        kill(coordinator.pid, SIGKILL)
        _ = coordinator.wait(10)
        let killedAt = Date().timeIntervalSince1970
        let before = try (0..<3).map { try store.checkpointedTrees(partition: $0).count }
        let shares = try store.partitions().map(\.trees)
        #expect(before.reduce(0, +) >= 3 && before.reduce(0, +) < shares.reduce(0, +))

        let resumed = try E2E.Child(coordinatorArguments + ["--resume"], in: dir, name: "coordinator2")
        let status = resumed.wait(120)
        #expect(status == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("resuming job"))
        let report = try E2E.json(dir + "/dist.json")
        #expect(report["fingerprint"] as? String == single.fingerprint)
        // No checkpointed tree was grown again: every train attempt after the restart started at the first missing tree.
        for p in 0..<3 {
            let after = try store.attempts(of: TaskName(.train, p)).filter { $0.startedAt > killedAt }
            if before[p] < shares[p] {
                #expect(after.first?.firstTree == before[p], "train/p\(p) resumed at tree \(before[p])")
            } else {
                #expect(after.allSatisfy { $0.workerID == "coordinator" }, "train/p\(p) was complete: no worker ran it again")
            }
        }
        for w in workers { #expect(w.wait(20) == 0, "workers leave when the job is done") }
    }

    @Test func aMemoryLimitFarTooSmallFailsTheJobWithBoundedRetries() throws {
        let dir = try E2E.tempDir("memory")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = try E2E.generate(rows: 3000, features: 20, in: dir)
        // 64 threads × 20 features × 256 bins × 2 classes × 3 histograms × 8 bytes ≈ 15.7 MiB of histograms alone,
        // more than a 64 MiB worker can give a task after its 48 MiB baseline.
        let (status, child) = try E2E.run(
            [
                "local", data, "--workers", "2", "--memory-limit", "64MiB", "--threads", "64",
                "--job-dir", dir + "/job", "--partitions", "2", "--trees", "4"
            ] + Self.liveness,
            in: dir, name: "local", timeout: 90)
        #expect(status != nil, "the job never hangs")
        #expect(status != 0)
        let log = child.stderr
        #expect(log.contains("failed 3 times"), "\(log)")
        #expect(log.contains("memory limit is 64 MiB"), "\(log)")
        let store = try #require(try E2E.openStore(dir + "/job"))
        #expect(try store.stage() == .failed)
        #expect(try store.tasks().allSatisfy { $0.failures <= 3 })
    }

    @Test func aLabelSortedFileGivesTheSameAccuracyAsAShuffledOne() throws {
        let dir = try E2E.tempDir("sorted")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = try E2E.generate(rows: 12000, classSep: 3, in: dir)
        let lines = try String(contentsOfFile: data, encoding: .utf8).split(separator: "\n")
        let sorted =
            [lines[0]]
            + lines.dropFirst().enumerated()
            .sorted { ($0.element.split(separator: ",").last!, $0.offset) < ($1.element.split(separator: ",").last!, $1.offset) }
            .map(\.element)
        try (sorted.joined(separator: "\n") + "\n").write(toFile: dir + "/sorted.csv", atomically: true, encoding: .utf8)
        var accuracy: [Double] = []
        for file in [data, dir + "/sorted.csv"] {
            let name = (file as NSString).lastPathComponent
            let (status, child) = try E2E.run(
                [
                    "local", file, "--workers", "2", "--memory-limit", "256MiB", "--job-dir", dir + "/job-" + name,
                    "--model-out", name + ".stm", "--report-json", name + ".json"
                ] + Self.training + Self.liveness,
                in: dir, name: "local-" + name)
            #expect(status == 0, "\(child.stderr)")
            accuracy.append(try E2E.json(dir + "/" + name + ".json")["accuracy"] as? Double ?? -1)
        }
        #expect(accuracy[0] > 0.9)
        #expect(abs(accuracy[0] - accuracy[1]) <= 0.003, "shuffled \(accuracy[0]) vs sorted \(accuracy[1])")
    }
}
