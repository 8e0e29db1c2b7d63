import Forest
import Foundation
import SpaceTime

/// The training parameters of a distributed job, carried opaquely in
/// `JobSpec.parameters` and every assignment: the data set schema the coordinator
/// decided (column kinds, label, learning task), the forest parameters (with the seed)
/// and the bins per feature. The cluster layer stores and forwards these bytes; only
/// the Forest-facing executor and driver read them.
///
/// Format: `STJP`, version 3, then a Forest `ByteWriter` body: max bins (UInt32), source
/// name, sampled rows (UInt32), schema, forest parameters, permutation repeats (UInt32;
/// absent in version 2, which is still read). A job with a feature derivation is written as
/// version 4: the same body followed by the derivation's identifier (a job without one
/// keeps the version 3 bytes, so older workers still read it). A job that reads more than one
/// file is written as version 5: the version 3 body, the derivation's identifier (empty for
/// none), then the file names (UInt32 count, one string each). A cross-validation job is
/// version 6: then the fold count (UInt32); version 7 adds whether its evaluate tasks
/// return out-of-fold predictions (a Bool); version 8, a cross-validation over a parameter
/// grid, adds the grid's text and the job's partition count (UInt32).
public struct ForestJobParameters: Sendable, Equatable {
    public var forest: ForestParameters
    public var maxBins: Int
    /// The data file's name as the coordinator knows it, for workers' error messages.
    public var source: String
    public var schema: DatasetSchema
    /// Records the schema's column types were decided from (named in errors).
    public var sampledRows: Int
    /// Shuffles per feature of the permutation importance the evaluate tasks compute (0: none).
    public var permutationRepeats = 0
    /// Identifier of the job's ``FeatureDerivation`` (every worker applies the one its
    /// executable registers under it), or "" for none.
    public var derivation = ""
    /// The files the job reads, in reading order (the data set's parts, then the test file's),
    /// as the coordinator resolved their paths: a row batch's `source_file` k ≥ 1 names
    /// `files[k - 1]` in workers' error messages. Empty when the job reads one file.
    public var files: [String] = []
    /// A cross-validation job's fold count (its extract tasks keep statistics and rows per
    /// fold, its train and evaluate tasks name the fold they hold out); 0 for training.
    public var folds = 0
    /// A cross-validation job's evaluate tasks return each held-out row's line and
    /// prediction with their metrics (`cv --oof-out`).
    public var keepPredictions = false
    /// A cross-validation job's parameter grid (`cv --grid` text; "" for none): point g's
    /// forest parameters are `forest` with the grid's combination g applied.
    public var grid = ""
    /// The job's partitions, written with a grid (a worker places a (point, fold) block's
    /// trees by ``FoldTreeLayout/partition(_:of:folds:pointTrees:)``); 0 otherwise.
    public var partitions = 0

    public init(
        forest: ForestParameters, schema: DatasetSchema, maxBins: Int = FeatureExtractor.maxValueBins,
        source: String = "", sampledRows: Int = 0
    ) {
        self.forest = forest
        self.schema = schema
        self.maxBins = maxBins
        self.source = source
        self.sampledRows = sampledRows
    }

    static let magic = Array("STJP".utf8)
    static let version: UInt8 = 3
    static let derivationVersion: UInt8 = 4
    static let filesVersion: UInt8 = 5
    static let foldsVersion: UInt8 = 6
    static let predictionsVersion: UInt8 = 7
    static let gridVersion: UInt8 = 8

    public func serialize() -> Data {
        var w = ByteWriter()
        w.write(UInt32(maxBins))
        w.write(String(source.utf8.prefix(4096)) ?? "")
        w.write(UInt32(clamping: sampledRows))
        w.write(bytes: schema.serialize())
        w.write(bytes: forest.serialize())
        w.write(UInt32(clamping: permutationRepeats))
        if derivation.isEmpty && files.isEmpty && folds == 0 { return Data(Self.magic + [Self.version] + w.bytes) }
        w.write(derivation)
        if files.isEmpty && folds == 0 { return Data(Self.magic + [Self.derivationVersion] + w.bytes) }
        w.write(strings: files)
        if folds == 0 { return Data(Self.magic + [Self.filesVersion] + w.bytes) }
        w.write(UInt32(clamping: folds))
        if !keepPredictions && grid.isEmpty { return Data(Self.magic + [Self.foldsVersion] + w.bytes) }
        w.write(keepPredictions)
        if grid.isEmpty { return Data(Self.magic + [Self.predictionsVersion] + w.bytes) }
        w.write(grid)
        w.write(UInt32(clamping: partitions))
        return Data(Self.magic + [Self.gridVersion] + w.bytes)
    }

    public init(deserializing data: Data) throws {
        let bytes = [UInt8](data)
        guard bytes.count > 5, Array(bytes[0..<4]) == Self.magic else {
            throw PipelineError(.badParameters, "job parameters are not a SpaceTime forest parameter blob")
        }
        guard (2...Self.gridVersion).contains(bytes[4]) else {
            throw PipelineError(
                .badParameters, "job parameters have version \(bytes[4]); this build reads 2 to \(Self.gridVersion)")
        }
        do {
            var r = ByteReader(bytes, offset: 5, context: "job parameters")
            maxBins = Int(try r.read(UInt32.self))
            source = try r.readString()
            sampledRows = Int(try r.read(UInt32.self))
            schema = try DatasetSchema(deserializing: try r.readBytes())
            forest = try ForestParameters(deserializing: try r.readBytes())
            if bytes[4] >= 3 { permutationRepeats = Int(try r.read(UInt32.self)) }
            if bytes[4] >= 4 {
                derivation = try r.readString()
                guard !derivation.isEmpty || bytes[4] >= 5, derivation.utf8.count <= 256 else {
                    throw ForestError(.corrupted, "a feature derivation identifier of \(derivation.utf8.count) bytes")
                }
            }
            if bytes[4] >= 5 {
                files = try r.readStrings()
                guard files.count >= 2 || (bytes[4] >= 6 && files.isEmpty) else {
                    throw ForestError(.corrupted, "a file list of \(files.count) name(s)")
                }
            }
            if bytes[4] >= 6 {
                folds = Int(try r.read(UInt32.self))
                guard (2...CrossValidation.maxFolds).contains(folds) else {
                    throw ForestError(.corrupted, "\(folds) cross-validation folds")
                }
            }
            if bytes[4] >= 7 { keepPredictions = try r.readBool() }
            if bytes[4] >= 8 {
                grid = try r.readString()
                partitions = Int(try r.read(UInt32.self))
                guard !grid.isEmpty, grid.utf8.count <= 4096, partitions >= 1 else {
                    throw ForestError(.corrupted, "a parameter grid of \(grid.utf8.count) bytes over \(partitions) partitions")
                }
                _ = try pointParameters()
            }
            try r.expectEnd()
        } catch {
            throw PipelineError(.badParameters, "job parameters: \(error)")
        }
    }
}

extension ForestJobParameters {
    /// Each parameter point's forest parameters, in point order: `forest` alone without a
    /// grid, else `forest` with each of the grid's combinations applied.
    public func pointParameters() throws -> [ForestParameters] {
        guard !grid.isEmpty else { return [forest] }
        let parsed = try ParameterGrid(parsing: grid)
        return try (0..<parsed.count).map { try parsed.parameters($0, base: forest) }
    }

    /// Where partition `p`'s trees sit among a cross-validation job's (point, fold) forests,
    /// for a partition of `treesInPartition` trees (what its assignments say).
    public func foldLayout(partition p: Int, treesInPartition: Int) throws -> FoldTreeLayout {
        guard !grid.isEmpty else { return FoldTreeLayout(folds: folds, share: treesInPartition / max(1, folds)) }
        let layout = FoldTreeLayout.partition(p, of: partitions, folds: folds, pointTrees: try pointParameters().map(\.trees))
        guard layout.partitionTrees == treesInPartition else {
            throw PipelineError(
                .badParameters, "partition \(p) holds \(treesInPartition) trees; the job's grid places \(layout.partitionTrees) there")
        }
        return layout
    }

    /// The label of each point (e.g. "max-features=sqrt trees=100"), "" without a grid.
    public func pointLabels() throws -> [String] {
        guard !grid.isEmpty else { return [""] }
        let parsed = try ParameterGrid(parsing: grid)
        return (0..<parsed.count).map(parsed.label)
    }
}

/// An error of the distributed pipeline (driver, executor, launcher), with a code.
///
/// One that wraps another error (``init(wrapping:context:)``) keeps that error's failure
/// reason (as its code), retryability and location, so they survive the crossing.
public struct PipelineError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable {
        case badParameters, badInput, badSchema, missingSpill, missingArtifact, io, launch, jobFailed, insecure
        /// A wrapped error's failure of the reason of the same name.
        case memoryBudget, `protocol`, `internal`, cancelled
    }
    public var code: Code
    public var message: String
    /// Where in the input, when known.
    public var location: TaskFailure.Location?
    /// Whether another attempt can help: the wrapped error's answer, else the code's.
    public var retryable: Bool

    public init(_ code: Code, _ message: String, location: TaskFailure.Location? = nil) {
        self.code = code
        self.message = message
        self.location = location
        retryable = code.reason.isRetryableByDefault
    }

    /// `error` carried into the pipeline: its ``TaskFailure`` reason as the code, its
    /// retryability and location kept, its description as the message (after `context`
    /// and a colon, when given).
    public init(wrapping error: any Error, context: String? = nil) {
        let failure = TaskFailure(error)
        code = Code(failure.reason)
        message = context.map { "\($0): \(failure.message)" } ?? failure.message
        location = failure.location
        retryable = failure.retryable
    }

    public var description: String { message }
}

extension PipelineError.Code {
    /// The failure reason of an error with this code.
    public var reason: TaskFailure.Reason {
        switch self {
        case .badParameters, .badSchema, .insecure: .badParameters
        case .badInput: .badInput
        case .missingSpill: .spillMissing
        case .io: .io
        case .memoryBudget: .memoryBudget
        case .protocol: .protocol
        case .cancelled: .cancelled
        case .missingArtifact, .launch, .jobFailed, .internal: .internal
        }
    }

    /// The code of a wrapped error whose failure has `reason`.
    public init(_ reason: TaskFailure.Reason) {
        switch reason {
        case .badInput: self = .badInput
        case .badParameters: self = .badParameters
        case .memoryBudget: self = .memoryBudget
        case .io: self = .io
        case .protocol: self = .protocol
        case .internal: self = .internal
        case .cancelled: self = .cancelled
        case .spillMissing: self = .missingSpill
        }
    }
}

extension PipelineError: TaskFailureConvertible {
    public var taskFailure: TaskFailure { TaskFailure(code.reason, message, location: location, retryable: retryable) }
}

/// The CSV layout every worker parses raw records with: header names, the
/// label column and the feature columns (all others, in file order), as
/// `LabeledCSV` resolves them in the single-process run.
public struct CSVLayout: Sendable, Hashable {
    public var header: [String]
    public var labelIndex: Int
    public var featureIndices: [Int]
    public var delimiter: UInt8
    /// Whether the data file starts with a header row; when not, `header` holds the names given for its columns.
    public var hasHeader = true
    public var featureNames: [String] { featureIndices.map { header[$0] } }
    public var labelName: String { header[labelIndex] }

    public init(header: [String], labelIndex: Int, delimiter: UInt8 = UInt8(ascii: ","), hasHeader: Bool = true) {
        self.header = header
        self.labelIndex = labelIndex
        self.delimiter = delimiter
        self.hasHeader = hasHeader
        featureIndices = header.indices.filter { $0 != labelIndex }
    }

    /// Decodes the schema sent in an assignment; checks it is consistent.
    public init(schema: TaskAssignment.CSVSchema) throws {
        let names = try Self.headerNames(schema)
        guard names.count >= 2 else {
            throw PipelineError(.badSchema, "the job's CSV schema has \(names.count) column(s); a label and a feature are needed")
        }
        self.init(header: names, labelIndex: schema.labelColumn, delimiter: schema.delimiter)
    }

    /// The column names in an assignment's schema (its header record parsed
    /// with its delimiter), checked against its column count and label column.
    public static func headerNames(_ schema: TaskAssignment.CSVSchema) throws -> [String] {
        var options = CSVOptions()
        options.delimiter = schema.delimiter
        let record = CSVRecord(header: [], file: "header", options: options)
        do {
            try record.parse(raw: [UInt8](schema.headerRecord), line: 1)
        } catch {
            throw PipelineError(.badSchema, "the job's CSV header cannot be parsed: \(error)")
        }
        let names = (0..<record.count).map { record.string(at: $0) }
        guard names.count == schema.columnCount, schema.labelColumn < names.count else {
            throw PipelineError(
                .badSchema,
                "the job's CSV schema is inconsistent: \(names.count) header fields, \(schema.columnCount) columns, label column \(schema.labelColumn)"
            )
        }
        return names
    }

    public var csvOptions: CSVOptions {
        var o = CSVOptions()
        o.delimiter = delimiter
        o.hasHeader = hasHeader
        if !hasHeader { o.columnNames = header }
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
