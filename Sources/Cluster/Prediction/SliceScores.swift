import Forest
import Foundation

/// The result of a task that scores one tree slice of the model (an `evaluate/pN` task
/// with a tree-range variant): for each of its test rows, in the partition's row order,
/// the slice's partial sums (``ForestSlice/partialSums(binned:threads:)``), and the rows'
/// targets. The coordinator adds the slices' sums in the model's fixed grouping
/// (``ForestScoringLayout/combine(slices:rows:)``) and computes the partition's metrics from
/// them, exactly as an evaluate task holding the whole model would.
///
/// Layout: `STSS`, version 1, then a Forest `ByteWriter` body: pieces (UInt32 each, the
/// slice's layout nodes), values per row (UInt32), the sums (Float64 array), the target
/// kind (0 classes, 1 values) and the targets (Int32 or Float64 array).
public struct SliceScores: Sendable, Equatable {
    public var pieces: [Int]
    public var valuesPerRow: Int
    /// Row-major, `rows × valuesPerRow`.
    public var sums: [Double]
    public var target: TargetColumn

    public var rows: Int { target.count }

    public init(pieces: [Int], valuesPerRow: Int, sums: [Double], target: TargetColumn) {
        self.pieces = pieces
        self.valuesPerRow = valuesPerRow
        self.sums = sums
        self.target = target
    }

    static let magic: [UInt8] = Array("STSS".utf8)
    static let version: UInt8 = 1

    /// Whether a task result is slice scores (rather than an `EvaluationResult`).
    public static func isSliceScores(_ data: Data) -> Bool { data.starts(with: magic) }

    public func serialize() -> Data {
        var w = ByteWriter()
        w.write(array: pieces.map { UInt32(clamping: $0) })
        w.write(UInt32(clamping: valuesPerRow))
        w.write(array: sums)
        switch target {
        case .classes(let c):
            w.write(UInt8(0))
            w.write(array: c)
        case .values(let v):
            w.write(UInt8(1))
            w.write(array: v)
        }
        return Data(Self.magic + [Self.version] + w.bytes)
    }

    public init(deserializing data: Data) throws {
        let bytes = [UInt8](data)
        guard bytes.count > 5, Array(bytes[0..<4]) == Self.magic, bytes[4] == Self.version else {
            throw PipelineError(.badParameters, "not slice scores (STSS version \(Self.version))")
        }
        do {
            var r = ByteReader(bytes, offset: 5, context: "slice scores")
            pieces = try r.readArray(UInt32.self).map(Int.init)
            valuesPerRow = Int(try r.read(UInt32.self))
            sums = try r.readDoubles()
            switch try r.readByte() {
            case 0: target = .classes(try r.readArray(Int32.self))
            case 1: target = .values(try r.readDoubles())
            default: throw ForestError(.corrupted, "slice scores: unknown target kind")
            }
            try r.expectEnd()
        } catch {
            throw PipelineError(.badParameters, "slice scores: \(error)")
        }
        guard sums.count == target.count * valuesPerRow else {
            throw PipelineError(.badParameters, "slice scores: \(sums.count) sums for \(target.count) rows of \(valuesPerRow) values")
        }
    }

    /// The metrics of one partition's test rows from every slice's scores (any order): the
    /// slices must cover the model's trees once and agree on the rows' targets.
    public static func metrics(_ parts: [SliceScores], layout: ForestScoringLayout, task: LearningTask) throws -> EvaluationMetrics {
        guard let first = parts.first else { throw PipelineError(.missingArtifact, "no slice scores to combine") }
        for p in parts where p.target != first.target {
            throw PipelineError(
                .jobFailed, "the slices' evaluate tasks saw different test rows (\(p.rows) and \(first.rows) rows, or other targets)")
        }
        for p in parts where p.valuesPerRow != p.pieces.count * layout.outputWidth {
            throw PipelineError(
                .badParameters, "slice scores: \(p.valuesPerRow) values per row for \(p.pieces.count) piece(s) of \(layout.outputWidth)")
        }
        func go(_ i: Int, _ acc: [(pieces: [Int], values: UnsafeBufferPointer<Double>)]) throws -> [Double] {
            if i == parts.count { return try layout.combine(slices: acc, rows: first.rows) }
            return try parts[i].sums.withUnsafeBufferPointer { try go(i + 1, acc + [(parts[i].pieces, $0)]) }
        }
        let predictions: [Double]
        do { predictions = try go(0, []) } catch { throw PipelineError(.jobFailed, "combining the slices' scores: \(error)") }
        var metrics = EvaluationMetrics(task: task)
        if first.rows > 0 { metrics.add(predictions: predictions, target: first.target) }
        return metrics
    }
}
