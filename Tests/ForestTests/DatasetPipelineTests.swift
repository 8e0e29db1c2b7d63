import Foundation
import SpaceTime
import Testing

@testable import Forest

/// The data set path end to end through `SingleProcessTraining.run` and
/// `StreamingPrediction` on small CSV files: text columns, NA values, regression,
/// `--task auto`, located errors, refused headers, sorted files.
@Suite(.serialized) struct DatasetPipelineTests {
    /// Runs `body` with a fresh temporary directory, removed afterwards.
    static func withDirectory(_ body: (String) throws -> Void) throws {
        let dir = try TestData.temporaryDirectory("dataset")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try body(dir)
    }

    static func write(_ text: String, to path: String) throws {
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    static func options(_ path: String, trees: Int = 20) -> TrainingOptions {
        var o = TrainingOptions(trainFile: path)
        o.parameters.trees = trees
        o.threads = 2
        return o
    }

    static let colors = ["red", "green", "blue", "\"navy, dark\"", "teal"]

    /// x (numeric, some NA), color (text, some NA or empty), label yes/no depending on both.
    static func categoricalCSV(rows: Int, seed: UInt64) -> String {
        var rng = ForestRNG(seed: seed)
        var text = "x,color,label\n"
        for _ in 0..<rows {
            let missingX = rng.nextUnit() < 0.1
            let x = rng.nextUnit() * 10
            let k = rng.nextInt(below: colors.count + 1)
            let color = k < colors.count ? colors[k] : (rng.nextInt(below: 2) == 0 ? "NA" : "")
            // red, teal and missing colours are "yes" unless x is small; others "yes" when x is large.
            let yes = (k == 0 || k == 4 || k == colors.count) ? (missingX || x > 2) : (!missingX && x > 8)
            let flipped = rng.nextUnit() < 0.02 ? !yes : yes
            text += "\(missingX ? "NA" : String(x)),\(color),\(flipped ? "yes" : "no")\n"
        }
        return text
    }

    @Test func textColumnWithMissingValuesTrainsAndPredicts() throws {
        try Self.withDirectory { dir in
            let path = dir + "/train.csv"
            try Self.write(Self.categoricalCSV(rows: 2000, seed: 1), to: path)
            var options = Self.options(path)
            options.partitions = 2
            let result = try SingleProcessTraining.run(options)
            let model = result.model
            #expect(model.schema.task == .classification)
            #expect(model.schema.featureNames == ["x", "color"])
            #expect(model.schema.featureKinds == [.numeric, .categorical])
            #expect(result.taskReason.contains("text"), "\(result.taskReason)")
            #expect(Set(model.extractor.levels[1]) == ["red", "green", "blue", "navy, dark", "teal"])
            #expect(model.extractor.classes == ["no", "yes"])
            #expect(model.extractor.statistics[0].missing > 100 && model.extractor.statistics[1].missing > 200)
            let test = try #require(model.testMetrics?.classification)
            #expect(test.accuracy > 0.9, "test accuracy \(test.accuracy)")
            #expect(model.forest.trees.contains { $0.categoricalSplitCount > 0 })

            // The whole file through streaming evaluation, after a save and load.
            let modelPath = dir + "/m.stm"
            try model.save(to: modelPath)
            let loaded = try ForestModel.load(from: modelPath)
            #expect(loaded == model)
            let all = try #require(try StreamingPrediction.evaluate(model: loaded, path: path, threads: 2).classification)
            #expect(all.rowCount == 2000 && all.accuracy > 0.9)

            // Prediction input: columns in another order, no label, an unseen level and missing levels.
            let input = dir + "/predict.csv"
            try Self.write("color,extra,x\nred,1,5\npurple,2,5\nNA,3,5\n,4,5\n\"navy, dark\",5,NA\nblue,6,9.5\n", to: input)
            var predictions: [Double] = []
            var lines: [Int] = []
            try StreamingPrediction.run(model: loaded, path: input, readTargets: false, batchRows: 4, threads: 2) { batch in
                #expect(batch.labels == nil && batch.values == nil)
                predictions += batch.predictions
                lines += batch.lines
            }
            #expect(lines == [2, 3, 4, 5, 6, 7])
            #expect(predictions.count == 12)
            for r in 0..<6 { #expect(abs(predictions[2 * r] + predictions[2 * r + 1] - 1) < 1e-6) }
            // An unseen level is binned as missing: it goes wherever missing colours go.
            #expect(Array(predictions[2..<4]) == Array(predictions[4..<6]))
            #expect(Array(predictions[4..<6]) == Array(predictions[6..<8]))
            #expect(predictions[1] > 0.5, "red with x = 5 is yes")
            #expect(predictions[11] > 0.5, "blue with x = 9.5 is yes")
            // The output text: a header with probabilities, then one line per row.
            let format = PredictionFormat(model: loaded, proba: true)
            var out = format.header(classes: loaded.extractor.classes)
            predictions.withUnsafeBufferPointer { format.appendRows($0, rows: 6, to: &out) }
            let text = String(decoding: out, as: UTF8.self).split(separator: "\n")
            #expect(text.count == 7 && text[0] == "prediction,p_no,p_yes" && text[1].hasPrefix("yes,"))

            // Evaluating needs the label column.
            #expect(throws: ForestError.self) {
                try StreamingPrediction.run(model: loaded, path: input, readTargets: true) { _ in }
            }
        }
    }

    /// y = 4·x1 + sin(x2) + a group offset + noise.
    static func regressionCSV(rows: Int, seed: UInt64) -> String {
        var rng = ForestRNG(seed: seed)
        let groups = ["a": 0.0, "b": 2.0, "c": -1.5]
        let names = groups.keys.sorted()
        var text = "x1,x2,group,y\n"
        for _ in 0..<rows {
            let x1 = rng.nextUnit()
            let x2 = rng.nextUnit() * 6 - 3
            let g = names[rng.nextInt(below: 3)]
            let missing = rng.nextUnit() < 0.05
            let y = 4 * x1 + sin(x2) + groups[g]! + (rng.nextUnit() - 0.5) * 0.2
            text += "\(x1),\(missing ? "" : String(x2)),\(g),\(y)\n"
        }
        return text
    }

    @Test func regressionCSVTrainsAndEvaluates() throws {
        try Self.withDirectory { dir in
            let path = dir + "/reg.csv"
            try Self.write(Self.regressionCSV(rows: 2500, seed: 3), to: path)
            let result = try SingleProcessTraining.run(Self.options(path))
            let model = result.model
            #expect(model.schema.task == .regression && model.forest.task == .regression)
            #expect(model.schema.featureKinds == [.numeric, .numeric, .categorical])
            #expect(result.taskReason.contains("non-integer"), "\(result.taskReason)")
            #expect(model.extractor.classes.isEmpty && model.forest.outputWidth == 1)
            let test = try #require(model.testMetrics?.regression)
            #expect(test.rowCount == UInt64(result.testRows) && test.r2 > 0.9, "test R² \(test.r2)")
            let all = try #require(try StreamingPrediction.evaluate(model: model, path: path, threads: 2).regression)
            #expect(all.rowCount == 2500 && all.r2 > 0.9)
            var targets: [Double] = []
            var predictions: [Double] = []
            try StreamingPrediction.run(model: model, path: path, readTargets: true, batchRows: 1000) { batch in
                #expect(batch.labels == nil)
                targets += batch.values ?? []
                predictions += batch.predictions
            }
            #expect(targets.count == 2500 && predictions.count == 2500)
            var m = RegressionMetrics()
            m.add(predictions: predictions, actual: targets)
            #expect(TestData.close(m.r2, all.r2))
            let format = PredictionFormat(model: model, proba: true)
            #expect(format.width == 1 && !format.proba)
            #expect(String(decoding: format.header(classes: []), as: UTF8.self) == "prediction\n")
            // Same run, one thread: same model.
            var one = Self.options(path)
            one.threads = 1
            #expect(try SingleProcessTraining.run(one).model.fingerprint == model.fingerprint)
        }
    }

    /// `--task auto`: text labels and ≤ 20 distinct integers are classes; non-integers and
    /// more than 20 distinct integers are regression. Explicit choices override it.
    @Test func autoTaskDecisions() throws {
        try Self.withDirectory { dir in
            func infer(_ labels: [String], task: TaskChoice = .auto) throws -> SchemaInference.Inference {
                let path = dir + "/auto-\(UInt32.random(in: 0...UInt32.max)).csv"
                var text = "f,target\n"
                for (i, l) in labels.enumerated() { text += "\(i % 7),\(l)\n" }
                try Self.write(text, to: path)
                var choices = ColumnChoices()
                choices.task = task
                return try SchemaInference.infer(path: path, choices: choices)
            }
            let text = try infer((0..<100).map { ["cat", "dog", "7"][$0 % 3] })
            #expect(text.schema.task == .classification && text.reason.contains("text"))
            let floats = try infer((0..<100).map { String(Double($0 % 5) + 0.5) })
            #expect(floats.schema.task == .regression && floats.reason.contains("non-integer"))
            let manyInts = try infer((0..<100).map { String($0 % 21) })
            #expect(manyInts.schema.task == .regression && manyInts.reason.contains("more than 20"))
            let fewInts = try infer((0..<100).map { String($0 % 20) })
            #expect(fewInts.schema.task == .classification && fewInts.reason.contains("20 distinct"))
            // Integers written as floats are integers.
            #expect(try infer((0..<100).map { "\($0 % 3).0" }).schema.task == .classification)
            // Explicit choices.
            #expect(try infer((0..<100).map { String($0 % 3) }, task: .regression).schema.task == .regression)
            #expect(try infer((0..<100).map { String(Double($0) + 0.5) }, task: .classification).schema.task == .classification)
            #expect(throws: ForestError.self) { try infer((0..<100).map { ["a", "b"][$0 % 2] }, task: .regression) }
            // The feature column is numeric throughout.
            #expect(text.schema.featureKinds == [.numeric] && text.schema.targetName == "target")
        }
    }

    /// `--categorical` and `--ignore`, and the located error of a numeric column that turns
    /// to text after the sample.
    @Test func numericColumnTurningToTextAfterTheSampleIsALocatedError() throws {
        try Self.withDirectory { dir in
            let path = dir + "/late-text.csv"
            var text = "id,zip,x,label\n"
            for i in 0..<300 { text += "\(i),\(10_000 + i % 4),\(i == 250 ? "n/k" : String(Double(i) / 10)),\(i % 2 == 0 ? "a" : "b")\n" }
            try Self.write(text, to: path)
            var options = Self.options(path, trees: 3)
            options.columns.sampleRows = 100
            do {
                _ = try SingleProcessTraining.run(options)
                Issue.record("a text value in a numeric column was accepted")
            } catch let e as CSVError {
                #expect(e.line == 252 && e.column == 3, "\(e)")
                #expect(e.description.contains("late-text.csv") && e.description.contains("n/k"), "\(e)")
                #expect(e.message.contains("first 100 rows") && e.message.contains("--categorical x"), "\(e)")
            }
            // Read as text from the start, with the id ignored and the zip code as levels: it trains.
            options.columns.categorical = ["x", "zip"]
            options.columns.ignore = ["id"]
            let model = try SingleProcessTraining.run(options).model
            #expect(model.schema.featureNames == ["zip", "x"])
            #expect(model.schema.featureKinds == [.categorical, .categorical])
            #expect(model.schema.ignoredNames == ["id"])
            #expect(model.extractor.levels[0].count == 4)
            // Unknown names and an ignored label are refused.
            options.columns.ignore = ["nope"]
            #expect(throws: ForestError.self) { try SingleProcessTraining.run(options) }
            options.columns.ignore = ["label"]
            #expect(throws: ForestError.self) { try SingleProcessTraining.run(options) }
        }
    }

    @Test func duplicateAndEmptyColumnNamesAreRefused() throws {
        try Self.withDirectory { dir in
            for (name, header, needle) in [
                ("dup", "a,b,a,label", "both named `a`"), ("empty", "a,,b,label", "empty column name"),
                ("blank", "a, ,b,label", "empty column name")
            ] {
                let path = dir + "/\(name).csv"
                try Self.write(header + "\n1,2,3,x\n4,5,6,y\n", to: path)
                do {
                    _ = try SingleProcessTraining.run(Self.options(path, trees: 2))
                    Issue.record("header '\(header)' accepted")
                } catch let e as ForestError {
                    #expect(e.message.contains(needle), "\(header): \(e.message)")
                }
            }
            #expect(throws: ForestError.self) { try SchemaInference.checkNames(["x", "y", "x"], file: "f.csv") }
            #expect(throws: Never.self) { try SchemaInference.checkNames(["x", "y", "X"], file: "f.csv") }
        }
    }

    /// Rows sorted by a continuous target train as well as the same rows shuffled: the
    /// assigner spreads them over partitions and test rows, not in contiguous blocks.
    @Test func sortedTargetGivesTheSameR2AsShuffled() throws {
        try Self.withDirectory { dir in
            var rng = ForestRNG(seed: 11)
            func row() -> (String, Double) {
                let x0 = rng.nextUnit() * 4
                let x1 = rng.nextUnit() * 2 - 1
                let y = 2 * x0 + x1 * x1 + (rng.nextUnit() - 0.5) * 0.3
                return ("\(x0),\(x1),\(y)", y)
            }
            var rows = (0..<4000).map { _ in row() }
            let test = (0..<1000).map { _ in row() }
            try Self.write("x0,x1,y\n" + test.map { $0.0 + "\n" }.joined(), to: dir + "/test.csv")
            rows.sort { $0.1 < $1.1 }
            try Self.write("x0,x1,y\n" + rows.map { $0.0 + "\n" }.joined(), to: dir + "/sorted.csv")
            rows.shuffle(using: &rng)
            try Self.write("x0,x1,y\n" + rows.map { $0.0 + "\n" }.joined(), to: dir + "/shuffled.csv")
            func r2(_ file: String, testFile: Bool) throws -> Double {
                var o = Self.options(dir + "/" + file)
                o.partitions = 4
                if testFile { o.testFile = dir + "/test.csv" }
                let result = try SingleProcessTraining.run(o)
                #expect(result.model.schema.task == .regression)
                return try #require(result.model.testMetrics?.regression).r2
            }
            // On a common test file, and on each file's own held-out fifth.
            let sorted = try r2("sorted.csv", testFile: true)
            let shuffled = try r2("shuffled.csv", testFile: true)
            #expect(shuffled > 0.95, "shuffled R² \(shuffled)")
            #expect(abs(sorted - shuffled) < 0.01, "sorted \(sorted) vs shuffled \(shuffled)")
            let sortedHeld = try r2("sorted.csv", testFile: false)
            let shuffledHeld = try r2("shuffled.csv", testFile: false)
            #expect(abs(sortedHeld - shuffledHeld) < 0.01, "held out: sorted \(sortedHeld) vs shuffled \(shuffledHeld)")
        }
    }
}
