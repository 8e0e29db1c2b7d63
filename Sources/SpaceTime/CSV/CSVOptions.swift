/// How to read a CSV file.
public struct CSVOptions: Sendable {
    /// What to do with a record that is malformed (wrong field count, bad number).
    public enum BadRowPolicy: Sendable, Equatable {
        /// Throw the located error (default).
        case stop
        /// Skip the record, count it, and keep the first `report` errors for the summary.
        case skip(report: Int)
    }

    /// Field separator byte. Default `,`.
    public var delimiter: UInt8 = UInt8(ascii: ",")
    /// Whether the first record is a header naming the columns. Default `true`.
    public var hasHeader: Bool = true
    /// With `hasHeader == false`: the columns' names, in file order (the first record must
    /// have this many fields). Empty: `column 1`, `column 2`, ….
    public var columnNames: [String] = []
    /// Bytes read per `read(2)` call; the reader's buffer starts at this size. Default 1 MiB.
    public var chunkSize: Int = 1 << 20
    /// Longest record accepted (the buffer grows up to this). Default 64 MiB.
    public var maxRecordBytes: Int = 64 << 20
    /// Most columns accepted: a wider header is an error (code `.fieldCount`), and a record's
    /// field index beyond this is never stored, so a line of a million commas cannot make per-column
    /// state grow without bound. Default 1,000,000.
    public var maxColumns: Int = 1_000_000
    /// Field texts that mean "missing" (besides the empty field). Default: pandas' `na_values`
    /// (`NaN`, `nan`, `NA`, `N/A`, `NULL`, `null`, `None`, `-nan`, `#N/A`, …).
    public var missingValues: [String] = CSVOptions.pandasMissingValues
    /// Bad-row policy. Default `.stop`.
    public var badRows: BadRowPolicy = .stop

    public static let pandasMissingValues = [
        "NaN", "nan", "NA", "N/A", "n/a", "NULL", "null", "None", "-NaN", "-nan",
        "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "1.#IND", "1.#QNAN", "<NA>"
    ]

    public init() {}

    /// `names` as one CSV record with `delimiter` (no line end), quoting a name that holds the
    /// delimiter, a quote, a line end or surrounding spaces: what a header line of them would be.
    public static func headerLine(_ names: [String], delimiter: UInt8) -> [UInt8] {
        var out: [UInt8] = []
        for (i, name) in names.enumerated() {
            if i > 0 { out.append(delimiter) }
            let bytes = Array(name.utf8)
            let quote =
                bytes.contains { $0 == delimiter || $0 == 0x22 || $0 == 0x0A || $0 == 0x0D }
                || bytes.first == 0x20 || bytes.last == 0x20
            guard quote else {
                out += bytes
                continue
            }
            out.append(0x22)
            for b in bytes {
                if b == 0x22 { out.append(0x22) }
                out.append(b)
            }
            out.append(0x22)
        }
        return out
    }
}
