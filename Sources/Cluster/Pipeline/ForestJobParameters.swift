import Foundation
import Forest
import SpaceTime

/// The training parameters of a distributed job, carried opaquely in
/// `JobSpec.parameters` and every assignment: the forest parameters (with the
/// seed) and the bins per feature. Format: `STJP`, version 1, max bins
/// (UInt16 LE), then `ForestParameters.serialize()`.
public struct ForestJobParameters: Sendable, Equatable {
    public var forest: ForestParameters
    public var maxBins: Int
    /// The data file's name as the coordinator knows it, for workers' error messages.
    public var source: String

    public init(forest: ForestParameters, maxBins: Int = FeatureExtractor.maxValueBins, source: String = "") {
        self.forest = forest
        self.maxBins = maxBins
        self.source = source
    }

    public func serialize() -> Data {
        var d = Data("STJP".utf8)
        d.append(1)
        d.append(UInt8(maxBins & 0xFF))
        d.append(UInt8((maxBins >> 8) & 0xFF))
        let name = Array(source.utf8.prefix(0xFFFF))
        d.append(UInt8(name.count & 0xFF))
        d.append(UInt8(name.count >> 8))
        d.append(contentsOf: name)
        d.append(contentsOf: forest.serialize())
        return d
    }

    public init(deserializing data: Data) throws {
        let bytes = [UInt8](data)
        guard bytes.count > 7, bytes[0..<4] == [0x53, 0x54, 0x4A, 0x50] else {
            throw PipelineError(.badParameters, "job parameters are not a SpaceTime forest parameter blob")
        }
        guard bytes[4] == 1 else { throw PipelineError(.badParameters, "job parameters have version \(bytes[4]); this build reads 1") }
        maxBins = Int(bytes[5]) | Int(bytes[6]) << 8
        guard bytes.count >= 9 else { throw PipelineError(.badParameters, "job parameters are truncated") }
        let nameLength = Int(bytes[7]) | Int(bytes[8]) << 8
        guard bytes.count > 9 + nameLength else { throw PipelineError(.badParameters, "job parameters are truncated") }
        source = String(decoding: bytes[9..<(9 + nameLength)], as: UTF8.self)
        do {
            forest = try ForestParameters(deserializing: Array(bytes[(9 + nameLength)...]))
        } catch {
            throw PipelineError(.badParameters, "job parameters: \(error)")
        }
    }
}

/// An error of the distributed pipeline (driver, executor, launcher), with a code.
public struct PipelineError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable {
        case badParameters, badInput, badSchema, missingSpill, missingArtifact, io, launch, jobFailed, insecure
    }
    public var code: Code
    public var message: String
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { message }
}

/// The CSV layout every worker parses raw records with: header names, the
/// label column and the feature columns (all others, in file order), as
/// `LabeledCSV` resolves them in the single-process run.
public struct CSVLayout: Sendable, Hashable {
    public var header: [String]
    public var labelIndex: Int
    public var featureIndices: [Int]
    public var delimiter: UInt8
    public var featureNames: [String] { featureIndices.map { header[$0] } }
    public var labelName: String { header[labelIndex] }

    public init(header: [String], labelIndex: Int, delimiter: UInt8 = UInt8(ascii: ",")) {
        self.header = header
        self.labelIndex = labelIndex
        self.delimiter = delimiter
        featureIndices = header.indices.filter { $0 != labelIndex }
    }

    /// Decodes the schema sent in an assignment; checks it is consistent.
    public init(schema: WireCsvSchema) throws {
        let names = try Self.headerNames(schema)
        guard names.count >= 2 else {
            throw PipelineError(.badSchema, "the job's CSV schema has \(names.count) column(s); a label and a feature are needed")
        }
        self.init(header: names, labelIndex: Int(schema.labelColumn), delimiter: UInt8(truncatingIfNeeded: schema.delimiter))
    }

    /// The column names in an assignment's schema (its header record parsed
    /// with its delimiter), checked against its column count and label column.
    public static func headerNames(_ schema: WireCsvSchema) throws -> [String] {
        var options = CSVOptions()
        options.delimiter = UInt8(truncatingIfNeeded: schema.delimiter)
        let record = CSVRecord(header: [], file: "header", options: options)
        do {
            try record.parse(raw: [UInt8](schema.headerRecord), line: 1)
        } catch {
            throw PipelineError(.badSchema, "the job's CSV header cannot be parsed: \(error)")
        }
        let names = (0..<record.count).map { record.string(at: $0) }
        guard names.count == Int(schema.columnCount), Int(schema.labelColumn) < names.count else {
            throw PipelineError(.badSchema, "the job's CSV schema is inconsistent: \(names.count) header fields, \(schema.columnCount) columns, label column \(schema.labelColumn)")
        }
        return names
    }

    public var csvOptions: CSVOptions {
        var o = CSVOptions()
        o.delimiter = delimiter
        return o
    }
}

enum Digest {
    /// A 32-byte content digest for blob references (four XXH64 lanes with
    /// different seeds; identifies a blob, not a security boundary).
    static func of(_ bytes: some Collection<UInt8>) -> Data {
        var out = Data()
        for seed: UInt64 in [0x5354_4D31, 0x5354_4D32, 0x5354_4D33, 0x5354_4D34] {
            var h = XXHash64(seed: seed)
            h.update(bytes)
            var v = h.finalize().littleEndian
            withUnsafeBytes(of: &v) { out.append(contentsOf: $0) }
        }
        return out
    }
}
