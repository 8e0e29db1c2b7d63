import Foundation
import Forest

/// The opaque `assignment.parameters` of a predict task: where the input came from (for
/// located errors) and how its columns feed the model (the model's schema located in the
/// input's header: feature columns and their kinds).
///
/// Layout: `STPP`, version 2, then a Forest `ByteWriter` body: source path, schema.
public struct PredictionParameters: Sendable, Equatable {
    /// The input path as the user gave it: errors read `PATH:LINE: column …` as in `spacetime predict`.
    public var source: String
    public var schema: DatasetSchema

    public init(source: String, schema: DatasetSchema) {
        self.source = source
        self.schema = schema
    }

    /// CSV column of each model feature, in the model's feature order.
    public var featureIndices: [Int] { schema.featureIndices }

    static let magic: [UInt8] = Array("STPP".utf8)
    static let version: UInt8 = 2

    public func serialize() -> Data {
        var w = ByteWriter()
        w.write(String(source.utf8.prefix(4096)) ?? "")
        w.write(bytes: schema.serialize())
        return Data(Self.magic + [Self.version] + w.bytes)
    }

    /// Decodes and checks the schema against an input of `columns` columns.
    public init(deserializing data: Data, columns: Int) throws {
        let bytes = [UInt8](data)
        guard bytes.count > 5, Array(bytes[0..<4]) == Self.magic, bytes[4] == Self.version else {
            throw PipelineError(.badParameters, "not prediction parameters (STPP version \(Self.version))")
        }
        do {
            var r = ByteReader(bytes, offset: 5, context: "prediction parameters")
            source = try r.readString()
            schema = try DatasetSchema(deserializing: try r.readBytes())
            try r.expectEnd()
        } catch {
            throw PipelineError(.badParameters, "prediction parameters: \(error)")
        }
        guard schema.header.count == columns, schema.featureCount >= 1 else {
            throw PipelineError(.badParameters, "prediction parameters: a schema of \(schema.header.count) columns for a \(columns)-column input")
        }
    }
}
