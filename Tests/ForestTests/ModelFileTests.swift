import Foundation
import SpaceTime
import Testing

@testable import Forest

@Suite struct ModelFileTests {
    static func smallModel() throws -> ForestModel {
        let data = try TestData.synthetic(rows: 400, features: 6, classes: 3)
        let (extractor, p) = try TestData.binned(values: data.values, labels: data.labels, features: 6)
        var params = ForestParameters()
        params.trees = 5
        let forest = try TestData.forest(
            ForestTrainer(parameters: params, threads: 2).trainTrees(partition: p, partitionIndex: 0, range: 0..<5))
        var m = MetricsAggregate(classCount: 3)
        m.add(probabilities: forest.predictProba(binned: p), labels: p.labels)
        return try TestData.forestModel(extractor, forest, params, testMetrics: .classification(m), provenance: ["host": "test"])
    }

    static func temporaryPath(_ name: String) -> String {
        NSTemporaryDirectory() + "forest-\(getpid())-\(UInt64.random(in: 0...UInt64.max))-\(name)"
    }

    @Test func saveLoadRoundTrips() throws {
        let model = try Self.smallModel()
        let path = Self.temporaryPath("m.stm")
        defer { unlink(path) }
        try model.save(to: path)
        let loaded = try ForestModel.load(from: path)
        #expect(loaded == model)
        #expect(loaded.fingerprint == model.fingerprint)
        // Provenance and metrics are outside the fingerprint.
        var other = model
        other.provenance["host"] = "elsewhere"
        other.testMetrics = nil
        #expect(other.fingerprint == model.fingerprint)
        // Trees are inside it.
        var params = model.parameters
        params.seed += 1
        let changed = try ForestModel(schema: model.schema, extractor: model.extractor, parameters: params, forest: model.forest)
        #expect(changed.fingerprint != model.fingerprint)
    }

    @Test func everyFlippedByteIsDetected() throws {
        let model = try Self.smallModel()
        let path = Self.temporaryPath("flip.stm")
        defer { unlink(path) }
        try model.save(to: path)
        let original = try Array(Data(contentsOf: URL(fileURLWithPath: path)))
        var rng = ForestRNG(seed: 4)
        for position in [0, 9, 20, 45, original.count / 2, original.count - 1] + (0..<20).map({ _ in rng.nextInt(below: original.count) }) {
            var bytes = original
            bytes[position] ^= 0x10
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            #expect(throws: ForestError.self, "flipped byte \(position) was not detected") { try ForestModel.load(from: path) }
        }
        try Data(original.prefix(original.count - 5)).write(to: URL(fileURLWithPath: path))
        #expect(throws: ForestError.self) { try ForestModel.load(from: path) }
    }

    @Test func otherVersionIsAClearError() throws {
        let model = try Self.smallModel()
        let path = Self.temporaryPath("v.stm")
        defer { unlink(path) }
        try CheckpointFile.write(model.serialize(), to: path, kind: ForestModel.checkpointKind, version: ForestModel.formatVersion + 1)
        do {
            _ = try ForestModel.load(from: path)
            Issue.record("loading a future version succeeded")
        } catch let e as ForestError {
            #expect(e.code == .unsupportedVersion)
            #expect(e.message.contains("version 2"))
        }
        try CheckpointFile.write([1, 2, 3], to: path, kind: CheckpointFile.kind("TREE"))
        #expect(throws: ForestError.self) { try ForestModel.load(from: path) }
    }

    @Test func partsRoundTrip() throws {
        let model = try Self.smallModel()
        for tree in model.forest.trees { #expect(try Tree(deserializing: tree.serialize()) == tree) }
        #expect(try ForestParameters(deserializing: model.parameters.serialize()) == model.parameters)
        var bad = model.forest.trees[0].serialize()
        // A feature index out of range: rejected rather than traversed.
        bad[16 + 8 + 3] = 0xFF
        #expect(throws: ForestError.self) { try Tree(deserializing: bad) }
        #expect(throws: ForestError.self) { try ForestModel(deserializing: Array(model.serialize().dropLast(1))) }
    }
}

/// The model's canonical bytes are written in bulk and its fingerprint is
/// streamed tree by tree; both must equal the element-by-element definition.
@Suite struct ModelCanonicalBytesTests {
    @Test func treeHashAndSizeMatchItsBytes() throws {
        let model = try ModelFileTests.smallModel()
        for tree in model.forest.trees {
            let bytes = tree.serialize()
            #expect(bytes.count == tree.serializedSize)
            var streamed = XXHash64(seed: 3)
            tree.hash(into: &streamed)
            var logical = ByteWriter()
            tree.writeLogical(to: &logical)
            var oneShot = XXHash64(seed: 3)
            oneShot.update(logical.bytes)
            #expect(streamed.finalize() == oneShot.finalize())
            // Bulk bit-pattern writes equal the per-value encoding.
            var w = ByteWriter()
            w.writeBitPatterns(tree.importances)
            w.writeBitPatterns(tree.leafValues)
            var v = ByteWriter()
            v.write(array: tree.importances)
            v.write(array: tree.leafValues)
            #expect(w.bytes == v.bytes)
            #expect(try Tree(deserializing: bytes) == tree)
        }
    }

    @Test func fingerprintIsTheHashOfTheConcatenatedCanonicalBytes() throws {
        let model = try ModelFileTests.smallModel()
        var w = ByteWriter()
        model.schema.write(to: &w)
        model.extractor.write(to: &w)
        model.parameters.write(to: &w)
        model.forest.writeHeader(to: &w)
        for tree in model.forest.trees { tree.writeLogical(to: &w) }
        var h = XXHash64(seed: 0)
        h.update(w.bytes)
        #expect(model.fingerprint == h.finalize())
        #expect(w.bytes.count > model.forest.serializedSize)
        let again = try ForestModel(deserializing: model.serialize())
        #expect(again.fingerprint == model.fingerprint)
    }
}

extension ModelCanonicalBytesTests {
    /// The packed, interleaved binned prediction gives bit-identical probabilities to
    /// walking each tree node by node (`Tree.leaf`) and summing in tree order.
    @Test func packedBinnedPredictionEqualsTheNodeByNodeWalk() throws {
        let data = try TestData.synthetic(rows: 1_003, features: 6, classes: 3)
        let (_, p) = try TestData.binned(values: data.values, labels: data.labels, features: 6)
        var params = ForestParameters()
        params.trees = 7
        let forest = try TestData.forest(
            ForestTrainer(parameters: params, threads: 2).trainTrees(partition: p, partitionIndex: 0, range: 0..<7))
        let C = forest.classCount
        // One partition's trees weigh equally: the prediction is Σ leaf / T exactly, summed in tree order.
        var expected = [Double](repeating: 0, count: p.rowCount * C)
        p.bins.withUnsafeBufferPointer { bins in
            for r in 0..<p.rowCount {
                for tree in forest.trees {
                    let leaf = tree.leaf(binned: bins, rowCount: p.rowCount, row: r)
                    for c in 0..<C { expected[r * C + c] += Double(tree.leafValues[leaf * C + c]) }
                }
                for c in 0..<C { expected[r * C + c] /= Double(forest.trees.count) }
            }
        }
        #expect(forest.predictProba(binned: p, threads: 1) == expected)
        #expect(forest.predictProba(binned: p, threads: 2) == expected)
    }
}
