import Foundation
import Testing

@testable import Forest

@Suite struct DatasetTransformTests {
    @Test func npyHeaderIsAlignedAndDescribesTheArray() {
        let h = NpyHeader(type: .float32, shape: [3, 2]).encoded()
        #expect(h.count % 64 == 0)
        #expect(Array(h[0..<8]) == [0x93] + Array("NUMPY".utf8) + [1, 0])
        #expect(Int(h[8]) | Int(h[9]) << 8 == h.count - 10)
        let dict = String(decoding: h[10...], as: UTF8.self)
        #expect(dict.hasPrefix("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }"))
        #expect(dict.hasSuffix("\n"))
        let v = String(decoding: NpyHeader(type: .int64, shape: [5], fortranOrder: true).encoded()[10...], as: UTF8.self)
        #expect(v.hasPrefix("{'descr': '<i8', 'fortran_order': True, 'shape': (5,), }"))
        #expect(NpyHeader(type: .uint8, shape: [4, 3]).dataBytes == 12)
    }

    /// The shard file's elements after its header.
    static func elements<T>(_ path: String, as _: T.Type) throws -> [T] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let headerLength = 10 + Int(data[8]) | Int(data[9]) << 8
        return data.dropFirst(headerLength).withUnsafeBytes { Array($0.bindMemory(to: T.self)) }
    }

    @Test func shardsHoldCodesValuesAndLabelsInInputOrder() throws {
        let dir = try TestData.temporaryDirectory("transform")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var csv = "colour,size,label\n"
        // Kept levels need 10 rows here (1 % of the rows, at least 10): violet goes to "other".
        let colours = Array(repeating: ["red", "blue", "red", "", "green", "red", "blue"], count: 10).flatMap { $0 } + ["violet"]
        for (i, c) in colours.enumerated() { csv += "\(c),\(i == 2 ? "NA" : String(Double(i) * 1.5)),\(i % 2 == 0 ? "a" : "b")\n" }
        let file = dir + "/data.csv"
        try csv.write(toFile: file, atomically: true, encoding: .utf8)
        var choices = ColumnChoices()
        choices.task = .classification
        let transform = try DatasetTransform.fit(path: file, columns: choices)
        var options = DatasetTransform.Options()
        options.shardRows = 3
        let manifest = try transform.run(path: file, directory: dir + "/out", options: options)
        #expect(manifest.rows == 71)
        #expect(manifest.shards.map(\.rows) == Array(repeating: 3, count: 23) + [2])
        #expect(manifest.shards.prefix(3).map(\.firstLine) == [2, 5, 8])
        #expect(manifest.features.map(\.kind) == ["categorical", "numeric"])
        #expect(manifest.label?.classes == ["a", "b"])
        let levels = try #require(manifest.features[0].levels)
        var values: [Float] = []
        var labels: [Int64] = []
        for s in manifest.shards {
            values += try Self.elements(dir + "/out/" + s.features, as: Float.self)
            labels += try Self.elements(dir + "/out/" + (s.labels ?? ""), as: Int64.self)
        }
        #expect(values.count == 142)
        #expect(Set(levels) == ["red", "blue", "green"])
        #expect(manifest.features[0].otherCode == 3)
        for (i, c) in colours.enumerated() {
            let code = values[2 * i]
            let size = values[2 * i + 1]
            if c.isEmpty { #expect(code.isNaN) } else if c == "violet" { #expect(code == 3) } else { #expect(levels[Int(code)] == c) }
            if i == 2 { #expect(size.isNaN) } else { #expect(size == Float(Double(i) * 1.5)) }
            #expect(labels[i] == Int64(i % 2))
        }
        let json =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/out/manifest.json"))) as? [String: Any]
        #expect(json?["dtype"] as? String == "float32")
        #expect((json?["shards"] as? [[String: Any]])?.first?["first_line"] as? Int == 2)

        // A second run into the same directory with bigger shards leaves none of the first run's
        // 24 shards behind; other files stay.
        try "keep".write(toFile: dir + "/out/notes.txt", atomically: true, encoding: .utf8)
        options.shardRows = 50
        let again = try transform.run(path: file, directory: dir + "/out", options: options)
        let files = try FileManager.default.contentsOfDirectory(atPath: dir + "/out").sorted()
        #expect(again.shards.count == 2)
        #expect(files == ["features-00000.npy", "features-00001.npy", "labels-00000.npy", "labels-00001.npy", "manifest.json", "notes.txt"])
        #expect(!DatasetTransform.isRunOutput("features-0000x.npy") && DatasetTransform.isRunOutput("labels-00012.npy"))
    }

    @Test func binnedShardsAreTheForestsBins() throws {
        let dir = try TestData.temporaryDirectory("transform-binned")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var csv = "x,kind,y\n"
        var rng = ForestRNG(seed: 3)
        var rows: [(Double, String)] = []
        for i in 0..<500 {
            let x = (rng.nextUnit() * 100).rounded() / 4
            let k = ["p", "q", "r"][i % 3]
            rows.append((x, k))
            csv += "\(i % 50 == 0 ? "" : String(x)),\(k),\(x * 2 + 1)\n"
        }
        let file = dir + "/data.csv"
        try csv.write(toFile: file, atomically: true, encoding: .utf8)
        let transform = try DatasetTransform.fit(path: file, columns: ColumnChoices())
        #expect(transform.extractor.task.kind == .regression)
        var options = DatasetTransform.Options()
        options.binned = true
        options.shardRows = 200
        let manifest = try transform.run(path: file, directory: dir + "/out", options: options)
        var bins: [UInt8] = []
        var targets: [Double] = []
        for s in manifest.shards {
            // Column-major per shard: the x column, then the kind column.
            let b = try Self.elements(dir + "/out/" + s.features, as: UInt8.self)
            for r in 0..<s.rows { bins += [b[r], b[s.rows + r]] }
            targets += try Self.elements(dir + "/out/" + (s.labels ?? ""), as: Double.self)
        }
        for (i, (x, k)) in rows.enumerated() {
            #expect(bins[2 * i] == (i % 50 == 0 ? FeatureExtractor.missingBin : transform.extractor.bin(x, feature: 0)))
            #expect(bins[2 * i + 1] == transform.extractor.bin(level: k, feature: 1))
            #expect(targets[i] == x * 2 + 1)
        }
        #expect(manifest.dtype == "uint8")
        #expect(manifest.label?.dtype == "float64")
    }
}
