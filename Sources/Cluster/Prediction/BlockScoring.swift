import Dispatch
import Foundation
import Forest

/// A worker's scoring of one prediction block: the same calls as
/// `StreamingPrediction` (`predictProba(rawRows:)` over 512-row chunks, in
/// parallel over threads), so the probabilities are bit-identical to the
/// single-process command's.
enum BlockScoring {
    /// Rows per `prediction_batch`.
    static let batchRows = 8192

    /// Row-major class probabilities of `rows` rows of `features` raw values.
    static func probabilities(_ forest: RandomForest, values: [Double], rows: Int, features d: Int, threads: Int) -> [Double] {
        let C = forest.classCount
        var probs = [Double](repeating: 0, count: rows * C)
        guard rows > 0 else { return probs }
        let chunk = 512
        let chunks = (rows + chunk - 1) / chunk
        values.withUnsafeBufferPointer { v in
            probs.withUnsafeMutableBufferPointer { p in
                let source = UnsafeSendable(v.baseAddress!), target = UnsafeSendable(p.baseAddress!)
                let work: @Sendable (Int) -> Void = { ci in
                    let lo = ci * chunk, hi = min(rows, lo + chunk)
                    forest.predictProba(rawRows: UnsafeBufferPointer(start: source.pointer + lo * d, count: (hi - lo) * d), rowCount: hi - lo,
                                        into: UnsafeMutableBufferPointer(start: target.pointer + lo * C, count: (hi - lo) * C))
                }
                if threads > 1 && chunks > 1 { DispatchQueue.concurrentPerform(iterations: chunks, execute: work) }
                else { for ci in 0..<chunks { work(ci) } }
            }
        }
        return probs
    }

    /// `count` values from `start` as little-endian Float64 bytes.
    static func encode(_ values: [Double], from start: Int, count: Int) -> Data {
        var data = Data(count: count * 8)
        data.withUnsafeMutableBytes { raw in
            for i in 0..<count { raw.storeBytes(of: values[start + i].bitPattern.littleEndian, toByteOffset: i * 8, as: UInt64.self) }
        }
        return data
    }
}

private struct UnsafeSendable<P>: @unchecked Sendable {
    let pointer: P
    init(_ pointer: P) { self.pointer = pointer }
}
