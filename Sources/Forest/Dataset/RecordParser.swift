import SpaceTime

/// Parses CSV records into parsed rows of a ``DatasetSchema``: one `Double` per feature
/// (numbers as they are, categorical levels as their ``LevelHash``, missing as NaN) and
/// the target (a class label, or a number). Errors are ``CSVError``s naming the file,
/// line, column and column name.
public struct RecordParser: Sendable {
    public let schema: DatasetSchema
    /// Records the schema's types were decided from (named in errors).
    public let sampledRows: Int

    public init(schema: DatasetSchema, sampledRows: Int = 0) {
        self.schema = schema
        self.sampledRows = sampledRows
    }

    /// Parses the features of `record` into `out` (`schema.featureCount` values). When
    /// `state` is given, categorical levels are counted into it as they are read.
    @inline(__always)
    public func parseFeatures(
        _ record: CSVRecord, into out: UnsafeMutableBufferPointer<Double>,
        counting state: UnsafeMutablePointer<PartialExtractorState>? = nil
    ) throws(CSVError) {
        let indices = schema.featureIndices
        let kinds = schema.featureKinds
        for j in 0..<indices.count {
            let c = indices[j]
            if kinds[j] == .numeric {
                do { out[j] = try record.double(at: c) } catch { throw numericColumnError(error) }
            } else {
                let hash: Double = record.withField(at: c) { bytes in
                    record.isMissingToken(bytes) ? .nan : LevelHash.of(bytes)
                }
                out[j] = hash
                if let state { record.withField(at: c) { state.pointee.addLevel(feature: j, hash: hash, bytes: $0) } }
            }
        }
    }

    private func numericColumnError(_ error: CSVError) -> CSVError {
        guard error.code == .notANumber, let column = error.column, column >= 1 else { return error }
        var e = error
        let name = schema.header.indices.contains(column - 1) ? schema.header[column - 1] : "\(column)"
        e.message +=
            " (column '\(name)' was read as numeric from the first \(sampledRows) rows; pass --categorical \(name) to read it as text)"
        return e
    }

    /// The class label of `record`; a missing label is an error.
    public func label(_ record: CSVRecord) throws(CSVError) -> String {
        let t = try targetIndex(record)
        if record.isMissing(at: t) { throw missingTarget(record, t) }
        return record.string(at: t)
    }

    /// The numeric target of `record`; a missing or non-numeric target is an error.
    public func value(_ record: CSVRecord) throws(CSVError) -> Double {
        let t = try targetIndex(record)
        let v: Double
        do { v = try record.double(at: t) } catch {
            var e = error
            e.message += " (the label of a regression task must be a number)"
            throw e
        }
        if v.isNaN { throw missingTarget(record, t) }
        return v
    }

    private func targetIndex(_ record: CSVRecord) throws(CSVError) -> Int {
        guard let t = schema.targetIndex else {
            throw CSVError(code: .unknownColumn, file: record.file, line: record.line, message: "the input has no label column")
        }
        return t
    }

    private func missingTarget(_ record: CSVRecord, _ t: Int) -> CSVError {
        CSVError(
            code: .notANumber, file: record.file, line: record.line, column: t + 1, columnName: record.columnName(t),
            message: "missing label")
    }
}
