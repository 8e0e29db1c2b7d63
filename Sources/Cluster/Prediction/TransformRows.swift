import Foundation

/// How a transform task's rows travel back to the coordinator (`transform --workers`): per
/// row ``width(features:)`` little-endian Float64 — the row's source line, its label (class
/// index or target; NaN when the input has no label column), then its `d` parsed (derived)
/// feature values — in `prediction_batch` messages, so the coordinator's
/// `TransformShardWriter` gets exactly the rows a single-process transform parses.
enum TransformRows {
    static func width(features d: Int) -> Int { d + 2 }

    /// The rows `rows` of a block: `lines[r]`, `labels?[r]`, `values[r*d..<(r+1)*d]`.
    static func encode(rows: Range<Int>, lines: [UInt64], values: [Double], labels: [Double]?, features d: Int) -> Data {
        let w = width(features: d)
        var data = Data(count: rows.count * w * 8)
        data.withUnsafeMutableBytes { raw in
            var offset = 0
            func put(_ x: Double) {
                raw.storeBytes(of: x.bitPattern.littleEndian, toByteOffset: offset, as: UInt64.self)
                offset += 8
            }
            for r in rows {
                put(Double(lines[r]))
                put(labels?[r] ?? .nan)
                for f in 0..<d { put(values[r * d + f]) }
            }
        }
        return data
    }

    /// Appends the `rows` rows of `payload` (as ``encode(rows:lines:values:labels:features:)``
    /// wrote them) to `values`, `lines` and `labels`.
    static func decode(_ payload: Data, rows: Int, features d: Int, values: inout [Double], lines: inout [Int], labels: inout [Double]) {
        payload.withUnsafeBytes { raw in
            var offset = 0
            func get() -> Double {
                defer { offset += 8 }
                return Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)))
            }
            for _ in 0..<rows {
                lines.append(Int(get()))
                labels.append(get())
                for _ in 0..<d { values.append(get()) }
            }
        }
    }
}
