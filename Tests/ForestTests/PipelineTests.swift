import Foundation
import Testing

@testable import Forest

/// The single-process pipeline on small CSV files written by the generator.
@Suite(.serialized) struct PipelineTests {
    static func writeCSV(rows: Int, classes: Int = 2, seed: UInt64 = 5) throws -> String {
        var c = SyntheticClassification.Configuration()
        c.features = 8
        c.informative = 4
        c.redundant = 2
        c.classes = classes
        c.seed = seed
        let path = ModelFileTests.temporaryPath("data.csv")
        var bytes: [UInt8] = []
        try SyntheticClassification(c).writeCSV(rows: rows) { bytes += $0 }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func trainsEvaluatesAndPredictsFromCSV() throws {
        let path = try Self.writeCSV(rows: 1500, classes: 3)
        defer { unlink(path) }
        var options = TrainingOptions(trainFile: path)
        options.parameters.trees = 12
        options.threads = 2
        options.partitions = 3
        let result = try SingleProcessTraining.run(options)
        #expect(result.trainRows + result.testRows == 1500)
        #expect(abs(Double(result.testRows) - 300) <= 3)
        #expect(result.partitionRows.count == 3)
        let metrics = try #require(result.model.testMetrics?.classification)
        #expect(metrics.rowCount == UInt64(result.testRows))
        #expect(metrics.accuracy > 0.6)
        // Same run, one thread: same model.
        options.threads = 1
        #expect(try SingleProcessTraining.run(options).model.fingerprint == result.model.fingerprint)
        // Streaming evaluation of the whole file agrees on the row count and is better than chance.
        let all = try #require(try StreamingPrediction.evaluate(model: result.model, path: path, threads: 2).classification)
        #expect(all.rowCount == 1500)
        #expect(all.accuracy > metrics.accuracy - 0.05)
    }

    /// `--partitions P`: every partition is binned with the edges fitted on all training
    /// rows (the same edges as one partition), and the merged forest weighs each
    /// partition's trees by its training rows.
    @Test func partitionedRunUsesGlobalEdgesAndRowWeights() throws {
        let path = try Self.writeCSV(rows: 2000, seed: 9)
        defer { unlink(path) }
        var options = TrainingOptions(trainFile: path)
        options.parameters.trees = 10
        options.threads = 2
        let one = try SingleProcessTraining.run(options)
        options.partitions = 4
        let four = try SingleProcessTraining.run(options)
        #expect(four.model.extractor.edges == one.model.extractor.edges)
        #expect(four.model.extractor.classCounts == one.model.extractor.classCounts)
        #expect(four.partitionRows.reduce(0, +) == one.trainRows)
        let weights = four.model.forest.treeWeights
        var t = 0
        for p in 0..<4 {
            let share = ForestTrainer.treeShare(totalTrees: 10, partitions: 4, partition: p).count
            let expected = Double(four.partitionRows[p]) / Double(four.trainRows) / Double(share)
            for _ in 0..<share {
                #expect(abs(weights[t] - expected) < 1e-15)
                t += 1
            }
        }
        #expect(t == 10)
    }

    /// A column read as numeric from the sample that holds text later is a located
    /// error naming the line, the column and the option to set; an unknown label column is refused.
    @Test func badInputGivesLocatedErrors() throws {
        let path = ModelFileTests.temporaryPath("bad.csv")
        defer { unlink(path) }
        try "a,b,label\n1,2,x\n3,oops,y\n".write(toFile: path, atomically: true, encoding: .utf8)
        var sampled = TrainingOptions(trainFile: path)
        sampled.columns.sampleRows = 1
        do {
            _ = try SingleProcessTraining.run(sampled)
            Issue.record("bad number accepted")
        } catch {
            let text = String(describing: error)
            #expect(text.contains("bad.csv") && text.contains("line 3") && text.contains("column 2") && text.contains("oops"), "\(text)")
            #expect(text.contains("--categorical b"), "\(text)")
        }
        // Seen in the sample, the text makes the column categorical: the file trains.
        var options = TrainingOptions(trainFile: path)
        options.testFraction = 0
        options.parameters.trees = 2
        let model = try SingleProcessTraining.run(options).model
        #expect(model.schema.featureKinds == [.numeric, .categorical])
        options.columns.target = "nope"
        #expect(throws: ForestError.self) { try SingleProcessTraining.run(options) }
    }
}
