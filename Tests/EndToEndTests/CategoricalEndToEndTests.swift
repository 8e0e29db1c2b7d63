import Foundation
import SpaceTime
import TestSupport
import Testing

@testable import Cluster

/// Real processes on a table as people have them: two text columns, an
/// integer-coded column forced categorical, an ignored id, numeric columns
/// with NA and empty values. The distributed model (`spacetime local`, a worker
/// killed with -9 mid-training) has the fingerprint of `spacetime train` with
/// the same `--partitions`; so does a regression job.
@Suite(.serialized) struct CategoricalEndToEndTests {
    static let training = [
        "--partitions", "3", "--trees", "18", "--seed", "11",
        "--categorical", "zone", "--ignore", "id"
    ]
    static let liveness = ["--heartbeat", "0.25", "--liveness", "12"]

    /// A deterministic mixed table (SplitMix64): `id, color, city, zone, x1, x2, x3, target`.
    /// `color` (6 levels, some NA) and `city` (40 levels, some empty) are text; `zone` is an
    /// integer code 1...8; `x1` and `x2` are numeric with NA / empty cells. The class label
    /// (`yes` / `no`) or the regression target (many distinct values) depends on all of them.
    static func writeTable(rows: Int, regression: Bool, seed: UInt64, to path: String) throws {
        var state = seed
        func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        func uniform() -> Double { Double(next() >> 11) / Double(1 << 53) }
        let colors = ["red", "green", "blue", "amber", "violet", "grey"]
        let cities = (0..<40).map { "city_\($0)" }
        var text = "id,color,city,zone,x1,x2,x3,target\n"
        for i in 0..<rows {
            let c = Int(next() % 6)
            let city = Int(next() % 40)
            let zone = 1 + Int(next() % 8)
            let x1 = uniform() * 10 - 5
            let x2 = uniform() * 4
            let x3 = uniform()
            let x1Missing = next() % 10 == 0
            let x2Missing = next() % 7 == 0
            let colorMissing = next() % 20 == 0
            let cityMissing = next() % 25 == 0
            var score = [1.2, -0.8, 0.3, -1.5, 0.9, 0.0][c] + (city % 3 == 0 ? 1.0 : -0.4) + (zone >= 5 ? 0.7 : -0.7)
            score += x1Missing ? 1.3 : 0.35 * x1
            score += x2Missing ? -0.9 : 0.2 * x2
            score += (uniform() - 0.5) * 1.5
            let target = regression ? String(format: "%.4f", 3 * score + 10) : (score > 0.2 ? "yes" : "no")
            let fields = [
                "r\(i)",
                colorMissing ? "NA" : colors[c],
                cityMissing ? "" : cities[city],
                String(zone),
                x1Missing ? (i % 2 == 0 ? "NA" : "") : String(format: "%.3f", x1),
                x2Missing ? "" : String(format: "%.3f", x2),
                String(format: "%.4f", x3),
                target
            ]
            text += fields.joined(separator: ",") + "\n"
        }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// `spacetime inspect --json` of a model.
    static func inspect(_ model: String, in dir: String) throws -> [String: Any] {
        let (status, child) = try E2E.run(["inspect", model, "--json"], in: dir, name: "inspect-" + (model as NSString).lastPathComponent)
        guard status == 0 else { throw PipelineError(.io, "inspect failed: \(child.stderr)") }
        return (try JSONSerialization.jsonObject(with: Data(child.stdout.utf8))) as? [String: Any] ?? [:]
    }

    @Test func categoricalAndMissingValuesThroughAWorkerKilledDuringTraining() throws {
        let dir = try E2E.tempDir("cat-kill")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = dir + "/mixed.csv"
        try Self.writeTable(rows: 5000, regression: false, seed: 5, to: data)
        let single = try E2E.singleProcess(data, in: dir, flags: Self.training)
        let singleReport = try E2E.json(dir + "/single.json")
        #expect(single.fingerprint.count >= 16)
        #expect(singleReport["task"] as? String == "classification")
        #expect(Set(singleReport["categorical_features"] as? [String] ?? []) == ["color", "city", "zone"])
        #expect(single.accuracy > 0.7, "the columns carry the signal: accuracy \(single.accuracy)")

        let job = try E2E.Child(
            [
                "local", data, "--workers", "2", "--memory-limit", "256MiB", "--job-dir", dir + "/job",
                "--model-out", "dist.stm", "--report-json", "dist.json"
            ] + Self.training + Self.liveness,
            in: dir, name: "local", environment: ["SPACETIME_TEST_TREE_DELAY_MS": "400"])
        defer { _ = job.wait(1) }
        let store = try #require(try E2E.openStore(dir + "/job"))
        // A worker with a train task that has checkpointed some but not all of its trees.
        var victim: (worker: String, partition: Int)?
        // Generous: in the full suite the other end-to-end tests share the 2 cores.
        let found = try E2E.waitUntil(240) {
            guard try store.stage() == .train else { return false }
            let partitions = try store.partitions()
            for task in try store.tasks() where task.name.kind == .train && [.leased, .running, .checkpointed].contains(task.state) {
                let done = try store.checkpointedTrees(partition: task.name.partition).count
                guard done >= 1, done < partitions[task.name.partition].trees - 1,
                    let attempt = task.currentAttempt, let a = try store.attempt(attempt)
                else { continue }
                victim = (a.workerID, task.name.partition)
                return true
            }
            return false
        }
        #expect(found, "a train task was caught between checkpoints")
        let chosen = try #require(victim)
        let pid = try #require(try store.workers().first { $0.id == chosen.worker && $0.state == .connected }?.pid)
        kill(Int32(pid), SIGKILL)
        let status = job.wait(180)
        let log = job.stderr
        #expect(status == 0, "\(log)")
        #expect(log.contains("was killed by signal 9"), "the log names the kill")
        #expect(log.contains("train/p\(chosen.partition) resumed at tree"), "the killed train task resumed from its checkpoints")
        let report = try E2E.json(dir + "/dist.json")
        #expect(report["fingerprint"] as? String == single.fingerprint, "the model is the same with a kill along the way")
        #expect(report["accuracy"] as? Double == single.accuracy)
        let lost = try store.tasks().flatMap { try store.attempts(of: $0.name) }.filter { $0.outcome == .lost }
        #expect(lost.contains { $0.workerID == chosen.worker })

        // `inspect` of both model files: the same fingerprint, the same categorical schema.
        let a = try Self.inspect("single.stm", in: dir)
        let b = try Self.inspect("dist.stm", in: dir)
        #expect(a["fingerprint"] as? String == single.fingerprint && b["fingerprint"] as? String == single.fingerprint)
        let kinds = (b["column_kinds"] as? [[String: Any]] ?? []).reduce(into: [String: String]()) {
            $0[$1["name"] as? String ?? ""] = $1["kind"] as? String
        }
        #expect(kinds["color"] == "categorical" && kinds["city"] == "categorical" && kinds["zone"] == "categorical", "\(kinds)")
        #expect(kinds["x1"] != "categorical" && kinds["id"] == nil, "\(kinds)")
    }

    @Test func regressionWithCategoricalColumnsMatchesSingleProcess() throws {
        let dir = try E2E.tempDir("cat-reg")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = dir + "/mixed.csv"
        try Self.writeTable(rows: 4000, regression: true, seed: 9, to: data)
        let flags = Self.training + ["--task", "regression"]
        let single = try E2E.singleProcess(data, in: dir, flags: flags)
        let singleReport = try E2E.json(dir + "/single.json")
        #expect(single.fingerprint.count >= 16)
        #expect(singleReport["task"] as? String == "regression")
        let singleR2 = try #require(singleReport["r2"] as? Double)
        #expect(singleR2 > 0.5, "R² \(singleR2)")

        let (status, child) = try E2E.run(
            [
                "local", data, "--workers", "2", "--memory-limit", "256MiB", "--job-dir", dir + "/job",
                "--model-out", "dist.stm", "--report-json", "dist.json"
            ] + flags + Self.liveness,
            in: dir, name: "local", timeout: 180)
        #expect(status == 0, "\(child.stderr)")
        let report = try E2E.json(dir + "/dist.json")
        #expect(report["task"] as? String == "regression")
        #expect(report["fingerprint"] as? String == single.fingerprint, "distributed and single-process regression models differ")
        #expect(report["r2"] as? Double == singleR2)
        #expect(report["rmse"] as? Double == singleReport["rmse"] as? Double)
        #expect(try Self.inspect("dist.stm", in: dir)["fingerprint"] as? String == single.fingerprint)
    }
}
