import Foundation
import TestSupport
import Testing

/// Typed option values (`--criterion`, `--class-weight`, `--max-features`, `--scoring`,
/// `--progress`, `--format`): every spelling accepted before is still accepted and reaches
/// the model, a bad value is refused at parse time (exit 64, before any work) with a
/// message naming the valid values, and `--help` lists them.
@Suite struct OptionValuesEndToEndTests {
    static let tiny = ["--trees", "2", "--threads", "1", "--test-fraction", "0.25"]

    @Test func everyAcceptedSpellingReachesTheModelParameters() throws {
        let dir = try E2E.tempDir("option-values")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = try E2E.generate(rows: 120, features: 10, in: dir)
        let cases: [(flags: [String], key: String, expected: String)] = [
            ([], "max_features", "auto"),
            (["--max-features", "SQRT"], "max_features", "sqrt"),
            (["--max-features", "log2"], "max_features", "log2"),
            (["--max-features", "none"], "max_features", "all"),
            (["--max-features", "1.0"], "max_features", "all"),
            (["--max-features", "0.3"], "max_features", "0.3"),
            (["--max-features", "7"], "max_features", "7"),
            ([], "criterion", "gini"),
            (["--criterion", "entropy"], "criterion", "entropy"),
            ([], "class_weight", "none"),
            (["--class-weight", "balanced"], "class_weight", "balanced")
        ]
        for (i, c) in cases.enumerated() {
            let (status, child) = try E2E.run(
                ["train", data, "--model-out", "m\(i).stm", "--report-json", "r\(i).json"] + Self.tiny + c.flags,
                in: dir, name: "train\(i)")
            #expect(status == 0, "\(c.flags): \(child.stderr)")
            let parameters = try E2E.json(dir + "/r\(i).json")["parameters"] as? [String: Any] ?? [:]
            #expect(parameters[c.key] as? String == c.expected, "\(c.flags): \(parameters)")
        }
    }

    @Test func aBadValueIsRefusedBeforeAnyWorkNamingTheValidOnes() throws {
        let dir = try E2E.tempDir("option-bad")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = try E2E.generate(rows: 60, features: 8, in: dir)
        let model = dir + "/m.stm"
        let trained = try E2E.run(["train", data, "--model-out", model] + Self.tiny, in: dir, name: "train")
        #expect(trained.status == 0, "\(trained.child.stderr)")
        let cases: [(arguments: [String], message: String)] = [
            (
                ["train", data, "--model-out", "x.stm", "--criterion", "gain"],
                "The value 'gain' is invalid for '--criterion <criterion>'. Please provide one of 'gini' and 'entropy'."
            ),
            (
                ["cv", data, "--class-weight", "equal"],
                "The value 'equal' is invalid for '--class-weight <class-weight>'. Please provide one of 'none' and 'balanced'."
            ),
            (
                ["train", data, "--model-out", "x.stm", "--max-features", "0"],
                "The value '0' is invalid for '--max-features <max-features>'"
            ),
            (
                ["local", data, "--model-out", "x.stm", "--scoring", "split"],
                "The value 'split' is invalid for '--scoring <scoring>'. Please provide one of 'auto', 'whole' or 'sharded'."
            ),
            (
                ["coordinator", data, "--bind", "tcp://127.0.0.1:1", "--job-dir", "job", "--model-out", "x.stm", "--progress", "fancy"],
                "The value 'fancy' is invalid for '--progress <progress>'. Please provide one of 'auto', 'bar', 'plain' or 'none'."
            ),
            (
                ["predict", "--model", model, data, "-o", "x.csv", "--scoring", "halves"],
                "The value 'halves' is invalid for '--scoring <scoring>'"
            ),
            (
                ["export", model, "-o", "x.onnx", "--format", "pmml"],
                "The value 'pmml' is invalid for '--format <format>'. Please provide one of 'onnx'."
            )
        ]
        for (i, c) in cases.enumerated() {
            let (status, child) = try E2E.run(c.arguments, in: dir, name: "bad\(i)", timeout: 30)
            #expect(status == 64, "\(c.arguments): \(child.stderr)")
            #expect(child.stderr.contains(c.message), "\(c.arguments): \(child.stderr)")
            #expect(child.stdout.isEmpty, "\(c.arguments): \(child.stdout)")
        }
        let left = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix("x.") || $0 == "job" }
        #expect(left.isEmpty, "nothing written before the refusal: \(left)")
    }

    @Test func helpListsTheValues() throws {
        let dir = try E2E.tempDir("option-help")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func help(_ command: String) throws -> String {
            let (status, child) = try E2E.run(["help", command], in: dir, name: "help-" + command)
            #expect(status == 0, "\(child.stderr)")
            return child.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        }
        for command in ["train", "local", "coordinator", "cv"] {
            let text = try help(command)
            #expect(text.contains("(values: gini, entropy; default: gini)"), "\(command): \(text)")
            #expect(text.contains("(values: none, balanced; default: none)"), "\(command): \(text)")
            #expect(text.contains("a fraction or a count. (default: auto)"), "\(command): \(text)")
        }
        for command in ["local", "coordinator"] {
            let text = try help(command)
            #expect(text.contains("(values: auto, whole, sharded; default: auto)"), "\(command): \(text)")
            #expect(text.contains("(values: auto, bar, plain, none; default: auto)"), "\(command): \(text)")
        }
        #expect(try help("predict").contains("(values: auto, whole, sharded; default: auto)"))
        #expect(try help("export").contains("(values: onnx; default: onnx)"))
    }
}
