import Foundation
import TestSupport
import Testing

@testable import Cluster

/// `spacetime transform --workers N`: the input cut into blocks, each block parsed by a
/// worker, the parsed rows written by the coordinator into NumPy shards in input order — the
/// same files, byte for byte, as `transform` in one process; through a worker killed with
/// SIGKILL mid-transform too; a label the extractor does not know is a located error.
@Suite(.serialized) struct TransformOverWorkersEndToEndTests {
    static let liveness = ["--heartbeat", "0.25", "--liveness", "12"]
    static let workers = ["--workers", "2", "--memory-limit", "256MiB", "--block-rows", "700"] + liveness

    /// Every file of `a` equals the same file of `b`, and they hold the same files.
    static func expectSameFiles(_ a: String, _ b: String, _ what: String) throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: a).sorted()
        #expect(try FileManager.default.contentsOfDirectory(atPath: b).sorted() == names, "\(what): the same files")
        #expect(names.contains("manifest.json") && names.contains("features-00000.npy"), "\(what): \(names)")
        for name in names {
            #expect(
                FileManager.default.contents(atPath: a + "/" + name) == FileManager.default.contents(atPath: b + "/" + name),
                "\(what): \(name) differs")
        }
    }

    @Test func shardsOverWorkersEqualTheSingleProcessShards() throws {
        let dir = try E2E.tempDir("transform-workers")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Text and integer-coded categoricals, missing cells, a class label; and a numeric target.
        try CategoricalEndToEndTests.writeTable(rows: 3000, regression: false, seed: 11, to: dir + "/c.csv")
        try CategoricalEndToEndTests.writeTable(rows: 3000, regression: true, seed: 12, to: dir + "/r.csv")
        for (data, extra) in [("c.csv", [String]()), ("c.csv", ["--binned"]), ("r.csv", []), ("r.csv", ["--binned"])] {
            let what = "\(data) \(extra.joined(separator: " "))"
            let common = ["transform", data, "--fit", "--shard-rows", "1000"] + extra
            let (one, oneRun) = try E2E.run(common + ["--out-dir", "one"], in: dir, name: "one")
            #expect(one == 0, "\(what): \(oneRun.stderr)")
            let (many, manyRun) = try E2E.run(
                common + ["--out-dir", "many", "--job-dir", dir + "/job"] + Self.workers, in: dir, name: "many")
            #expect(many == 0, "\(what): \(manyRun.stderr)")
            #expect(manyRun.stderr.contains("over 5 block(s)"), "\(what): \(manyRun.stderr.suffix(400))")
            try Self.expectSameFiles(dir + "/one", dir + "/many", what)
            for d in ["one", "many", "job"] { try? FileManager.default.removeItem(atPath: dir + "/" + d) }
        }

        // A model's extractor on a file without the label column: features only, the same files.
        let (trained, train) = try E2E.run(["train", "c.csv", "--trees", "4", "--model-out", "c.stm"], in: dir, name: "train")
        #expect(trained == 0, "\(train.stderr)")
        let text = try String(contentsOfFile: dir + "/c.csv", encoding: .utf8)
        let unlabeled = text.split(separator: "\n").map {
            $0.split(separator: ",", omittingEmptySubsequences: false).dropLast().joined(separator: ",")
        }
        try (unlabeled.joined(separator: "\n") + "\n").write(toFile: dir + "/u.csv", atomically: true, encoding: .utf8)
        let (one, oneRun) = try E2E.run(["transform", "u.csv", "--model", "c.stm", "--out-dir", "one"], in: dir, name: "one")
        #expect(one == 0, "\(oneRun.stderr)")
        let (many, manyRun) = try E2E.run(
            ["transform", "u.csv", "--model", "c.stm", "--out-dir", "many"] + Self.workers, in: dir, name: "many")
        #expect(many == 0, "\(manyRun.stderr)")
        try Self.expectSameFiles(dir + "/one", dir + "/many", "u.csv --model")
        #expect(!FileManager.default.fileExists(atPath: dir + "/many/labels-00000.npy"), "no label column, no labels file")

        // A class the model was not trained with, on line 2001: located, on both paths, and final.
        var lines = text.split(separator: "\n").map(String.init)
        var cells = lines[2000].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        cells[cells.count - 1] = "maybe"
        lines[2000] = cells.joined(separator: ",")
        try (lines.joined(separator: "\n") + "\n").write(toFile: dir + "/bad.csv", atomically: true, encoding: .utf8)
        for flags in [[String](), Self.workers] {
            let (status, run) = try E2E.run(["transform", "bad.csv", "--model", "c.stm", "--out-dir", "bad"] + flags, in: dir, name: "bad")
            #expect(status != 0, "\(flags): accepted an unknown class")
            #expect(
                run.stderr.contains("bad.csv:2001: label 'maybe' is not one of the fitted classes"), "\(flags): \(run.stderr.suffix(600))")
            #expect(!run.stderr.contains("attempt 2 of"), "\(flags): a bad label is not retried")
        }
    }

    @Test func aWorkerKilledMidTransformLeavesTheSameShards() throws {
        let dir = try E2E.tempDir("transform-kill")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try CategoricalEndToEndTests.writeTable(rows: 3000, regression: false, seed: 13, to: dir + "/c.csv")
        let (one, oneRun) = try E2E.run(["transform", "c.csv", "--fit", "--out-dir", "one"], in: dir, name: "one")
        #expect(one == 0, "\(oneRun.stderr)")
        let job = dir + "/job"
        let child = try E2E.Child(
            [
                "transform", "c.csv", "--fit", "--out-dir", "many", "--workers", "2", "--memory-limit", "256MiB",
                "--block-rows", "250", "--job-dir", job
            ] + Self.liveness,
            in: dir, name: "many", environment: ["SPACETIME_TEST_BATCH_DELAY_MS": "400"])
        defer { _ = child.wait(1) }
        let store = try #require(try E2E.openStore(job))
        var victim: String?
        #expect(
            try E2E.waitUntil(60) {
                let tasks = try store.tasks()
                guard tasks.filter({ $0.state == .done }).count >= 2 else { return false }
                for t in tasks where t.state == .running {
                    if let id = t.currentAttempt, let a = try store.attempt(id) {
                        victim = a.workerID
                        return true
                    }
                }
                return false
            })
        let worker = try #require(victim)
        let pid = try #require(try store.workers().first { $0.id == worker }?.pid)
        kill(Int32(pid), SIGKILL)
        #expect(child.wait(120) == 0, "\(child.stderr)")
        #expect(child.stderr.contains("was killed by signal 9"), "the log names the kill")
        try Self.expectSameFiles(dir + "/one", dir + "/many", "through a kill -9")
    }
}
