import Foundation
import SpaceTime

/// The opaque `assignment.parameters` of a predict task: where the input
/// came from (for located errors) and which CSV columns feed the model.
///
/// Layout: `STPP`, version 1, source path (UInt16 LE length + UTF-8),
/// feature count (UInt32 LE) and that many column indices (UInt32 LE, in the
/// model's feature order), label column (Int32 LE, −1 when the input has none).
public struct PredictionParameters: Sendable, Hashable {
    /// The input path as the user gave it: errors read `PATH:LINE: column …` as in `spacetime predict`.
    public var source: String
    /// CSV column of each model feature, in the model's feature order.
    public var featureIndices: [Int]
    /// The model's label column in the input, if present (a missing label there is an error, as in one process).
    public var labelIndex: Int?

    public init(source: String, featureIndices: [Int], labelIndex: Int?) {
        self.source = source
        self.featureIndices = featureIndices
        self.labelIndex = labelIndex
    }

    static let magic: [UInt8] = Array("STPP".utf8)

    public func serialize() -> Data {
        var out = Data(Self.magic)
        out.append(1)
        let name = Array(source.utf8.prefix(4096))
        withUnsafeBytes(of: UInt16(name.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: name)
        withUnsafeBytes(of: UInt32(featureIndices.count).littleEndian) { out.append(contentsOf: $0) }
        for i in featureIndices { withUnsafeBytes(of: UInt32(i).littleEndian) { out.append(contentsOf: $0) } }
        withUnsafeBytes(of: Int32(labelIndex ?? -1).littleEndian) { out.append(contentsOf: $0) }
        return out
    }

    /// Decodes and checks every column index against `columns`.
    public init(deserializing data: Data, columns: Int) throws {
        let bytes = [UInt8](data)
        var at = 0
        func take(_ n: Int) throws -> ArraySlice<UInt8> {
            guard n >= 0, at + n <= bytes.count else {
                throw PipelineError(.badParameters, "prediction parameters truncated at byte \(at)")
            }
            defer { at += n }
            return bytes[at..<(at + n)]
        }
        func u32() throws -> UInt32 { try take(4).reversed().reduce(0) { $0 << 8 | UInt32($1) } }
        guard Array(try take(4)) == Self.magic, try take(1).first == 1 else {
            throw PipelineError(.badParameters, "not prediction parameters (STPP version 1)")
        }
        let nameLength = Int(try take(2).reversed().reduce(UInt16(0)) { $0 << 8 | UInt16($1) })
        source = String(decoding: try take(nameLength), as: UTF8.self)
        let count = Int(try u32())
        guard count >= 1, count <= columns else {
            throw PipelineError(.badParameters, "prediction parameters: \(count) features for a \(columns)-column input")
        }
        featureIndices = try (0..<count).map { _ in Int(try u32()) }
        let label = Int32(bitPattern: try u32())
        labelIndex = label < 0 ? nil : Int(label)
        guard featureIndices.allSatisfy({ $0 < columns }), (labelIndex ?? 0) < columns, at == bytes.count else {
            throw PipelineError(.badParameters, "prediction parameters: a column index beyond the input's \(columns) columns")
        }
    }
}
