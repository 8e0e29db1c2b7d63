import Foundation
import SpaceTime
import Testing

@testable import Forest

/// The stored tree form (one node word per node) against its logical view, format 2
/// files, and corrupt or unrepresentable trees.
@Suite struct CompactModelTests {
    /// Root: categorical split of feature 0 on levels {1, 3} (set 0) → nodes 1, 2;
    /// node 1: numeric split of feature 1 at bin 3, missing left → nodes 3, 4; leaves 2, 3, 4.
    static func handTree() throws -> Tree {
        var set: [UInt64] = [0, 0, 0, 0]
        for b in [1, 3] { set[b >> 6] |= 1 << UInt64(b & 63) }
        return try Tree(
            outputWidth: 2, featureCount: 2, depth: 2,
            feature: [0, 1, -1, -1, -1], split: [0, 3, 0, 0, 0],
            flags: [Tree.categoricalSplit, Tree.missingGoesLeft, 0, 0, 0], child: [1, 3, 0, 1, 2],
            levelSets: set, leafValues: [0.25, 0.75, 1, 0, 0.5, 0.5], importances: [2, 1], context: "hand tree")
    }

    @Test func theLogicalViewIsWhatWasBuilt() throws {
        let t = try Self.handTree()
        #expect(t.nodes.count == 5 && t.categoricalSplitCount == 1)
        #expect((0..<5).map(t.feature) == [0, 1, -1, -1, -1])
        #expect((0..<5).map(t.split) == [0, 3, 0, 0, 0])
        #expect((0..<5).map(t.flags) == [Tree.categoricalSplit, Tree.missingGoesLeft, 0, 0, 0])
        #expect((0..<5).map(t.child) == [1, 3, 0, 1, 2])
        #expect(t.levelSet(node: 0) == [1, 3])
        #expect((0..<256).filter { t.goesLeft(node: 1, bin: UInt8($0)) } == [0, 1, 2, 3, 255])
        #expect(t.storedBytes == 5 * 8 + 5 * 8 + 6 * 4 + 2 * 8)
        // Rows (feature 0 level, feature 1 bin) reach the leaves the splits say.
        let rows: [(UInt8, UInt8, Int)] = [(1, 2, 1), (3, 255, 1), (1, 4, 2), (0, 0, 0), (255, 0, 0)]
        let bins = rows.map(\.0) + rows.map(\.1)
        bins.withUnsafeBufferPointer { b in
            for (r, row) in rows.enumerated() { #expect(t.leaf(binned: b, rowCount: rows.count, row: r) == row.2) }
        }
        #expect(try Tree(deserializing: t.serialize()) == t)
    }

    @Test func formatTwoTreesDecodeToTheSameTree() throws {
        let model = try ModelFileTests.smallModel()
        for tree in model.forest.trees + [try Self.handTree()] {
            var w = ByteWriter()
            tree.writeLogical(to: &w)
            #expect(try Tree(deserializing: w.bytes) == tree)
        }
    }

    /// A format 2 file (trees in their logical arrays) loads, with the fingerprint it had.
    @Test func formatTwoFilesStillLoad() throws {
        let model = try ModelFileTests.smallModel()
        var w = ByteWriter()
        for b in ForestModel.payloadMagic { w.write(b) }
        model.schema.write(to: &w)
        model.extractor.write(to: &w)
        model.parameters.write(to: &w)
        model.forest.writeHeader(to: &w)
        for tree in model.forest.trees { tree.writeLogical(to: &w) }
        for m in [model.testMetrics, model.outOfBagMetrics] {
            w.write(m != nil)
            m?.write(to: &w)
        }
        let keys = model.provenance.keys.sorted()
        w.write(strings: keys)
        w.write(strings: keys.map { model.provenance[$0]! })
        let path = ModelFileTests.temporaryPath("v2.stm")
        defer { unlink(path) }
        try CheckpointFile.write(w.bytes, to: path, kind: ForestModel.checkpointKind, version: 2)
        let loaded = try ForestModel.load(from: path)
        #expect(loaded == model)
        #expect(loaded.fingerprint == model.fingerprint)
        // Written again, it is a format 3 file of fewer bytes.
        #expect(loaded.serialize().count < w.bytes.count)
    }

    @Test func unrepresentableAndCorruptTreesAreRejected() throws {
        func logical(feature: [Int32], split: [UInt32], flags: [UInt8], child: [Int32], sets: Int) throws -> Tree {
            try Tree(
                outputWidth: 1, featureCount: 2, depth: 1, feature: feature, split: split, flags: flags, child: child,
                levelSets: Array(repeating: 1, count: 4 * sets), leafValues: [1, 2], importances: [0, 0], context: "t")
        }
        // Valid: a categorical root on set 0.
        _ = try logical(feature: [0, -1, -1], split: [0, 0, 0], flags: [2, 0, 0], child: [1, 0, 1], sets: 1)
        // A set no node uses, or one used twice.
        #expect(throws: ForestError.self) {
            try logical(feature: [0, -1, -1], split: [0, 0, 0], flags: [2, 0, 0], child: [1, 0, 1], sets: 2)
        }
        #expect(throws: ForestError.self) {
            try logical(feature: [0, 0, -1, -1, -1], split: [0, 0, 0, 0, 0], flags: [2, 2, 0, 0, 0], child: [1, 3, 0, 1, 0], sets: 1)
        }
        // A leaf with a split or flags; a threshold at the missing bin; a child before its parent.
        #expect(throws: ForestError.self) {
            try logical(feature: [1, -1, -1], split: [0, 0, 4], flags: [0, 0, 0], child: [1, 0, 1], sets: 0)
        }
        #expect(throws: ForestError.self) {
            try logical(feature: [1, -1, -1], split: [0, 0, 0], flags: [0, 1, 0], child: [1, 0, 1], sets: 0)
        }
        #expect(throws: ForestError.self) {
            try logical(feature: [1, -1, -1], split: [255, 0, 0], flags: [0, 0, 0], child: [1, 0, 1], sets: 0)
        }
        #expect(throws: ForestError.self) {
            try logical(feature: [1, -1, -1], split: [0, 0, 0], flags: [0, 0, 0], child: [0, 0, 1], sets: 0)
        }
        // Stored words: bits set that no logical node has.
        let good = try Self.handTree()
        for (node, word) in [(2, good.nodes[2] | 1), (2, good.nodes[2] | 1 << 30), (0, good.nodes[0] | 5), (1, good.nodes[1] & ~0xFF)] {
            var t = good
            t.nodes[node] = word
            #expect(throws: ForestError.self, "node \(node) word \(String(word, radix: 16))") { try Tree(deserializing: t.serialize()) }
        }
    }
}
