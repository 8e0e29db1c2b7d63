import Foundation
import Testing
import SpaceTime
@testable import Cluster

/// The input forms docs/operations.md lists work the same on every path:
/// a UTF-8 byte-order mark with CRLF line ends, and bare CR line ends, give
/// `train` and `local` the same model (the fingerprint of the LF file's), and
/// `predict` and `predict --workers 1` the same predictions; a gzip file is
/// refused up front on each path with the same message.
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
            let (trained, train) = try E2E.run(["train", data, "--model-out", "\(name)-train.stm", "--report-json", "\(name)-train.json",
                                                "--threads", "1"] + Self.training, in: dir, name: "train-\(name)")
            #expect(trained == 0, "\(train.stderr)")
            let trainPrint = try E2E.json(dir + "/\(name)-train.json")["fingerprint"] as? String
            #expect(trainPrint == reference.fingerprint, "\(name): train reads the same data as from the LF file")

            let (status, local) = try E2E.run(["local", data, "--workers", "1", "--memory-limit", "256MiB", "--job-dir", dir + "/job-\(name)",
                                               "--model-out", "\(name)-local.stm", "--report-json", "\(name)-local.json"]
                                              + Self.training + Self.liveness, in: dir, name: "local-\(name)")
            #expect(status == 0, "\(name): \(local.stderr)")
            #expect(try E2E.json(dir + "/\(name)-local.json")["fingerprint"] as? String == trainPrint,
                    "\(name): local and train give the same model")

            let (predicted, single) = try E2E.run(["predict", "--model", "\(name)-train.stm", data, "--out", "\(name)-single.csv",
                                                   "--threads", "1"], in: dir, name: "predict-\(name)")
            #expect(predicted == 0, "\(single.stderr)")
            let (distributed, workers) = try E2E.run(["predict", "--model", "\(name)-train.stm", data, "--out", "\(name)-dist.csv",
                                                      "--workers", "1", "--memory-limit", "256MiB", "--threads", "1", "--block-rows", "400",
                                                      "--job-dir", dir + "/predict-job-\(name)"] + Self.liveness,
                                                     in: dir, name: "predict-workers-\(name)")
            #expect(distributed == 0, "\(name): \(workers.stderr)")
            let a = try Data(contentsOf: URL(fileURLWithPath: dir + "/\(name)-single.csv"))
            let b = try Data(contentsOf: URL(fileURLWithPath: dir + "/\(name)-dist.csv"))
            #expect(a.count > 1500 * 2 && a == b, "\(name): predict and predict --workers 1 write the same predictions")
        }
    }

    @Test func aGzipFileIsRefusedUpFrontOnEveryPath() throws {
        let dir = try E2E.tempDir("forms-gz")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = try E2E.generate(rows: 300, in: dir)
        let (trained, _) = try E2E.run(["train", data, "--model-out", "m.stm", "--trees", "3", "--threads", "1"], in: dir, name: "train")
        #expect(trained == 0)
        let gz = dir + "/data.csv.gz"
        try Data([0x1F, 0x8B, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xFF, 0x00, 0x9C] + Array(repeating: 0xAB, count: 4000))
            .write(to: URL(fileURLWithPath: gz))
        let runs: [(String, [String])] = [
            ("train", ["train", gz, "--model-out", "x.stm"]),
            ("local", ["local", gz, "--workers", "1", "--job-dir", dir + "/job", "--model-out", "y.stm"]),
            ("predict", ["predict", "--model", "m.stm", gz, "--out", "p.csv"]),
            ("predict-workers", ["predict", "--model", "m.stm", gz, "--out", "q.csv", "--workers", "1", "--job-dir", dir + "/pjob"]),
        ]
        for (name, arguments) in runs {
            let (status, child) = try E2E.run(arguments, in: dir, name: name, timeout: 60)
            #expect(status != 0 && status != nil, "\(name) fails")
            #expect(child.stderr.contains("looks gzip-compressed") && child.stderr.contains("decompress it first"), "\(name): \(child.stderr)")
            #expect(child.stderr.utf8.count < 2000, "\(name): no raw bytes echoed: \(child.stderr.prefix(2000))")
            #expect(!child.stderr.contains("\u{FFFD}"), "\(name): no undecodable bytes in the message")
        }
    }
}
