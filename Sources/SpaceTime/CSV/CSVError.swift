/// An error reading CSV input, located by file, physical line and column.
///
/// `description` reads like `data.csv: line 18,204, column 7 (`f6`): expected a number, found `abc``.
public struct CSVError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What went wrong.
    public enum Code: String, Sendable, Equatable {
        /// The file could not be opened or read.
        case io
        /// The file has no header row.
        case emptyFile
        /// A record has a different number of fields than the header.
        case fieldCount
        /// A field that must be a number is not one.
        case notANumber
        /// A quoted field is not closed before the end of the file.
        case unterminatedQuote
        /// A closing quote is followed by something other than a delimiter or line end.
        case unexpectedCharacterAfterQuote
        /// A record is longer than `CSVOptions.maxRecordBytes`.
        case recordTooLong
        /// A column named by the caller is not in the header.
        case unknownColumn
        /// The header names a column twice.
        case duplicateColumn
    }

    public var code: Code
    /// The file (or stream name) the record came from.
    public var file: String
    /// 1-based physical line where the record starts (the header is line 1), if known.
    public var line: Int?
    /// 1-based field index, if the error is about one field.
    public var column: Int?
    /// The header name of `column`, if known.
    public var columnName: String?
    /// What was expected and what was found.
    public var message: String

    public init(code: Code, file: String, line: Int? = nil, column: Int? = nil, columnName: String? = nil, message: String) {
        self.code = code
        self.file = file
        self.line = line
        self.column = column
        self.columnName = columnName
        self.message = message
    }

    public var description: String {
        var s = file
        if let line { s += ": line \(groupedThousands(line))" }
        if let column {
            s += ", column \(column)"
            if let columnName { s += " (`\(columnName)`)" }
        }
        return s + ": " + message
    }
}

/// `18204` → `"18,204"`.
func groupedThousands(_ n: Int) -> String {
    let digits = String(n.magnitude)
    var out = ""
    for (i, ch) in digits.enumerated() {
        if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
        out.append(ch)
    }
    return n < 0 ? "-" + out : out
}

/// Shows user data in an error message: quoted with backticks, control characters escaped, truncated.
func quoteForMessage(_ bytes: UnsafeRawBufferPointer, limit: Int = 40) -> String {
    var s = ""
    let text = String(decoding: bytes.prefix(limit * 4), as: UTF8.self)
    for (i, scalar) in text.unicodeScalars.enumerated() {
        if i == limit { s += "…"; break }
        switch scalar {
        case "\n": s += "\\n"
        case "\r": s += "\\r"
        case "\t": s += "\\t"
        case _ where scalar.value < 0x20 || scalar.value == 0x7F:
            s += "\\x" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16, uppercase: true)
        default: s.unicodeScalars.append(scalar)
        }
    }
    return "`" + s + "`"
}
