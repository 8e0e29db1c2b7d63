import SpaceTime

/// Reads feature rows and labels from a CSV file with SpaceTime's streaming reader:
/// resolves the label column (by name, default the last column), treats every other
/// column as a numeric feature, and parses records with located errors.
public final class LabeledCSV {
    public let reader: CSVReader
    public let path: String
    /// Index of the label column, or nil when the file has no label column (prediction input).
    public let labelIndex: Int?
    /// Column indices of the features, in file order.
    public let featureIndices: [Int]
    public var featureNames: [String] { featureIndices.map { reader.header[$0] } }
    public var labelName: String? { labelIndex.map { reader.header[$0] } }
    /// 1-based line of the last record read.
    public private(set) var line = 0

    /// Opens `path`. `label`: the label column name; nil means the last column.
    /// With `expectedFeatures`, the file must contain exactly those feature columns (any
    /// order); a label column is then optional (present when named `labelName`).
    public init(path: String, label: String?, expectedFeatures: [String]? = nil, options: CSVOptions = CSVOptions()) throws {
        self.path = path
        reader = try CSVReader(path: path, options: options)
        let header = reader.header
        if let expected = expectedFeatures {
            var position: [String: Int] = [:]
            for (i, name) in header.enumerated() where position[name] == nil { position[name] = i }
            var indices: [Int] = []
            for name in expected {
                guard let i = position[name] else {
                    throw ForestError(.invalidData, "\(path): missing feature column '\(name)' (the model was trained on \(expected.count) features)")
                }
                indices.append(i)
            }
            featureIndices = indices
            labelIndex = label.flatMap { position[$0] }
        } else {
            guard header.count >= 2 else {
                throw ForestError(.invalidData, "\(path): need at least one feature column and a label column, found \(header.count) column(s)")
            }
            let li: Int
            if let label {
                guard let i = header.firstIndex(of: label) else {
                    throw ForestError(.invalidData, "\(path): no label column named '\(label)' (columns: \(header.prefix(8).joined(separator: ", "))\(header.count > 8 ? ", …" : ""))")
                }
                li = i
            } else {
                li = header.count - 1
            }
            labelIndex = li
            featureIndices = header.indices.filter { $0 != li }
        }
    }

    /// Reads the next record: its features into `features` (resized to the feature count)
    /// and its label text (nil without a label column). Returns false at end of file.
    public func next(features: inout [Double], label: inout String?) throws -> Bool {
        guard let record = try reader.next() else { return false }
        line = record.line
        label = try Self.parse(record, featureIndices: featureIndices, labelIndex: labelIndex, features: &features)
        return true
    }

    /// Parses one record (e.g. a raw line a worker received and parsed with
    /// `CSVRecord.parse(raw:line:)`): the features at `featureIndices` into `features`
    /// (NaN for missing values) and the label text at `labelIndex`. Errors name file, line
    /// and column.
    public static func parse(_ record: CSVRecord, featureIndices: [Int], labelIndex: Int?,
                             features: inout [Double]) throws -> String? {
        if features.count != featureIndices.count { features = Array(repeating: 0, count: featureIndices.count) }
        for (j, c) in featureIndices.enumerated() { features[j] = try record.double(at: c) }
        guard let li = labelIndex else { return nil }
        if record.isMissing(at: li) {
            throw ForestError(.invalidData,
                "\(record.file):\(record.line): column \(li + 1)\(record.columnName(li).map { " ('\($0)')" } ?? ""): missing label")
        }
        return record.string(at: li)
    }

    public func close() { reader.close() }
}
