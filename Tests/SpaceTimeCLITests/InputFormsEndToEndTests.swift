import Foundation
import SpaceTime
import TestSupport
import Testing

@testable import Cluster

/// The input forms docs/operations.md lists work the same on every path:
/// a UTF-8 byte-order mark with CRLF line ends, and bare CR line ends, give
/// `train` and `local` the same model (the fingerprint of the LF file's), and
/// `predict` and `predict --workers 1` the same predictions; so do a gzip file,
/// a zstd file and a directory of four parts (plain, gzip and zstd); a corrupt
/// gzip stream and a part with another header are located errors on each path.
@Suite(.serialized) struct InputFormsEndToEndTests {
    static let training = ["--partitions", "1", "--trees", "6", "--seed", "5"]
    static let liveness = ["--heartbeat", "0.25", "--liveness", "12"]

    /// `text` rewritten with `lineEnd` instead of "\n", and a BOM if asked.
    static func rewrite(_ text: String, lineEnd: String, bom: Bool) -> Data {
        var bytes: [UInt8] = bom ? [0xEF, 0xBB, 0xBF] : []
        for b in text.utf8 {
            if b == UInt8(ascii: "\n") { bytes += Array(lineEnd.utf8) } else { bytes.append(b) }
        }
        return Data(bytes)
    }

    @Test func byteOrderMarkCRLFAndBareCRGiveTheSameModelAndPredictionsOnEveryPath() throws {
        let dir = try E2E.tempDir("forms")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let lf = try E2E.generate(rows: 1500, in: dir)
        let text = try String(contentsOfFile: lf, encoding: .utf8)
        let forms = [("bom-crlf", Self.rewrite(text, lineEnd: "\r\n", bom: true)), ("cr", Self.rewrite(text, lineEnd: "\r", bom: false))]
        let reference = try E2E.singleProcess(lf, in: dir, flags: Self.training)
        #expect(reference.fingerprint.count >= 16)
        for (name, bytes) in forms {
            let data = dir + "/\(name).csv"
            try bytes.write(to: URL(fileURLWithPath: data))
            let (trained, train) = try E2E.run(
                [
                    "train", data, "--model-out", "\(name)-train.stm", "--report-json", "\(name)-train.json",
                    "--threads", "1"
                ] + Self.training, in: dir, name: "train-\(name)")
            #expect(trained == 0, "\(train.stderr)")
            let trainPrint = try E2E.json(dir + "/\(name)-train.json")["fingerprint"] as? String
            #expect(trainPrint == reference.fingerprint, "\(name): train reads the same data as from the LF file")

            let (status, local) = try E2E.run(
                [
                    "local", data, "--workers", "1", "--memory-limit", "256MiB", "--job-dir", dir + "/job-\(name)",
                    "--model-out", "\(name)-local.stm", "--report-json", "\(name)-local.json"
                ]
                    + Self.training + Self.liveness, in: dir, name: "local-\(name)")
            #expect(status == 0, "\(name): \(local.stderr)")
            #expect(
                try E2E.json(dir + "/\(name)-local.json")["fingerprint"] as? String == trainPrint,
                "\(name): local and train give the same model")

            let (predicted, single) = try E2E.run(
                [
                    "predict", "--model", "\(name)-train.stm", data, "--out", "\(name)-single.csv",
                    "--threads", "1"
                ], in: dir, name: "predict-\(name)")
            #expect(predicted == 0, "\(single.stderr)")
            let (distributed, workers) = try E2E.run(
                [
                    "predict", "--model", "\(name)-train.stm", data, "--out", "\(name)-dist.csv",
                    "--workers", "1", "--memory-limit", "256MiB", "--threads", "1", "--block-rows", "400",
                    "--job-dir", dir + "/predict-job-\(name)"
                ] + Self.liveness,
                in: dir, name: "predict-workers-\(name)")
            #expect(distributed == 0, "\(name): \(workers.stderr)")
            let a = try Data(contentsOf: URL(fileURLWithPath: dir + "/\(name)-single.csv"))
            let b = try Data(contentsOf: URL(fileURLWithPath: dir + "/\(name)-dist.csv"))
            #expect(a.count > 1500 * 2 && a == b, "\(name): predict and predict --workers 1 write the same predictions")
        }
    }

    /// `tool -c -q path` (the system's gzip or zstd).
    static func compressed(_ tool: String, _ path: String) throws -> Data {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [tool, "-c", "-q", path]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw PipelineError(.io, "\(tool) failed") }
        return data
    }

    @Test func compressedAndPartInputsGiveTheSingleFilesModelAndPredictionsOnEveryPath() throws {
        let dir = try E2E.tempDir("forms-compressed")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let plain = try E2E.generate(rows: 1500, in: dir)
        let reference = try E2E.singleProcess(plain, in: dir, flags: Self.training)
        let (predicted, single) = try E2E.run(
            ["predict", "--model", "single.stm", plain, "--out", "plain-pred.csv", "--threads", "1"],
            in: dir, name: "predict-plain")
        #expect(predicted == 0, "\(single.stderr)")
        let plainPredictions = try Data(contentsOf: URL(fileURLWithPath: dir + "/plain-pred.csv"))
        try Self.compressed("gzip", plain).write(to: URL(fileURLWithPath: dir + "/data.csv.gz"))
        try Self.compressed("zstd", plain).write(to: URL(fileURLWithPath: dir + "/data.csv.zst"))
        // Four parts of 375 rows, each with the header: plain, gzip, zstd, plain.
        let lines = try String(contentsOfFile: plain, encoding: .utf8).split(separator: "\n")
        try FileManager.default.createDirectory(atPath: dir + "/parts", withIntermediateDirectories: true)
        for k in 0..<4 {
            let part = dir + "/parts/part-0000\(k).csv"
            try ([String(lines[0])] + lines[(1 + 375 * k)..<(1 + 375 * (k + 1))].map(String.init)).joined(separator: "\n")
                .appending("\n").write(toFile: part, atomically: true, encoding: .utf8)
            if k == 1 || k == 2 {
                let tool = k == 1 ? "gzip" : "zstd"
                try Self.compressed(tool, part).write(to: URL(fileURLWithPath: part + (k == 1 ? ".gz" : ".zst")))
                try FileManager.default.removeItem(atPath: part)
            }
        }
        for (name, data) in [("gz", dir + "/data.csv.gz"), ("zst", dir + "/data.csv.zst"), ("parts", dir + "/parts")] {
            let (trained, train) = try E2E.run(
                [
                    "train", data, "--model-out", "\(name)-train.stm", "--report-json", "\(name)-train.json",
                    "--threads", "1"
                ] + Self.training, in: dir, name: "train-\(name)")
            #expect(trained == 0, "\(train.stderr)")
            #expect(
                try E2E.json(dir + "/\(name)-train.json")["fingerprint"] as? String == reference.fingerprint,
                "\(name): train gives the plain file's model")
            let (status, local) = try E2E.run(
                [
                    "local", data, "--workers", "1", "--memory-limit", "256MiB", "--job-dir", dir + "/job-\(name)",
                    "--model-out", "\(name)-local.stm", "--report-json", "\(name)-local.json"
                ]
                    + Self.training + Self.liveness, in: dir, name: "local-\(name)")
            #expect(status == 0, "\(name): \(local.stderr)")
            #expect(
                try E2E.json(dir + "/\(name)-local.json")["fingerprint"] as? String == reference.fingerprint,
                "\(name): local gives the plain file's model")
            let (p1, one) = try E2E.run(
                ["predict", "--model", "single.stm", data, "--out", "\(name)-single.csv", "--threads", "1"],
                in: dir, name: "predict-\(name)")
            #expect(p1 == 0, "\(one.stderr)")
            let (p2, workers) = try E2E.run(
                [
                    "predict", "--model", "single.stm", data, "--out", "\(name)-dist.csv",
                    "--workers", "1", "--memory-limit", "256MiB", "--threads", "1", "--block-rows", "400",
                    "--job-dir", dir + "/predict-job-\(name)"
                ] + Self.liveness, in: dir, name: "predict-workers-\(name)")
            #expect(p2 == 0, "\(name): \(workers.stderr)")
            #expect(workers.stderr.contains("decompressed and concatenated once"), "\(name): the copy is logged")
            for suffix in ["single", "dist"] {
                let got = try Data(contentsOf: URL(fileURLWithPath: dir + "/\(name)-\(suffix).csv"))
                #expect(got == plainPredictions, "\(name) \(suffix): the plain file's predictions, byte for byte")
            }
        }
    }

    @Test func aCorruptGzipStreamAndAPartWithAnotherHeaderAreLocatedOnEveryPath() throws {
        let dir = try E2E.tempDir("forms-bad")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = try E2E.generate(rows: 3000, in: dir)
        let (trained, _) = try E2E.run(["train", data, "--model-out", "m.stm", "--trees", "3", "--threads", "1"], in: dir, name: "train")
        #expect(trained == 0)
        var gz = try Self.compressed("gzip", data)
        gz.removeLast(gz.count / 3)  // truncated inside the deflate stream
        let bad = dir + "/bad.csv.gz"
        try gz.write(to: URL(fileURLWithPath: bad))
        let lines = try String(contentsOfFile: data, encoding: .utf8).split(separator: "\n")
        try FileManager.default.createDirectory(atPath: dir + "/parts", withIntermediateDirectories: true)
        try (lines[0...10].joined(separator: "\n") + "\n").write(toFile: dir + "/parts/p-0.csv", atomically: true, encoding: .utf8)
        let renamed = Substring(lines[0].replacingOccurrences(of: "f3", with: "g3"))
        try (([renamed] + lines[11...20]).joined(separator: "\n") + "\n").write(
            toFile: dir + "/parts/p-1.csv", atomically: true, encoding: .utf8)
        for (input, expected) in [
            (bad, ["bad.csv.gz: line ", "gzip stream is corrupt at compressed byte", "truncated"]),
            (dir + "/parts", ["p-1.csv: line 1, column ", "differs from", "p-0.csv", "`g3`", "`f3`"])
        ] {
            let runs: [(String, [String])] = [
                ("train", ["train", input, "--model-out", "x.stm"]),
                ("local", ["local", input, "--workers", "1", "--job-dir", dir + "/job", "--model-out", "y.stm"] + Self.liveness),
                ("predict", ["predict", "--model", "m.stm", input, "--out", "p.csv"]),
                ("predict-workers", ["predict", "--model", "m.stm", input, "--out", "q.csv", "--workers", "1", "--job-dir", dir + "/pjob"])
            ]
            for (name, arguments) in runs {
                let (status, child) = try E2E.run(arguments, in: dir, name: name, timeout: 60)
                #expect(status != 0 && status != nil, "\(name) fails")
                for piece in expected { #expect(child.stderr.contains(piece), "\(name) \(input): \(piece): \(child.stderr)") }
                #expect(child.stderr.utf8.count < 4000, "\(name): \(child.stderr.prefix(2000))")
                try? FileManager.default.removeItem(atPath: dir + "/job")
                try? FileManager.default.removeItem(atPath: dir + "/pjob")
            }
        }
    }

    /// A bad value in the third of four parts, past the rows the schema is sampled from, is
    /// parsed by a worker on the distributed path: `local --workers 2` fails the job with the
    /// part file, the line within that part and the column, as `train` does, after one attempt
    /// (bad input is final); `predict` and `predict --workers` (which parses on the coordinator)
    /// name the same place.
    @Test func aBadValueInAPartIsLocatedInThatPartOnEveryPath() throws {
        let dir = try E2E.tempDir("forms-bad-part")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // 4 × 10,000 records: the bad one is record 20,004, beyond the schema's 20,000-row sample.
        let data = try E2E.generate(rows: 40_000, in: dir)
        let (trained, train) = try E2E.run(
            ["train", data, "--model-out", "m.stm", "--trees", "3", "--threads", "1"], in: dir, name: "train-good")
        #expect(trained == 0, "\(train.stderr)")
        let lines = try String(contentsOfFile: data, encoding: .utf8).split(separator: "\n").map(String.init)
        try FileManager.default.createDirectory(atPath: dir + "/parts", withIntermediateDirectories: true)
        for k in 0..<4 {
            var records = Array(lines[(1 + 10_000 * k)..<(1 + 10_000 * (k + 1))])
            // Line 5 of the third part (its 4th record): a text in the numeric column f0.
            if k == 2 { records[3] = "oops" + records[3].drop { $0 != "," } }
            try (([lines[0]] + records).joined(separator: "\n") + "\n")
                .write(toFile: dir + "/parts/part-0000\(k).csv", atomically: true, encoding: .utf8)
        }
        let located = dir + "/parts/part-00002.csv: line 5, column 1 (`f0`): expected a number, found `oops`"
        let runs: [(String, [String])] = [
            ("train", ["train", dir + "/parts", "--model-out", "x.stm", "--trees", "4"]),
            (
                "local",
                [
                    "local", dir + "/parts", "--workers", "2", "--memory-limit", "256MiB", "--partitions", "2", "--trees", "4",
                    "--job-dir", dir + "/job", "--model-out", "y.stm"
                ] + Self.liveness
            ),
            ("predict", ["predict", "--model", "m.stm", dir + "/parts", "--out", "p.csv"]),
            (
                "predict-workers",
                [
                    "predict", "--model", "m.stm", dir + "/parts", "--out", "q.csv", "--workers", "2",
                    "--memory-limit", "256MiB", "--job-dir", dir + "/pjob"
                ] + Self.liveness
            )
        ]
        for (name, arguments) in runs {
            let (status, child) = try E2E.run(arguments, in: dir, name: name, timeout: 120)
            #expect(status != 0 && status != nil, "\(name) fails")
            #expect(child.stderr.contains(located), "\(name): \(child.stderr.suffix(1500))")
        }
        // One extract attempt read the bad record; it failed, final, and the job with it. (An
        // attempt of the other partition abandoned when the job fails quotes the job's reason.)
        let store = try JobStore(path: dir + "/job/job.sqlite")
        let attempts = try store.tasks().flatMap { try store.attempts(of: $0.name) }
        let badAttempts = attempts.filter { $0.outcome != .abandoned && ($0.reason?.contains(located) ?? false) }
        #expect(badAttempts.count == 1 && badAttempts.first?.outcome == .failed, "\(attempts)")
        let tasks = try store.tasks()
        #expect(tasks.contains { $0.state == .failed && $0.failures == 1 }, "\(tasks)")
        // Bad input is final: the failed task has that one attempt (the other partition's attempt
        // may be abandoned when the job fails, which is not a retry).
        let failed = try #require(tasks.first { $0.state == .failed })
        #expect(try store.attempts(of: failed.name).count == 1, "no attempt is retried: \(attempts)")
    }

    /// `--delimiter` and `--no-header --columns` read a `;`-separated, a tab-separated and a
    /// header-less copy of a data set as the original: `train` and `local` (the workers parse
    /// with the delimiter and names the job's CSV schema carries) give the original's model;
    /// `predict` writes its predictions; a bad record of the header-less copy is located.
    @Test func delimitersAndHeaderlessFilesGiveTheSameModelOnEveryPath() throws {
        let dir = try E2E.tempDir("delimiters")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let original = try E2E.generate(rows: 1200, in: dir)
        let text = try String(contentsOfFile: original, encoding: .utf8)
        let header = String(text.prefix { $0 != "\n" })
        let reference = try E2E.singleProcess(original, in: dir, flags: Self.training)
        let (predicted, _) = try E2E.run(
            ["predict", "--model", "single.stm", original, "--out", "reference-pred.csv", "--threads", "1"],
            in: dir, name: "predict-reference")
        #expect(predicted == 0)
        let forms: [(String, String, [String])] = [
            ("semicolon", text.replacingOccurrences(of: ",", with: ";"), ["--delimiter", ";"]),
            ("tab", text.replacingOccurrences(of: ",", with: "\t"), ["--delimiter", "tab"]),
            ("headerless", String(text.drop { $0 != "\n" }.dropFirst()), ["--no-header", "--columns", header])
        ]
        for (name, body, flags) in forms {
            let data = dir + "/\(name).csv"
            try Data(body.utf8).write(to: URL(fileURLWithPath: data))
            let (trained, train) = try E2E.run(
                [
                    "train", data, "--model-out", "\(name).stm", "--report-json", "\(name)-train.json",
                    "--threads", "1"
                ] + Self.training + flags, in: dir, name: "train-\(name)")
            #expect(trained == 0, "\(name): \(train.stderr)")
            #expect(
                try E2E.json(dir + "/\(name)-train.json")["fingerprint"] as? String == reference.fingerprint,
                "\(name): train reads the original's rows")
            let (status, local) = try E2E.run(
                [
                    "local", data, "--workers", "1", "--memory-limit", "256MiB", "--job-dir", dir + "/job-\(name)",
                    "--model-out", "\(name)-local.stm", "--report-json", "\(name)-local.json"
                ]
                    + Self.training + Self.liveness + flags, in: dir, name: "local-\(name)")
            #expect(status == 0, "\(name): \(local.stderr)")
            #expect(
                try E2E.json(dir + "/\(name)-local.json")["fingerprint"] as? String == reference.fingerprint,
                "\(name): local reads the original's rows")
            let (scored, predict) = try E2E.run(
                ["predict", "--model", "single.stm", data, "--out", "\(name)-pred.csv", "--threads", "1"] + flags,
                in: dir, name: "predict-\(name)")
            #expect(scored == 0, "\(name): \(predict.stderr)")
            #expect(
                try Data(contentsOf: URL(fileURLWithPath: dir + "/\(name)-pred.csv"))
                    == Data(contentsOf: URL(fileURLWithPath: dir + "/reference-pred.csv")), "\(name): the same predictions")
            // Over a worker, in two blocks: the worker parses with the delimiter the job's schema carries.
            let (shared, sharded) = try E2E.run(
                [
                    "predict", "--model", "single.stm", data, "--out", "\(name)-wpred.csv", "--threads", "1",
                    "--workers", "1", "--memory-limit", "256MiB", "--block-rows", "600"
                ]
                    + Self.liveness + flags, in: dir, name: "predict-workers-\(name)")
            #expect(shared == 0, "\(name): \(sharded.stderr)")
            #expect(
                try Data(contentsOf: URL(fileURLWithPath: dir + "/\(name)-wpred.csv"))
                    == Data(contentsOf: URL(fileURLWithPath: dir + "/reference-pred.csv")), "\(name): the same predictions over a worker")
        }
        // A short record on line 7 of the header-less copy (its 7th record): located on every path.
        var lines = String(text.drop { $0 != "\n" }.dropFirst()).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        lines[6] = String(lines[6].prefix { $0 != "," })
        try Data(lines.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: dir + "/bad.csv"))
        for command in ["train", "local"] {
            let extra =
                command == "local" ? ["--workers", "1", "--memory-limit", "256MiB", "--job-dir", dir + "/job-bad"] + Self.liveness : []
            let (status, child) = try E2E.run(
                [command, "bad.csv", "--no-header", "--columns", header, "--model-out", "bad-\(command).stm"]
                    + Self.training + extra, in: dir, name: "bad-\(command)")
            #expect(status != 0, "\(command) accepted a short record")
            #expect(child.stderr.contains("bad.csv: line 7"), "\(command): \(child.stderr.suffix(600))")
        }
        for workers in [[], ["--workers", "1", "--memory-limit", "256MiB"] + Self.liveness] {
            let (status, child) = try E2E.run(
                [
                    "predict", "--model", "single.stm", "bad.csv", "--no-header", "--columns", header,
                    "--out", "bad-pred.csv"
                ] + workers, in: dir, name: "bad-predict")
            #expect(status != 0, "predict \(workers) accepted a short record")
            #expect(child.stderr.contains("bad.csv: line 7"), "predict \(workers): \(child.stderr.suffix(600))")
        }
        let (wrong, child) = try E2E.run(
            ["train", "headerless.csv", "--no-header", "--columns", "a,b", "--model-out", "x.stm"],
            in: dir, name: "wrong-columns")
        #expect(wrong != 0 && child.stderr.contains("2 column names were given, but the first record has"), "\(child.stderr)")
    }
}
