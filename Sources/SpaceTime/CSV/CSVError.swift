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
        /// The input is not CSV text: compressed in a format not read (bzip2, xz, zip) or binary (a NUL byte).
        case notText
        /// A gzip or zstd stream is corrupt or truncated.
        case corrupt
        /// A part file of a multi-file input has a different header than the first part.
        case headerMismatch
        /// A directory or glob names no CSV part files.
        case noParts
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
            if let columnName { s += " (\(quoteForMessage(columnName)))" }
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

/// Shows user data in an error message: quoted with backticks, at most `limit` bytes of it
/// (then `…`), every byte that is not printable text escaped: `\n`, `\r`, `\t`, other control
/// bytes and bytes that are not valid UTF-8 as `\xNN`. Printable UTF-8 (accents, CJK) is kept.
/// Every piece of input quoted in a message goes through here, so a 10 MB header or a binary
/// file cannot make a message long or unreadable.
public func quoteForMessage(_ bytes: UnsafeRawBufferPointer, limit: Int = 60) -> String {
    "`" + escapedExcerpt(bytes, limit: limit) + "`"
}

/// `quoteForMessage` for a string (a header name, a column name given on the command line).
public func quoteForMessage(_ text: String, limit: Int = 60) -> String {
    var copy = text
    return copy.withUTF8 { quoteForMessage(UnsafeRawBufferPointer($0), limit: limit) }
}

/// `quoteForMessage` without the backticks.
public func escapedExcerpt(_ bytes: UnsafeRawBufferPointer, limit: Int = 60) -> String {
    var s = ""
    var i = 0
    let n = bytes.count
    func hex(_ b: UInt8) -> String { "\\x" + (b < 0x10 ? "0" : "") + String(b, radix: 16, uppercase: true) }
    while i < n {
        if i >= limit {
            s += "…"
            break
        }
        let b = bytes[i]
        switch b {
        case 0x0A:
            s += "\\n"
            i += 1
        case 0x0D:
            s += "\\r"
            i += 1
        case 0x09:
            s += "\\t"
            i += 1
        case 0x20..<0x7F:
            s.unicodeScalars.append(Unicode.Scalar(b))
            i += 1
        case 0xC2...0xF4:
            // A multi-byte UTF-8 sequence: kept when valid, complete within the limit, and printable.
            let length = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2
            if i + length <= n, i + length <= limit,
                let scalar = decodeScalar(bytes, at: i, length: length),
                !(0x80...0x9F).contains(scalar.value), scalar.value != 0xFEFF, scalar.value != 0x2028, scalar.value != 0x2029
            {
                s.unicodeScalars.append(scalar)
                i += length
            } else {
                s += hex(b)
                i += 1
            }
        default:
            s += hex(b)
            i += 1
        }
    }
    return s
}

private func decodeScalar(_ bytes: UnsafeRawBufferPointer, at i: Int, length: Int) -> Unicode.Scalar? {
    var decoder = UTF8()
    var iterator = bytes[i..<(i + length)].makeIterator()
    guard case .scalarValue(let scalar) = decoder.decode(&iterator) else { return nil }
    // The sequence must be exactly `length` bytes (no shorter scalar followed by garbage).
    guard scalar.utf8.count == length else { return nil }
    return scalar
}

extension CSVError: TaskFailureConvertible {
    /// A read failure is I/O (retryable); anything else is bad input, at the record's file, line and column.
    public var taskFailure: TaskFailure {
        TaskFailure(code == .io ? .io : .badInput, description, location: TaskFailure.Location(file: file, line: line, column: column))
    }
}
