import Foundation

/// How a worker's prediction block travels back: in batches of ``batchRows`` rows, each
/// row's predictions (from `BatchScorer`, as `spacetime predict` computes them) as
/// little-endian Float64.
enum BlockScoring {
    /// Rows per `prediction_batch`.
    static let batchRows = 8192

    /// `count` values from `start` as little-endian Float64 bytes.
    static func encode(_ values: [Double], from start: Int, count: Int) -> Data {
        var data = Data(count: count * 8)
        data.withUnsafeMutableBytes { raw in
            for i in 0..<count { raw.storeBytes(of: values[start + i].bitPattern.littleEndian, toByteOffset: i * 8, as: UInt64.self) }
        }
        return data
    }
}
