#if canImport(Glibc)
    import Glibc
#endif

/// Streams records from a CSV file in fixed-size chunks with bounded memory.
///
/// RFC 4180: quoted fields, doubled quotes, delimiters and newlines inside quotes; LF, CRLF and
/// bare CR line ends; a UTF-8 byte-order mark is skipped; blank lines are skipped (and counted
/// for line numbers). Memory: one buffer of `chunkSize` bytes, grown only for a record longer
/// than that (up to `maxRecordBytes`).
///
/// `init(path:)` also reads `.csv.gz` and `.csv.zst` files (by their magic bytes, decompressed as
/// they are read) and directories or globs of part files (`CSVInput`) as one data set: every part
/// has its own header, which must equal the first part's; `file` and line numbers are the
/// current part's.
///
/// ```swift
/// let reader = try CSVReader(path: "data.csv")
/// while let record = try reader.next() {
///     let x = try record.double(at: 3)      // located error on bad input
/// }
/// ```
public final class CSVReader {
    /// The path (or stream name) used in error messages: the part being read.
    public private(set) var file: String
    /// The files read in order (one unless a directory or glob was given).
    public let parts: [String]
    /// The index in `parts` of the part being read.
    public private(set) var partIndex = 0
    public let options: CSVOptions
    /// Column names; `column 1`, `column 2`… when `hasHeader` is false (set from the first record).
    public var header: [String] { record.header }
    /// Number of columns every record must have.
    public var columnCount: Int { record.header.count }
    /// The header record's bytes as they are in the file, without a byte-order mark or the line
    /// terminator (empty when `hasHeader` is false): what the coordinator sends its workers.
    public private(set) var headerRecord: [UInt8] = []
    /// Records skipped under `BadRowPolicy.skip`.
    public private(set) var skippedRows = 0
    /// The first few errors of skipped records (at most `report` of them).
    public private(set) var skippedErrors: [CSVError] = []
    /// Text bytes consumed from the input so far (decompressed bytes, summed over parts).
    @exclusivity(unchecked)
    public private(set) var bytesRead = 0
    /// Data records returned so far.
    @exclusivity(unchecked)
    public private(set) var recordsRead = 0

    private let record: CSVRecord
    private var source: CSVByteSource?
    @exclusivity(unchecked)
    private var buffer: UnsafeMutableRawBufferPointer
    @exclusivity(unchecked)
    private var pos = 0
    @exclusivity(unchecked)
    private var filled = 0
    @exclusivity(unchecked)
    private var eof = false
    @exclusivity(unchecked)
    private var nextLine = 1
    @exclusivity(unchecked)
    private var pendingFirst = false

    /// Opens `path` (a file, possibly gzip or zstd, or a directory or glob of part files, see
    /// `CSVInput`) and reads the header row (if `options.hasHeader`).
    public convenience init(path: String, options: CSVOptions = CSVOptions()) throws(CSVError) {
        try self.init(input: try CSVInput(path: path), options: options)
    }

    /// Reads the parts of `input` in order as one CSV.
    public init(input: CSVInput, options: CSVOptions = CSVOptions()) throws(CSVError) {
        parts = input.parts
        file = input.parts[0]
        self.options = options
        buffer = .allocate(byteCount: max(options.chunkSize, 64), alignment: 16)
        record = CSVRecord(header: [], file: file, options: options)
        do {
            source = try CSVByteSource(path: file)
            try readHeader()
        } catch {
            close()
            throw error
        }
    }

    /// Reads from an open file descriptor (e.g. 0 for standard input), naming it `name` in errors;
    /// gzip and zstd are decompressed unless `decompress` is false (a descriptor positioned
    /// inside a plain file).
    public init(
        fileDescriptor: Int32, name: String, options: CSVOptions = CSVOptions(), ownsDescriptor: Bool = false,
        decompress: Bool = true
    ) throws(CSVError) {
        parts = [name]
        file = name
        self.options = options
        buffer = .allocate(byteCount: max(options.chunkSize, 64), alignment: 16)
        record = CSVRecord(header: [], file: name, options: options)
        do {
            source = try CSVByteSource(fileDescriptor: fileDescriptor, name: name, ownsDescriptor: ownsDescriptor, detect: decompress)
            try readHeader()
        } catch {
            close()
            throw error
        }
    }

    deinit {
        close()
        buffer.deallocate()
    }

    /// Closes the file and releases the buffer. Further `next()` calls return nil.
    public func close() {
        source?.close()
        source = nil
        eof = true
        pos = 0
        filled = 0
    }

    /// Restricts field extraction to one column (0-based): only that field's range is kept, so
    /// only `withField`/`string`/`double` on that column and `withRawBytes` are valid. Field counts
    /// are still checked. This is the coordinator's cheap mode: split records, read the label,
    /// forward the raw bytes.
    public func extractOnly(column: Int) {
        precondition(column >= 0 && column < max(columnCount, 1))
        // Without a header the first data record is already split in full: keep its field too.
        if pendingFirst && record.onlyColumn < 0 && column < record.count { record.spans[0] = record.spans[column] }
        record.onlyColumn = column
    }

    /// The 0-based index of the column with this header name.
    public func columnIndex(named name: String) throws(CSVError) -> Int {
        if let i = header.firstIndex(of: name) { return i }
        if !options.hasHeader, let n = Int(name), n >= 1, n <= header.count { return n - 1 }
        let shown = header.prefix(8).map { quoteForMessage($0) }.joined(separator: ", ") + (header.count > 8 ? ", …" : "")
        throw CSVError(
            code: .unknownColumn, file: file, line: options.hasHeader ? 1 : nil,
            message: "no column named \(quoteForMessage(name)); the header has \(header.count) columns: \(shown)")
    }

    /// The next data record, or nil at end of input. The returned object is reused: it is valid
    /// until the next call. Malformed records throw (policy `.stop`) or are skipped and counted.
    @inline(__always)
    public func next() throws(CSVError) -> CSVRecord? {
        if pendingFirst {
            pendingFirst = false
            recordsRead += 1
            return record
        }
        while true {
            guard try scanNext() else { return nil }
            if record.count != columnCount {
                try skipOrThrow(record.fieldCountError())
                continue
            }
            recordsRead += 1
            return record
        }
    }

    /// Applies the bad-row policy to an error about the current record (e.g. from `double(at:)`):
    /// rethrows under `.stop`; counts it (keeping the first few) under `.skip`.
    public func skipOrThrow(_ error: CSVError) throws(CSVError) {
        guard case .skip(let report) = options.badRows else { throw error }
        skippedRows += 1
        if skippedErrors.count < report { skippedErrors.append(error) }
    }

    // MARK: Internals

    private func readHeader() throws(CSVError) {
        guard try readPartHead() else {
            throw CSVError(
                code: .emptyFile, file: file, message: options.hasHeader ? "the file is empty: expected a header row" : "the file is empty")
        }
        if record.count > record.maxFields { throw record.tooManyColumnsError() }
        if options.hasHeader {
            headerRecord = record.withRawBytes { [UInt8]($0) }
            var names: [String] = []
            for i in 0..<record.count { names.append(record.string(at: i)) }
            record.header = names
        } else if options.columnNames.isEmpty {
            record.header = (1...record.count).map { "column \($0)" }
            pendingFirst = true
        } else {
            guard options.columnNames.count == record.count else {
                throw CSVError(
                    code: .fieldCount, file: file, line: record.line,
                    message: "\(options.columnNames.count) column names were given, but the first record has \(record.count) fields")
            }
            record.header = options.columnNames
            pendingFirst = true
        }
    }

    /// Checks the current part's first bytes, skips its byte-order mark and scans its first
    /// record; false when the part holds no record.
    private func readPartHead() throws(CSVError) -> Bool {
        try fill()
        // Fill up to 1 KiB (a pipe may return less) to recognise a binary file by its first bytes.
        while filled < min(1024, buffer.count) && !eof {
            let before = filled
            try fill()
            if filled == before { break }
        }
        if let what = Self.binaryKind(UnsafeRawBufferPointer(start: buffer.baseAddress! + pos, count: min(1024, filled - pos))) {
            throw CSVError(code: .notText, file: file, message: what)
        }
        // Skip a UTF-8 byte-order mark.
        if filled - pos >= 3 {
            let b = buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
            if b[pos] == 0xEF && b[pos + 1] == 0xBB && b[pos + 2] == 0xBF { pos += 3 }
        }
        return try scanNext(acrossParts: false)
    }

    /// At the end of a part: opens the next one and checks its header against the first part's
    /// (its header record is consumed); false after the last part.
    private func openNextPart() throws(CSVError) -> Bool {
        guard partIndex + 1 < parts.count else { return false }
        source?.close()
        partIndex += 1
        file = parts[partIndex]
        record.file = file
        pos = 0
        filled = 0
        eof = false
        nextLine = 1
        source = try CSVByteSource(path: file)
        guard options.hasHeader else { return true }
        // The header is split in full even when the reader extracts one column.
        let only = record.onlyColumn
        record.onlyColumn = -1
        defer { record.onlyColumn = only }
        guard try readPartHead() else {
            throw CSVError(code: .emptyFile, file: file, message: "the part is empty: expected a header row like \(parts[0])'s")
        }
        let first = record.header
        var mismatch: Int?
        for i in 0..<max(record.count, first.count) {
            if i >= record.count || i >= first.count || record.string(at: i) != first[i] {
                mismatch = i
                break
            }
        }
        if let i = mismatch {
            let here = i < record.count ? quoteForMessage(record.string(at: i)) : "no column"
            let there = i < first.count ? quoteForMessage(first[i]) : "no column"
            let counts = record.count == first.count ? "" : " (\(record.count) columns here, \(first.count) there)"
            throw CSVError(
                code: .headerMismatch, file: file, line: record.line, column: i + 1,
                message:
                    "the header differs from \(parts[0])'s: column \(i + 1) is \(here) here and \(there) there\(counts); every part needs the same header"
            )
        }
        return true
    }

    /// Why `head` (a file's first bytes, up to 1 KiB) is not CSV text, or nil: gzip, zstd, bzip2,
    /// xz, zip magic bytes, or NUL bytes (in the header line, or four or more).
    public static func binaryKind(_ head: UnsafeRawBufferPointer) -> String? {
        func starts(_ magic: [UInt8]) -> Bool { head.count >= magic.count && zip(head, magic).allSatisfy { $0 == $1 } }
        let compressed: [(String, [UInt8])] = [
            ("gzip", [0x1F, 0x8B]), ("zstd", [0x28, 0xB5, 0x2F, 0xFD]), ("bzip2", [0x42, 0x5A, 0x68]),
            ("xz", [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]), ("zip", [0x50, 0x4B, 0x03, 0x04])
        ]
        for (name, magic) in compressed where starts(magic) {
            if name == "bzip2" {
                // "BZh" is also the start of a plain word: require the block size digit and block magic.
                guard head.count >= 10, (0x31...0x39).contains(head[3]), head[4] == 0x31, head[5] == 0x41 else { continue }
            }
            return "the file looks \(name)-compressed (it starts with the \(name) magic bytes), not CSV text; decompress it first"
        }
        // NUL bytes: never in CSV text, common in binary files and UTF-16. One in the header line,
        // or several in the first KiB, is a binary file; a stray one in a data record is left to
        // the located error about that field.
        let lineEnd = head.firstIndex { $0 == 0x0A || $0 == 0x0D } ?? head.count
        let nuls = head.reduce(0) { $0 + ($1 == 0 ? 1 : 0) }
        if let nul = head.firstIndex(of: 0), nul < lineEnd || nuls >= 4 {
            let utf16 = starts([0xFF, 0xFE]) || starts([0xFE, 0xFF]) || (head.count >= 2 && (head[0] == 0 || head[1] == 0))
            return utf16
                ? "the file looks UTF-16 encoded (a NUL byte at byte \(nul + 1)), not UTF-8 CSV text; convert it to UTF-8 first"
                : "the file looks binary (a NUL byte at byte \(nul + 1) of its first KiB), not CSV text"
        }
        return nil
    }

    /// Scans the next non-blank record into `record`, going on to the next part at the end of
    /// one when `acrossParts`; false at end of input.
    private func scanNext(acrossParts: Bool = true) throws(CSVError) -> Bool {
        while true {
            if pos >= filled {
                if eof {
                    if acrossParts, try openNextPart() { continue }
                    return false
                }
                try fill()
                continue
            }
            let base = UnsafePointer(buffer.baseAddress!.assumingMemoryBound(to: UInt8.self))
            record.line = nextLine
            let next = record.scan(base, start: pos, limit: filled, eof: eof)
            if next >= 0 {
                bytesRead += next - pos
                pos = next
                nextLine += 1 + record.extraLines
                if record.rawLength == 0 && record.count == 1 { continue }  // blank line
                return true
            }
            if next == -2 {
                let error = record.scanError()
                try skipOrThrow(error)
                if error.code == .unterminatedQuote {
                    // The quote runs to the end of the part: nothing after it in this part can be delimited.
                    bytesRead += filled - pos
                    pos = filled
                    continue
                }
                try skipToNextLine()
                continue
            }
            try fill()
        }
    }

    /// Moves the unconsumed tail to the front and reads more; grows the buffer for long records.
    private func fill() throws(CSVError) {
        if eof { return }
        let raw = buffer.baseAddress!
        if pos > 0 {
            let tail = filled - pos
            if tail > 0 { raw.copyMemory(from: raw + pos, byteCount: tail) }
            filled = tail
            pos = 0
        }
        if filled == buffer.count {
            if buffer.count >= options.maxRecordBytes {
                throw CSVError(
                    code: .recordTooLong, file: file, line: nextLine,
                    message: "record is longer than \(options.maxRecordBytes) bytes (an unclosed quote?)")
            }
            let bigger = UnsafeMutableRawBufferPointer.allocate(byteCount: min(buffer.count * 2, options.maxRecordBytes), alignment: 16)
            bigger.baseAddress!.copyMemory(from: raw, byteCount: filled)
            buffer.deallocate()
            buffer = bigger
        }
        guard let source else {
            eof = true
            return
        }
        let want = min(options.chunkSize, buffer.count - filled)
        let n: Int
        do { n = try source.read(into: buffer.baseAddress! + filled, count: want) } catch {
            // Located at the record being read: lines are lines of the decompressed text.
            var located = error
            located.line = nextLine
            if error.code == .corrupt { located.message += " (while reading the record at this line)" }
            throw located
        }
        if n == 0 { eof = true } else { filled += n }
    }

    /// After a malformed quote (skip policy): discards input up to and including the next line
    /// end (LF, CRLF or a bare CR).
    private func skipToNextLine() throws(CSVError) {
        while true {
            let base = buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
            var i = pos
            while i < filled && base[i] != UInt8(ascii: "\n") && base[i] != UInt8(ascii: "\r") { i += 1 }
            if i < filled {
                if base[i] == UInt8(ascii: "\r") {
                    // CRLF: the LF belongs to this line end (read more to see it if need be).
                    if i + 1 >= filled && !eof {
                        bytesRead += i - pos
                        pos = i
                        try fill()
                        continue
                    }
                    if i + 1 < filled && base[i + 1] == UInt8(ascii: "\n") { i += 1 }
                }
                bytesRead += i + 1 - pos
                pos = i + 1
                nextLine += 1
                return
            }
            bytesRead += filled - pos
            pos = filled
            if eof { return }
            try fill()
        }
    }
}
