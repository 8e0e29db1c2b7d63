import Forest
import Foundation
import SpaceTime
import Testing

@testable import Cluster

@Suite struct PipelineTests {
    @Test func jobParametersRoundTripAndRejectGarbage() throws {
        var forest = ForestParameters()
        forest.trees = 37
        forest.maxDepth = 9
        forest.seed = 1234
        forest.criterion = .entropy
        let schema = DatasetSchema(
            header: ["a", "zip", "id", "y"], targetIndex: 3, task: .regression,
            featureIndices: [0, 1], featureKinds: [.numeric, .categorical])
        let p = ForestJobParameters(forest: forest, schema: schema, maxBins: 63, source: "data/ünïcode.csv", sampledRows: 1000)
        let back = try ForestJobParameters(deserializing: p.serialize())
        #expect(back == p)
        #expect(back.schema.ignoredNames == ["id"] && back.schema.task == .regression && back.sampledRows == 1000)
        #expect(throws: PipelineError.self) { try ForestJobParameters(deserializing: Data("STJP".utf8)) }
        #expect(throws: PipelineError.self) { try ForestJobParameters(deserializing: Data([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])) }
        // Without a derivation the bytes stay version 3 (older workers read them); with one, version 4.
        #expect(p.serialize()[4] == 3)
        var derived = p
        derived.derivation = "loan-ratios-v1"
        #expect(derived.serialize()[4] == 4)
        #expect(try ForestJobParameters(deserializing: derived.serialize()) == derived)
        #expect(try ForestJobParameters(deserializing: p.serialize()).derivation == "")
        var truncated = p.serialize()
        truncated.removeLast(5)
        #expect(throws: (any Error).self) { try ForestJobParameters(deserializing: truncated) }
        // A job reading several files carries their names: version 5, with or without a derivation.
        var parts = p
        parts.files = ["data/part-00000.csv", "data/part-00001.csv.gz", "test.csv"]
        #expect(parts.serialize()[4] == 5)
        #expect(try ForestJobParameters(deserializing: parts.serialize()) == parts)
        parts.derivation = "loan-ratios-v1"
        #expect(try ForestJobParameters(deserializing: parts.serialize()) == parts)
        var single = parts
        single.files = ["data/part-00000.csv"]
        single.derivation = ""
        #expect(throws: PipelineError.self, "a list of one file is never written") {
            try ForestJobParameters(deserializing: single.serialize())
        }
        // A cross-validation job: version 6 with its folds, 7 when it keeps out-of-fold predictions.
        var cv = p
        cv.folds = 5
        #expect(cv.serialize()[4] == 6)
        #expect(try ForestJobParameters(deserializing: cv.serialize()) == cv)
        cv.keepPredictions = true
        #expect(cv.serialize()[4] == 7)
        #expect(try ForestJobParameters(deserializing: cv.serialize()) == cv)
        // Over a grid: version 8 with the grid's text and the partition count; a worker places
        // a (point, fold) block's trees from them as the store does.
        cv.grid = "min-samples-leaf=1,5;trees=6,9"
        cv.partitions = 2
        #expect(cv.serialize()[4] == 8)
        #expect(try ForestJobParameters(deserializing: cv.serialize()) == cv)
        #expect(try cv.pointParameters().map(\.trees) == [6, 9, 6, 9])
        #expect(try cv.pointParameters().map(\.minSamplesLeaf) == [1, 1, 5, 5])
        #expect(try cv.pointLabels()[1] == "min-samples-leaf=1 trees=9")
        let layout = try cv.foldLayout(partition: 1, treesInPartition: 5 * (3 + 4 + 3 + 4))
        #expect(layout.shares == [3, 4, 3, 4])
        var spec = JobSpec(jobID: "j", dataFiles: [], parameters: Data(), seed: 1, partitions: 2, testFraction: 0, trees: 6)
        spec.folds = 5
        spec.pointTrees = [6, 9, 6, 9]
        #expect(spec.foldLayout(partition: 1) == layout)
        #expect(throws: PipelineError.self) { try cv.foldLayout(partition: 1, treesInPartition: 50) }
        var bad = cv
        bad.partitions = 0
        #expect(throws: PipelineError.self) { try ForestJobParameters(deserializing: bad.serialize()) }
    }

    /// With `numbersFiles` each record carries its file's number in the job's file list
    /// (a directory's parts, then the test file), and lines restart in every file.
    @Test func recordSourceNumbersTheFilesOfPartsAndTestFile() throws {
        let dir = NSTemporaryDirectory() + "st-pipeline-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir + "/parts", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for (name, rows) in [("parts/p-0.csv", 3), ("parts/p-1.csv", 2), ("test.csv", 2)] {
            try ("x,label\n" + (0..<rows).map { "\($0),\(["a", "b"][$0 % 2])\n" }.joined())
                .write(toFile: dir + "/" + name, atomically: true, encoding: .utf8)
        }
        #expect(
            CoordinatorJob.jobFiles(dir + "/parts", dir + "/test.csv", logger: .discarding)
                == [dir + "/parts/p-0.csv", dir + "/parts/p-1.csv", dir + "/test.csv"])
        #expect(CoordinatorJob.jobFiles(dir + "/test.csv", nil, logger: .discarding) == [], "one file: no list")
        for numbered in [true, false] {
            let source = try CSVRecordSource(
                path: dir + "/parts", labelIndex: 1, seed: 9, testFraction: 0.25, partitions: 2,
                testPath: dir + "/test.csv", numbersFiles: numbered)
            var got: [(UInt32, UInt64)] = []
            while let record = try source.next() { got.append((record.file, record.line)) }
            #expect(got.map(\.1) == [2, 3, 4, 2, 3, 2, 3])
            #expect(got.map(\.0) == (numbered ? [1, 1, 1, 2, 2, 3, 3] : [0, 0, 0, 0, 0, 0, 0]))
        }
    }

    @Test func layoutFromSchemaResolvesColumnsLikeLabeledCSV() throws {
        var schema = WireCsvSchema()
        schema.headerRecord = Data("a,\"b,c\",label,d".utf8)
        schema.labelColumn = 2
        schema.delimiter = 44
        schema.columnCount = 4
        let layout = try CSVLayout(schema: .init(wire: schema))
        #expect(layout.header == ["a", "b,c", "label", "d"])
        #expect(layout.featureIndices == [0, 1, 3])
        #expect(layout.featureNames == ["a", "b,c", "d"])
        #expect(layout.labelName == "label")
        schema.columnCount = 5
        #expect(throws: PipelineError.self) { try CSVLayout(schema: .init(wire: schema)) }
    }

    /// The coordinator's record source assigns rows exactly as the single-process
    /// pipeline does (same assigner, same order), forwards raw bytes, and locates a missing label.
    @Test func recordSourceAssignsLikeTheSingleProcessRun() throws {
        let dir = NSTemporaryDirectory() + "st-pipeline-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var text = "x,y,label\n"
        for i in 0..<500 { text += "\(i),\(Double(i) * 0.5),\(["a", "b", "c"][i % 7 % 3])\n" }
        try text.write(toFile: dir + "/d.csv", atomically: true, encoding: .utf8)
        let source = try CSVRecordSource(path: dir + "/d.csv", labelIndex: 2, seed: 9, testFraction: 0.25, partitions: 4)
        var reference = try StratifiedAssigner(seed: 9, testFraction: 0.25, partitions: 4)
        let lines = text.split(separator: "\n").dropFirst()
        var count = 0
        for line in lines {
            let record = try #require(try source.next())
            let expected = reference.assign(classKey: String(line.split(separator: ",")[2]))
            #expect(record.partition == expected.partition && record.isTest == expected.isTest)
            #expect(String(decoding: record.bytes, as: UTF8.self) == String(line))
            #expect(record.line == UInt64(count + 2))
            count += 1
        }
        #expect(try source.next() == nil)
        try "x,y,label\n1,2,a\n3,4,\n".write(toFile: dir + "/bad.csv", atomically: true, encoding: .utf8)
        let bad = try CSVRecordSource(path: dir + "/bad.csv", labelIndex: 2, seed: 9, testFraction: 0.25, partitions: 4)
        _ = try bad.next()
        #expect { try bad.next() } throws: { error in
            "\(error)".contains("bad.csv:3") && "\(error)".contains("missing label")
        }
    }

    @Test func blobDigestsAre32BytesAndDistinguishContent() {
        #expect(Digest.of([UInt8](repeating: 1, count: 10)).count == 32)
        #expect(Digest.of([1, 2, 3]) != Digest.of([1, 2, 4]))
    }
}
