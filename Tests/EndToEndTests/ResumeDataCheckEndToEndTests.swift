import Foundation
import SpaceTime
import TestSupport
import Testing

@testable import Cluster

/// `--resume` with real processes: a data file that changed since the job was created is
/// refused (resuming would mix trees grown on two data sets in one model), a copy with the
/// same bytes resumes, also under another path; changed model flags are refused by name;
/// a job that failed for lack of memory resumes with more and retrains no tree.
@Suite(.serialized) struct ResumeDataCheckEndToEndTests {
    @Test func aChangedDataFileIsRefusedOnResume() throws {
        let dir = try E2E.tempDir("resume-data")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = dir + "/data.csv"
        try CategoricalEndToEndTests.writeTable(rows: 1500, regression: false, seed: 31, to: data)
        let job = dir + "/job"
        let args =
            [
                "local", data, "--workers", "1", "--memory-limit", "256MiB", "--job-dir", job, "--model-out", "m.stm",
                "--trees", "4", "--progress", "none"
            ] + CategoricalEndToEndTests.liveness
        let (first, firstRun) = try E2E.run(args, in: dir, name: "first", timeout: 120)
        #expect(first == 0, "\(firstRun.stderr)")

        // The same bytes, rewritten (new modification time): the job resumes.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: data))
        try bytes.write(to: URL(fileURLWithPath: data))
        let (same, sameRun) = try E2E.run(args + ["--resume"], in: dir, name: "same", timeout: 120)
        #expect(same == 0, "\(sameRun.stderr)")
        #expect(!sameRun.stderr.contains("(the job's:"), "the same flags: nothing refused")

        // Other model flags on a resume: refused, each named with both values; the store is untouched.
        let store = try #require(try E2E.openStore(job))
        let events = try store.events().count
        let otherTrees = args.map { $0 == "4" ? "6" : $0 } + ["--seed", "9", "--resume"]
        let (other, otherRun) = try E2E.run(otherTrees, in: dir, name: "other", timeout: 120)
        #expect(other == 1, "\(otherRun.stderr)")
        #expect(otherRun.stderr.contains("refused: --trees 6 (the job's: 4), --seed 9 (the job's: 42)"), "\(otherRun.stderr)")
        #expect(try store.events().count == events, "a refused resume changes nothing in the store")

        // The same bytes under another path: taken (the job records the new path).
        let moved = dir + "/moved.csv"
        try FileManager.default.moveItem(atPath: data, toPath: moved)
        let (movedStatus, movedRun) = try E2E.run(args.map { $0 == data ? moved : $0 } + ["--resume"], in: dir, name: "moved", timeout: 120)
        #expect(movedStatus == 0, "\(movedRun.stderr)")
        #expect(
            movedRun.stderr.contains("taken from the command line: the data file \(moved) (same size and edge digests as \(data)"),
            "\(movedRun.stderr)")
        #expect(try store.jobSpec()?.dataFiles == [moved])
        try FileManager.default.moveItem(atPath: moved, toPath: data)

        // One changed value in the first row: refused, naming the file and what changed.
        var text = try String(contentsOfFile: data, encoding: .utf8)
        let firstLineEnd = try #require(text.firstIndex(of: "\n"))
        let secondLine = text.index(after: firstLineEnd)
        text.replaceSubrange(secondLine..<text.index(after: secondLine), with: text[secondLine] == "9" ? "8" : "9")
        try text.write(toFile: data, atomically: true, encoding: .utf8)
        let (changed, changedRun) = try E2E.run(args + ["--resume"], in: dir, name: "changed", timeout: 120)
        #expect(changed != 0)
        #expect(
            changedRun.stderr.contains("is not the file job") || changedRun.stderr.contains("changed since job"), "\(changedRun.stderr)")
        #expect(changedRun.stderr.contains("its first MiB differs"))
    }

    /// Issue 11: all trees trained and checkpointed, the model too big for whole-model scoring
    /// on 64 MiB workers (`--scoring whole`), the job fails at evaluate; `--resume --memory-limit
    /// 256MiB` finishes it with the fingerprint of an uninterrupted run, and the store shows no
    /// train attempt after the resume. With the default `--scoring auto` the same 64 MiB job
    /// scores the model in tree slices and completes with that fingerprint.
    @Test func aJobFailedAtEvaluateForMemoryResumesWithMoreWithoutRetrainingATree() throws {
        let dir = try E2E.tempDir("resume-memory")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A noisy numeric target: trees grown to single rows, a ~14 MiB model from 240 trees.
        var csv = "a,b,c,d,y\n"
        var rng = SplitMix64(seed: 5)
        func unit() -> Double { Double(rng.next() >> 11) / Double(1 << 53) }
        for _ in 0..<8000 {
            let x = (0..<4).map { _ in unit() }
            csv += x.map { String(format: "%.5f", $0) }.joined(separator: ",") + String(format: ",%.5f\n", x[0] + unit())
        }
        let data = dir + "/r.csv"
        try csv.write(toFile: data, atomically: true, encoding: .utf8)
        let job = dir + "/job"
        let flags = [
            "--workers", "2", "--partitions", "2", "--trees", "240", "--seed", "3", "--progress", "none",
            "--scoring", "whole", "--model-out", "m.stm", "--report-json", "r.json",
            // 10 s of silence before a peer counts as lost: the coordinator serves a 9.3 MiB model
            // while streaming rows, and on two loaded cores a debug build can stall past 3 s.
            "--heartbeat", "0.5", "--liveness", "20"
        ]
        let (failed, failedRun) = try E2E.run(
            ["local", data, "--memory-limit", "64MiB", "--job-dir", job] + flags,
            in: dir, name: "small", timeout: 180)
        #expect(failed == 1, "\(failedRun.stderr)")
        #expect(failedRun.stderr.contains("job failed: evaluate/p"), "\(failedRun.stderr)")
        #expect(
            failedRun.stderr.contains("but this worker's memory limit is 64 MiB")
                && failedRun.stderr.contains("give the workers a larger --memory-limit"))
        let store = try #require(try E2E.openStore(job))
        #expect(try store.stage() == .failed)
        #expect(try store.partitions().allSatisfy { p in try store.checkpointedTrees(partition: p.partition).count == p.trees })
        func trainAttempts() throws -> [AttemptRecord] {
            try (0..<2).flatMap { try store.attempts(of: TaskName(.train, $0)) }
        }
        let before = try trainAttempts()
        #expect(before.count == 2, "one train attempt per partition")

        let (resumed, resumedRun) = try E2E.run(
            ["local", data, "--memory-limit", "256MiB", "--job-dir", job, "--resume"] + flags,
            in: dir, name: "more", timeout: 180)
        #expect(resumed == 0, "\(resumedRun.stderr)")
        #expect(resumedRun.stderr.contains("--resume: job job-") && resumedRun.stderr.contains("had failed"), "\(resumedRun.stderr)")
        #expect(resumedRun.stderr.contains("resuming job job-") && resumedRun.stderr.contains("at stage merge (it had failed)"))
        #expect(try store.stage() == .done)
        #expect(try trainAttempts() == before, "no train attempt after the resume: no tree was regrown")
        #expect(try (0..<2).allSatisfy { try store.task(TaskName(.evaluate, $0)).state == .done })
        let fingerprint = try E2E.json(dir + "/r.json")["fingerprint"] as? String

        let (reference, referenceRun) = try E2E.run(
            ["local", data, "--memory-limit", "256MiB", "--job-dir", dir + "/ref"]
                + flags.map { $0 == "r.json" ? "ref.json" : $0 == "m.stm" ? "ref.stm" : $0 },
            in: dir, name: "reference", timeout: 180)
        #expect(reference == 0, "\(referenceRun.stderr)")
        let expected = try E2E.json(dir + "/ref.json")["fingerprint"] as? String
        #expect(fingerprint != nil && fingerprint == expected)

        let auto = flags.map { $0 == "whole" ? "auto" : $0 == "r.json" ? "auto.json" : $0 == "m.stm" ? "auto.stm" : $0 }
        let (sharded, shardedRun) = try E2E.run(
            ["local", data, "--memory-limit", "64MiB", "--job-dir", dir + "/auto"] + auto,
            in: dir, name: "auto", timeout: 180)
        #expect(sharded == 0, "\(shardedRun.stderr)")
        #expect(shardedRun.stderr.contains("tree-sharded scoring"), "\(shardedRun.stderr)")
        #expect(try E2E.json(dir + "/auto.json")["fingerprint"] as? String == expected)
    }
}
