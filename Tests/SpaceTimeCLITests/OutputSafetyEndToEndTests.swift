import Foundation
import TestSupport
import Testing

/// Issue 11, outputs and options: outputs never replace an input, every write to
/// standard output is checked (a full device is an error, never a trap or exit 0),
/// `sort`/`sample --out -` write to standard output, and numeric options are
/// refused outside their documented ranges before any work starts.
@Suite(.serialized) struct OutputSafetyEndToEndTests {
    /// Exit status of ArgumentParser's validation errors (EX_USAGE).
    static let usage: Int32 = 64

    struct Finished {
        var status: Int32
        var signaled: Bool
        var stderr: String
    }

    /// Runs `spacetime arguments` with standard output on `stdoutPath` (e.g. /dev/full).
    static func run(_ arguments: [String], in dir: String, stdoutPath: String, timeout: Double = 60) throws -> Finished {
        let process = Process()
        E2E.configure(process, arguments, in: dir, environment: [:])
        let errPath = dir + "/stderr-\(UInt32.random(in: 0...UInt32.max)).txt"
        FileManager.default.createFile(atPath: errPath, contents: nil)
        guard let out = FileHandle(forWritingAtPath: stdoutPath), let err = FileHandle(forWritingAtPath: errPath) else {
            throw CocoaError(.fileNoSuchFile)
        }
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        try? out.close()
        try? err.close()
        let text = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(atPath: errPath)
        return Finished(status: process.terminationStatus, signaled: process.terminationReason == .uncaughtSignal, stderr: text)
    }

    /// A data set, a copy of it as a test file, and a small model.
    static func fixture(_ name: String) throws -> (dir: String, data: String, model: String) {
        let dir = try E2E.tempDir(name)
        let data = try E2E.generate(rows: 400, features: 8, in: dir)
        try FileManager.default.copyItem(atPath: data, toPath: dir + "/test.csv")
        let (status, child) = try E2E.run(["train", data, "--model-out", "m.stm", "--trees", "3", "--threads", "1"], in: dir, name: "train")
        guard status == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: ["stderr": child.stderr]) }
        return (dir, data, dir + "/m.stm")
    }

    static func bytes(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }

    @Test func outputsNeverOverwriteAnInput() throws {
        let (dir, data, model) = try Self.fixture("no-overwrite")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.linkItem(atPath: data, toPath: dir + "/hardlink.csv")
        try FileManager.default.createSymbolicLink(atPath: dir + "/symlink.csv", withDestinationPath: data)
        let port = try E2E.freePort()
        let before = (Self.bytes(data), Self.bytes(model), Self.bytes(dir + "/test.csv"))
        // (arguments, the output flag and path named, the input named)
        let cases: [([String], String, String)] = [
            (["predict", "--model", "m.stm", "data.csv", "--out", "data.csv"], "--out data.csv", "input data.csv"),
            (["predict", "--model", "m.stm", "data.csv", "-o", "./m.stm"], "--out ./m.stm", "--model m.stm"),
            (["predict", "--model", "m.stm", "data.csv", "-o", "hardlink.csv"], "--out hardlink.csv", "input data.csv"),
            (["train", "data.csv", "--model-out", "data.csv", "--trees", "2"], "--model-out data.csv", "training file data.csv"),
            (["train", "data.csv", "--model-out", "symlink.csv", "--trees", "2"], "--model-out symlink.csv", "training file data.csv"),
            (["train", "data.csv", "--test-file", "test.csv", "--model-out", "test.csv"], "--model-out test.csv", "--test-file test.csv"),
            (["train", "data.csv", "--report-json", "data.csv"], "--report-json data.csv", "training file data.csv"),
            (
                ["local", "data.csv", "--model-out", dir + "/data.csv", "--job-dir", dir + "/job-local"],
                "--model-out \(dir)/data.csv", "training file data.csv"
            ),
            (
                ["local", "data.csv", "--test-file", "test.csv", "--model-out", "test.csv", "--job-dir", dir + "/job-local"],
                "--model-out test.csv", "--test-file test.csv"
            ),
            (
                [
                    "coordinator", "data.csv", "--bind", "tcp://127.0.0.1:\(port)", "--job-dir", dir + "/job-coord", "--model-out",
                    "data.csv"
                ],
                "--model-out data.csv", "training file data.csv"
            ),
            (
                [
                    "coordinator", "data.csv", "--bind", "tcp://127.0.0.1:\(port)", "--job-dir", dir + "/job-coord",
                    "--test-file", "test.csv", "--model-out", "hardlink.csv"
                ], "--model-out hardlink.csv", "training file data.csv"
            ),
            (["sort", "data.csv", "--by", "f1", "--out", "data.csv"], "--out data.csv", "input data.csv"),
            (["sort", "symlink.csv", "--by", "f1", "--out", "data.csv"], "--out data.csv", "input symlink.csv"),
            (["sample", "data.csv", "--fraction", "0.5", "--out", "hardlink.csv"], "--out hardlink.csv", "input data.csv"),
            (["sample", "data.csv", "--rows", "5", "--out", dir + "/data.csv"], "--out \(dir)/data.csv", "input data.csv")
        ]
        for (i, (arguments, output, input)) in cases.enumerated() {
            let (status, child) = try E2E.run(arguments, in: dir, name: "case\(i)", timeout: 30)
            #expect(status == Self.usage, "\(arguments): \(child.stderr)")
            #expect(child.stderr.contains("\(output) is the \(input): refusing to overwrite an input"), "\(arguments): \(child.stderr)")
        }
        #expect(
            Self.bytes(data) == before.0 && Self.bytes(model) == before.1 && Self.bytes(dir + "/test.csv") == before.2,
            "every input is untouched")
        #expect(
            !FileManager.default.fileExists(atPath: dir + "/job-local") && !FileManager.default.fileExists(atPath: dir + "/job-coord"),
            "refused before any job was created")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains(".tmp.") }
        #expect(leftovers.isEmpty, "\(leftovers)")
    }

    @Test func twoOutputsOnOneFileAreRefused() throws {
        let (dir, _, _) = try Self.fixture("two-outputs")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (status, child) = try E2E.run(
            ["train", "data.csv", "--model-out", "out.stm", "--report-json", "./out.stm"], in: dir, name: "train2")
        #expect(status == Self.usage)
        #expect(child.stderr.contains("--model-out out.stm and --report-json ./out.stm are the same file"), "\(child.stderr)")
    }

    @Test func aFullStandardOutputIsAnErrorNeverATrapNorSuccess() throws {
        let (dir, _, _) = try Self.fixture("dev-full")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cases: [[String]] = [
            ["stats", "data.csv"],
            ["stats", "data.csv", "--json"],
            ["inspect", "m.stm"],
            ["inspect", "m.stm", "--json"],
            ["evaluate", "--model", "m.stm", "data.csv"],
            ["evaluate", "--model", "m.stm", "data.csv", "--json"],
            ["keygen", "--out", dir + "/keys"],
            ["predict", "--model", "m.stm", "data.csv", "-o", "-"],
            ["predict", "--model", "m.stm", "data.csv", "-o", "-", "--proba", "--batch-rows", "7"],
            ["predict", "--model", "m.stm", "data.csv", "-o", "-", "--workers", "1", "--memory-limit", "256MiB", "--threads", "1"],
            ["generate", "--rows", "5000", "--features", "4", "--out", "-"],
            ["sort", "data.csv", "--by", "f1", "--out", "-"],
            ["sample", "data.csv", "--fraction", "0.5", "--out", "-"],
            ["sample", "data.csv", "--rows", "10", "--out", "-"],
            ["train", "data.csv", "--model-out", "t.stm", "--trees", "2", "--threads", "1"]
        ]
        for arguments in cases {
            let r = try Self.run(arguments, in: dir, stdoutPath: "/dev/full")
            #expect(!r.signaled, "\(arguments) trapped: \(r.stderr)")
            #expect(r.status == 1, "\(arguments): status \(r.status): \(r.stderr)")
            #expect(r.stderr.contains("cannot write to standard output: no space left on the device (ENOSPC)"), "\(arguments): \(r.stderr)")
        }
        let status = try E2E.run(
            [
                "local", "data.csv", "--workers", "1", "--trees", "2", "--memory-limit", "256MiB",
                "--job-dir", dir + "/job", "--progress", "none"
            ], in: dir, name: "local", timeout: 120)
        #expect(status.status == 0, "the job for `status`: \(status.child.stderr)")
        for arguments in [["status", dir + "/job"], ["status", dir + "/job", "--json"]] {
            let r = try Self.run(arguments, in: dir, stdoutPath: "/dev/full")
            #expect(!r.signaled && r.status == 1, "\(arguments): \(r.status) \(r.stderr)")
            #expect(r.stderr.contains("cannot write to standard output"), "\(arguments): \(r.stderr)")
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: dir)
        #expect(!names.contains { $0.contains(".tmp.") }, "no temporary file left: \(names)")
        let predictDirs = try FileManager.default.contentsOfDirectory(atPath: NSTemporaryDirectory())
            .filter { $0.hasPrefix("spacetime-predict-") }
        _ = predictDirs  // other runs may own some; the directory of this run is removed by its defer
    }

    @Test func sortAndSampleWriteDashToStandardOutput() throws {
        let (dir, data, _) = try Self.fixture("dash-out")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let header = try String(contentsOfFile: data, encoding: .utf8).split(separator: "\n").first.map(String.init) ?? ""
        let (s1, sort) = try E2E.run(["sort", "data.csv", "--by", "f1", "--numeric", "--out", "-"], in: dir, name: "sort")
        #expect(s1 == 0, "\(sort.stderr)")
        let sorted = sort.stdout.split(separator: "\n")
        #expect(sorted.count == 401 && sorted.first.map(String.init) == header)
        let (s2, fileSort) = try E2E.run(["sort", "data.csv", "--by", "f1", "--numeric", "--out", "sorted.csv"], in: dir, name: "sortfile")
        #expect(s2 == 0, "\(fileSort.stderr)")
        #expect(try String(contentsOfFile: dir + "/sorted.csv", encoding: .utf8) == sort.stdout, "the same bytes as the file output")
        let (s3, sample) = try E2E.run(["sample", "data.csv", "--rows", "10", "--seed", "5", "--out", "-"], in: dir, name: "sample")
        #expect(s3 == 0, "\(sample.stderr)")
        #expect(sample.stdout.split(separator: "\n").count == 11)
        let (s4, fraction) = try E2E.run(["sample", "data.csv", "--fraction", "0.5", "--out", "-"], in: dir, name: "fraction")
        #expect(s4 == 0, "\(fraction.stderr)")
        #expect(fraction.stdout.hasPrefix(header + "\n"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/-"), "no file named -")
    }

    @Test func numericOptionsOutsideTheirRangesAreRefusedBeforeAnyWork() throws {
        let (dir, _, _) = try Self.fixture("ranges")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let job = ["--job-dir", dir + "/job"]
        let bind = ["--bind", "tcp://127.0.0.1:\(try E2E.freePort())"]
        let cases: [([String], String)] = [
            (
                ["predict", "--model", "m.stm", "data.csv", "--batch-rows", "99999999999", "-o", "p.csv"],
                "--batch-rows must be in 1...1048576, got 99999999999"
            ),
            (["predict", "--model", "m.stm", "data.csv", "--batch-rows", "0", "-o", "p.csv"], "--batch-rows must be in 1...1048576, got 0"),
            (["predict", "--model", "m.stm", "data.csv", "--threads", "0", "-o", "p.csv"], "--threads must be in 1...1024, got 0"),
            (["predict", "--model", "m.stm", "data.csv", "--workers", "1000", "-o", "p.csv"], "--workers must be in 0...256, got 1000"),
            (
                ["predict", "--model", "m.stm", "data.csv", "--workers", "2", "--memory-limit", "1KiB", "-o", "p.csv"],
                "--memory-limit 1KiB is below the minimum 16MiB a worker needs to run"
            ),
            (
                ["predict", "--model", "m.stm", "data.csv", "--workers", "1", "--max-attempts", "0", "-o", "p.csv"],
                "--max-attempts must be in 1...1000, got 0"
            ),
            (["local", "data.csv", "--max-attempts", "0"] + job, "--max-attempts must be in 1...1000, got 0"),
            (["local", "data.csv", "--workers", "257"] + job, "--workers must be in 1...256, got 257"),
            (["local", "data.csv", "--workers", "0"] + job, "--workers must be in 1...256, got 0"),
            (["local", "data.csv", "--threads", "0"] + job, "--threads must be in 1...1024, got 0"),
            (["local", "data.csv", "--memory-limit", "1KiB"] + job, "--memory-limit 1KiB is below the minimum 16MiB a worker needs to run"),
            (["local", "data.csv", "--max-bins", "1"] + job, "--max-bins must be in 2...255, got 1"),
            (["local", "data.csv", "--max-bins", "256"] + job, "--max-bins must be in 2...255, got 256"),
            (["local", "data.csv", "--test-fraction", "1"] + job, "--test-fraction must be in [0, 1), got 1.0"),
            (["local", "data.csv", "--trees", "-5"] + job, "--trees must be in 1...1000000, got -5"),
            (
                ["local", "data.csv", "--model-out", dir + "/no/such/dir/m.stm"] + job,
                "--model-out \(dir)/no/such/dir/m.stm cannot be written"
            ),
            (
                ["coordinator", "data.csv"] + bind + job + ["--worker-memory-limit", "1MiB"],
                "--worker-memory-limit 1MiB is below the minimum 16MiB a worker needs to run"
            ),
            (["coordinator", "data.csv"] + bind + job + ["--max-attempts", "0"], "--max-attempts must be in 1...1000, got 0"),
            (["coordinator", "data.csv"] + bind + job + ["--max-bins", "300"], "--max-bins must be in 2...255, got 300"),
            (["coordinator", "data.csv"] + bind + job + ["--wait-workers", "-1"], "--wait-workers must be in 0...256, got -1"),
            (
                ["worker", "--connect", "tcp://127.0.0.1:1", "--memory-limit", "1KiB"],
                "--memory-limit 1KiB is below the minimum 16MiB a worker needs to run"
            ),
            (
                ["worker", "--connect", "tcp://127.0.0.1:1", "--memory-limit", "64MiB", "--threads", "0"],
                "--threads must be in 1...1024, got 0"
            ),
            (["train", "data.csv", "--trees", "0"], "--trees must be in 1...1000000, got 0"),
            (["train", "data.csv", "--trees", "-5"], "--trees must be in 1...1000000, got -5"),
            (["train", "data.csv", "--threads", "0"], "--threads must be in 1...1024, got 0"),
            (["train", "data.csv", "--max-bins", "1"], "--max-bins must be in 2...255, got 1"),
            (["train", "data.csv", "--test-fraction", "1"], "--test-fraction must be in [0, 1), got 1.0"),
            (["train", "data.csv", "--test-fraction", "-0.1"], "--test-fraction must be in [0, 1), got -0.1"),
            (["train", "data.csv", "--partitions", "0"], "--partitions must be in 1...65536, got 0"),
            (["train", "data.csv", "--max-depth", "0"], "--max-depth must be at least 1, got 0"),
            (["train", "data.csv", "--min-samples-split", "1"], "--min-samples-split must be in 2...4294967295, got 1"),
            (["evaluate", "--model", "m.stm", "data.csv", "--threads", "0"], "--threads must be in 1...1024, got 0"),
            (["sort", "data.csv", "--by", "f1", "--memory-limit", "1KiB", "--out", "s.csv"], "--memory-limit must be at least 1MiB")
        ]
        for (i, (arguments, message)) in cases.enumerated() {
            let (status, child) = try E2E.run(arguments, in: dir, name: "range\(i)", timeout: 30)
            #expect(status == Self.usage, "\(arguments): \(String(describing: status)) \(child.stderr)")
            #expect(child.stderr.contains(message), "\(arguments): \(child.stderr)")
            #expect(!child.stderr.contains("Missing value"), "\(arguments): \(child.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/job"), "no job was started")
        for name in ["p.csv", "model.stm", "s.csv"] {
            #expect(!FileManager.default.fileExists(atPath: dir + "/" + name), "no output \(name) was written")
        }
    }
}

extension OutputSafetyEndToEndTests {
    @Test func unwritableOutputsAreRefusedBeforeTheWork() throws {
        let (dir, _, _) = try Self.fixture("unwritable")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let missing = dir + "/no/such/dir"
        let cases: [([String], String)] = [
            (["train", "data.csv", "--model-out", missing + "/m.stm"], "--model-out \(missing)/m.stm cannot be written"),
            (["train", "data.csv", "--report-json", missing + "/r.json"], "--report-json \(missing)/r.json cannot be written"),
            (["predict", "--model", "m.stm", "data.csv", "-o", missing + "/p.csv"], "--out \(missing)/p.csv cannot be written"),
            (
                ["predict", "--model", "m.stm", "data.csv", "--workers", "1", "-o", missing + "/p.csv"],
                "--out \(missing)/p.csv cannot be written"
            ),
            (
                ["local", "data.csv", "--model-out", missing + "/m.stm", "--job-dir", dir + "/job"],
                "--model-out \(missing)/m.stm cannot be written"
            )
        ]
        for (i, (arguments, message)) in cases.enumerated() {
            let started = Date()
            let (status, child) = try E2E.run(arguments, in: dir, name: "unwritable\(i)", timeout: 30)
            #expect(status == Self.usage, "\(arguments): \(child.stderr)")
            #expect(child.stderr.contains(message), "\(arguments): \(child.stderr)")
            #expect(
                !child.stderr.contains("trained") && !child.stderr.contains("read 400 rows"),
                "refused before reading the data: \(child.stderr)")
            #expect(Date().timeIntervalSince(started) < 10)
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/job"))
    }
}
