import Foundation
import Testing
@testable import Cluster

/// `--resume` refuses a data file that changed since the job was created: resuming would
/// mix trees grown on two data sets in one model. A copy with the same bytes resumes;
/// other training flags are named and not used.
@Suite(.serialized) struct ResumeDataCheckEndToEndTests {
    @Test func aChangedDataFileIsRefusedOnResume() throws {
        let dir = try E2E.tempDir("resume-data")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = dir + "/data.csv"
        try CategoricalEndToEndTests.writeTable(rows: 1500, regression: false, seed: 31, to: data)
        let job = dir + "/job"
        let args = ["local", data, "--workers", "1", "--memory-limit", "256MiB", "--job-dir", job, "--model-out", "m.stm",
                    "--trees", "4", "--progress", "none"] + CategoricalEndToEndTests.liveness
        let (first, firstRun) = try E2E.run(args, in: dir, name: "first", timeout: 120)
        #expect(first == 0, "\(firstRun.stderr)")

        // The same bytes, rewritten (new modification time): the job resumes.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: data))
        try bytes.write(to: URL(fileURLWithPath: data))
        let (same, sameRun) = try E2E.run(args + ["--resume"], in: dir, name: "same", timeout: 120)
        #expect(same == 0, "\(sameRun.stderr)")
        #expect(!sameRun.stderr.contains("command line's differ"), "the same flags: no warning")

        // Other training flags on a resume: the job keeps its own, and says so.
        let otherTrees = args.map { $0 == "4" ? "6" : $0 }
        let (other, otherRun) = try E2E.run(otherTrees + ["--resume"], in: dir, name: "other", timeout: 120)
        #expect(other == 0, "\(otherRun.stderr)")
        #expect(otherRun.stderr.contains("the command line's differ and are not used: trees 4 → 6"), "\(otherRun.stderr)")

        // One changed value in the first row: refused, naming the file and what changed.
        var text = try String(contentsOfFile: data, encoding: .utf8)
        let firstLineEnd = try #require(text.firstIndex(of: "\n"))
        let secondLine = text.index(after: firstLineEnd)
        text.replaceSubrange(secondLine..<text.index(after: secondLine), with: text[secondLine] == "9" ? "8" : "9")
        try text.write(toFile: data, atomically: true, encoding: .utf8)
        let (changed, changedRun) = try E2E.run(args + ["--resume"], in: dir, name: "changed", timeout: 120)
        #expect(changed != 0)
        #expect(changedRun.stderr.contains("\(data) changed since job"), "\(changedRun.stderr)")
        #expect(changedRun.stderr.contains("its first MiB differs"))
    }
}
