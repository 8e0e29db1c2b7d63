import Foundation
import SpaceTime
import TestSupport
import Testing

@testable import Cluster

/// `--test-file` through `local` and `coordinator`: the coordinator streams the
/// training file, then the test file (every record a test row, spread over the
/// partitions by its own assigner), so the model and the test metrics equal
/// `spacetime train --test-file` with the same `--partitions`; the path is
/// stored with the job and a resumed coordinator uses it.
@Suite(.serialized) struct TestFileEndToEndTests {
    static let training = CategoricalEndToEndTests.training
    static let liveness = CategoricalEndToEndTests.liveness

    static func files(in dir: String, regression: Bool = false) throws -> (train: String, test: String) {
        let train = dir + "/train.csv"
        let test = dir + "/test.csv"
        try CategoricalEndToEndTests.writeTable(rows: 4000, regression: regression, seed: 21, to: train)
        try CategoricalEndToEndTests.writeTable(rows: 1500, regression: regression, seed: 22, to: test)
        return (train, test)
    }

    @Test func localWithATestFileMatchesTrainWithTheSameTestFile() throws {
        let dir = try E2E.tempDir("test-file")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (train, test) = try Self.files(in: dir)
        let flags = Self.training + ["--test-file", test]
        let single = try E2E.singleProcess(train, in: dir, flags: flags)
        let singleReport = try E2E.json(dir + "/single.json")
        #expect(singleReport["test_rows"] as? Int == 1500 && singleReport["train_rows"] as? Int == 4000)
        #expect(single.fingerprint.count >= 16 && single.accuracy > 0.7)

        let (status, child) = try E2E.run(
            [
                "local", train, "--workers", "2", "--memory-limit", "256MiB", "--job-dir", dir + "/job",
                "--model-out", "dist.stm", "--report-json", "dist.json", "--split-out", "split"
            ]
                + flags + Self.liveness, in: dir, name: "local", timeout: 180)
        #expect(status == 0, "\(child.stderr)")
        let report = try E2E.json(dir + "/dist.json")
        #expect(report["fingerprint"] as? String == single.fingerprint, "local --test-file and train --test-file models differ")
        #expect(report["accuracy"] as? Double == single.accuracy)
        #expect(report["auc"] as? Double == singleReport["auc"] as? Double)
        #expect(report["log_loss"] as? Double == singleReport["log_loss"] as? Double)
        #expect(report["confusion_matrix"] as? [[Int]] == singleReport["confusion_matrix"] as? [[Int]])
        #expect(report["rows"] as? Int == 1500, "every record of the test file is a test row")
        #expect(report["partition_rows"] as? [Int] == singleReport["partition_rows"] as? [Int])
        // --split-out: all training rows in train.csv, the test file's rows in test.csv.
        let splitTrain = try String(contentsOfFile: dir + "/split/train.csv", encoding: .utf8).split(separator: "\n")
        let splitTest = try String(contentsOfFile: dir + "/split/test.csv", encoding: .utf8).split(separator: "\n")
        #expect(splitTrain.count == 4001 && splitTest.count == 1501)
        #expect(Set(splitTest.dropFirst()) == Set(try String(contentsOfFile: test, encoding: .utf8).split(separator: "\n").dropFirst()))
    }

    @Test func regressionWithATestFileMatchesTrain() throws {
        let dir = try E2E.tempDir("test-file-reg")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (train, test) = try Self.files(in: dir, regression: true)
        let flags = Self.training + ["--task", "regression", "--test-file", test]
        let single = try E2E.singleProcess(train, in: dir, flags: flags)
        let singleReport = try E2E.json(dir + "/single.json")
        let (status, child) = try E2E.run(
            [
                "local", train, "--workers", "2", "--memory-limit", "256MiB", "--job-dir", dir + "/job",
                "--model-out", "dist.stm", "--report-json", "dist.json"
            ] + flags + Self.liveness,
            in: dir, name: "local", timeout: 180)
        #expect(status == 0, "\(child.stderr)")
        let report = try E2E.json(dir + "/dist.json")
        #expect(report["fingerprint"] as? String == single.fingerprint)
        #expect(report["r2"] as? Double != nil && report["r2"] as? Double == singleReport["r2"] as? Double)
        #expect(report["rmse"] as? Double == singleReport["rmse"] as? Double)
        #expect(report["rows"] as? Int == 1500)
    }

    /// The coordinator is killed with -9 during training and resumed without --test-file:
    /// the stored path is used, and the model and metrics are train --test-file's.
    @Test func aResumedCoordinatorUsesTheStoredTestFile() throws {
        let dir = try E2E.tempDir("test-file-resume")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (train, test) = try Self.files(in: dir)
        let single = try E2E.singleProcess(train, in: dir, flags: Self.training + ["--test-file", test])
        let port = try E2E.freePort()
        let endpoint = "tcp://127.0.0.1:\(port)"
        let base =
            [
                "coordinator", train, "--bind", endpoint, "--job-dir", dir + "/job", "--wait-workers", "2",
                "--model-out", "dist.stm", "--report-json", "dist.json"
            ] + Self.training + Self.liveness
        let coordinator = try E2E.Child(base + ["--test-file", test], in: dir, name: "coordinator1")
        var workers: [E2E.Child] = []
        for i in 1...2 {
            workers.append(
                try E2E.Child(
                    [
                        "worker", "--connect", endpoint, "--memory-limit", "256MiB", "--worker-id", "w\(i)",
                        "--threads", "1"
                    ], in: dir, name: "w\(i)", environment: ["SPACETIME_TEST_TREE_DELAY_MS": "200"]))
        }
        defer { for w in workers where w.process.isRunning { kill(w.pid, SIGKILL) } }
        let store = try #require(try E2E.openStore(dir + "/job"))
        #expect(try store.jobSpec()?.dataFiles == [train, test])
        #expect(try store.jobSpec()?.testFraction == 0)
        #expect(
            try E2E.waitUntil(90) {
                try store.stage() == .train && (0..<3).map { try store.checkpointedTrees(partition: $0).count }.reduce(0, +) >= 2
            })
        kill(coordinator.pid, SIGKILL)
        _ = coordinator.wait(10)
        let resumed = try E2E.Child(base + ["--resume"], in: dir, name: "coordinator2")
        let status = resumed.wait(180)
        #expect(status == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("resuming job"))
        let report = try E2E.json(dir + "/dist.json")
        #expect(report["fingerprint"] as? String == single.fingerprint)
        #expect(report["accuracy"] as? Double == single.accuracy)
        #expect(report["rows"] as? Int == 1500)
        for w in workers { #expect(w.wait(20) == 0, "workers leave when the job is done") }
    }

    @Test func aTestFileWithAnotherHeaderIsRefusedNamingBothFiles() throws {
        let dir = try E2E.tempDir("test-file-header")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (train, test) = try Self.files(in: dir)
        let other = dir + "/other.csv"
        let text = try String(contentsOfFile: test, encoding: .utf8)
        try text.replacingOccurrences(of: "id,color,city", with: "id,colour,city").write(toFile: other, atomically: true, encoding: .utf8)
        let (status, child) = try E2E.run(
            [
                "local", train, "--workers", "1", "--memory-limit", "256MiB", "--job-dir", dir + "/job",
                "--test-file", other
            ] + Self.training + Self.liveness, in: dir, name: "local", timeout: 60)
        #expect(status != nil && status != 0)
        #expect(child.stderr.contains(other) && child.stderr.contains(train) && child.stderr.contains("header"), "\(child.stderr)")
    }
}
