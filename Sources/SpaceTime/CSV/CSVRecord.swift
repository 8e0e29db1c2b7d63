/// One CSV record: field byte ranges into a buffer, parsed on demand.
///
/// A `CSVReader` returns the same `CSVRecord` object for every record (valid until the next
/// call to `next()`): no per-record or per-field allocation. A standalone record
/// (`init(header:file:options:)` + `parse(raw:line:)`) parses the raw bytes of a record received
/// elsewhere (e.g. over the network) with the same located errors.
public final class CSVRecord {
    @usableFromInline
    struct Span {
        @usableFromInline var start: Int
        @usableFromInline var end: Int
        /// bit 0: quoted; bit 1: contains doubled quotes (needs unescaping).
        @usableFromInline var flags: UInt8
    }

    /// Column names (or `column 1`, `column 2`… when the file has no header).
    public internal(set) var header: [String]
    /// The file (or stream name) used in error messages; a record parsed from raw bytes of
    /// several files is renamed before each file's records.
    public var file: String
    /// 1-based physical line where this record starts.
    @exclusivity(unchecked)
    public internal(set) var line: Int = 0
    /// Number of fields in this record.
    @exclusivity(unchecked)
    public internal(set) var count: Int = 0

    @exclusivity(unchecked)
    @usableFromInline var base: UnsafePointer<UInt8> = UnsafePointer(bitPattern: 8)!
    @exclusivity(unchecked)
    @usableFromInline var rawLength: Int = 0
    @exclusivity(unchecked)
    @usableFromInline var spans: UnsafeMutablePointer<Span>
    @exclusivity(unchecked)
    @usableFromInline var spanCapacity: Int
    /// When set, only this column's span is stored (label-only scanning).
    @exclusivity(unchecked)
    @usableFromInline var onlyColumn: Int = -1
    let delimiter: UInt8
    let missingTokens: [[UInt8]]
    let hasHeaderNames: Bool
    /// Fields beyond this index are counted but not stored (`CSVOptions.maxColumns`).
    let maxFields: Int
    /// Lines spanned by embedded newlines in the last scanned record.
    @exclusivity(unchecked)
    var extraLines = 0
    private var scratch: UnsafeMutableRawBufferPointer
    private var owned: UnsafeMutableRawBufferPointer
    /// Details of the last scan error.
    var scanErrorCode: CSVError.Code = .io
    var scanErrorField = 0
    var scanErrorMessage = ""

    /// A standalone record for parsing raw record bytes (see `parse(raw:line:)`).
    public init(header: [String], file: String, options: CSVOptions = CSVOptions()) {
        self.header = header
        self.file = file
        self.delimiter = options.delimiter
        self.missingTokens = options.missingValues.map { Array($0.utf8) }
        self.hasHeaderNames = options.hasHeader || !options.columnNames.isEmpty
        self.maxFields = max(1, options.maxColumns)
        self.spanCapacity = max(header.count, 16)
        self.spans = .allocate(capacity: spanCapacity)
        self.scratch = .allocate(byteCount: 256, alignment: 8)
        self.owned = .allocate(byteCount: 256, alignment: 8)
    }

    deinit {
        spans.deallocate()
        scratch.deallocate()
        owned.deallocate()
    }

    // MARK: Parsing raw records

    /// Parses the raw bytes of one record (as given by `withRawBytes` on the reading side, without
    /// the line terminator) that started at physical `line` of `file`. The bytes are copied.
    /// Throws a located error on malformed quoting or a field count different from the header's.
    public func parse(raw: UnsafeRawBufferPointer, line: Int) throws(CSVError) {
        if raw.count > owned.count {
            owned.deallocate()
            owned = .allocate(byteCount: max(raw.count, owned.count * 2), alignment: 8)
        }
        if raw.count > 0 { owned.baseAddress!.copyMemory(from: raw.baseAddress!, byteCount: raw.count) }
        let buf = UnsafePointer(owned.baseAddress!.assumingMemoryBound(to: UInt8.self))
        self.line = line
        let next = scan(buf, start: 0, limit: raw.count, eof: true)
        if next < 0 { throw scanError() }
        if !header.isEmpty && count != header.count { throw fieldCountError() }
        if count > maxFields { throw tooManyColumnsError() }
    }

    /// `parse(raw:line:)` for a byte array.
    public func parse(raw: [UInt8], line: Int) throws(CSVError) {
        var failure: CSVError?
        raw.withUnsafeBytes { r in
            do throws(CSVError) { try parse(raw: r, line: line) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    // MARK: Field access

    /// The record's raw bytes as they appear in the file, without the line terminator.
    @inlinable
    public func withRawBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeRawBufferPointer(start: base, count: rawLength))
    }

    /// The unquoted, unescaped bytes of field `index` (0-based). Valid only inside `body`.
    @inlinable
    public func withField<R, E: Error>(at index: Int, _ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        precondition(index >= 0 && index < count, "field index \(index) out of range 0..<\(count)")
        precondition(onlyColumn < 0 || onlyColumn == index, "the reader extracts only column \(onlyColumn)")
        let s = spans[onlyColumn < 0 ? index : 0]
        if s.flags & 2 == 0 {
            return try body(UnsafeRawBufferPointer(start: base + s.start, count: s.end - s.start))
        }
        return try body(unescape(s))
    }

    /// Field `index` as a `String` (allocates for fields longer than 15 bytes).
    public func string(at index: Int) -> String {
        withField(at: index) { String(decoding: $0, as: UTF8.self) }
    }

    /// Whether field `index` is empty or one of the missing-value tokens.
    public func isMissing(at index: Int) -> Bool {
        withField(at: index) { isMissingToken($0) }
    }

    /// Field `index` as a number; `Double.nan` when missing. Correctly rounded (same as `strtod`).
    /// Throws `CSVError` with code `.notANumber`, naming line, column and column name.
    @inlinable
    public func double(at index: Int) throws(CSVError) -> Double {
        precondition(index >= 0 && index < count, "field index \(index) out of range 0..<\(count)")
        let s = spans[onlyColumn < 0 ? index : 0]
        if s.end == s.start { return .nan }
        if s.flags & 2 == 0 {
            if case .number(let v) = NumberParser.parse(base + s.start, count: s.end - s.start) { return v }
        }
        return try doubleSlow(index)
    }

    @usableFromInline
    func doubleSlow(_ index: Int) throws(CSVError) -> Double {
        try withField(at: index) { (bytes) throws(CSVError) -> Double in
            if let p = bytes.baseAddress,
                case .number(let v) = NumberParser.parse(p.assumingMemoryBound(to: UInt8.self), count: bytes.count)
            {
                return v
            }
            if isMissingToken(bytes) { return .nan }
            throw CSVError(
                code: .notANumber, file: file, line: line, column: index + 1,
                columnName: columnName(index), message: "expected a number, found \(quoteForMessage(bytes))")
        }
    }

    /// Parses every field into `out` (which must hold `count` values); missing → NaN.
    @inlinable
    public func doubles(into out: UnsafeMutableBufferPointer<Double>) throws(CSVError) {
        precondition(out.count >= count)
        for i in 0..<count { out[i] = try double(at: i) }
    }

    /// The header name of a 0-based column, if the file has a header.
    public func columnName(_ index: Int) -> String? {
        hasHeaderNames && index < header.count ? header[index] : nil
    }

    // MARK: Internals

    /// Whether `bytes` (a field) is empty or one of the missing-value tokens.
    public func isMissingToken(_ bytes: UnsafeRawBufferPointer) -> Bool {
        if bytes.count == 0 { return true }
        for token in missingTokens where token.count == bytes.count {
            if token.withUnsafeBytes({ $0.elementsEqual(bytes) }) { return true }
        }
        return false
    }

    @usableFromInline
    func unescape(_ s: Span) -> UnsafeRawBufferPointer {
        let n = s.end - s.start
        if n > scratch.count {
            scratch.deallocate()
            scratch = .allocate(byteCount: max(n, scratch.count * 2), alignment: 8)
        }
        let out = scratch.baseAddress!.assumingMemoryBound(to: UInt8.self)
        var i = s.start
        var j = 0
        while i < s.end {
            let c = base[i]
            out[j] = c
            j += 1
            i += (c == UInt8(ascii: "\"") && i + 1 < s.end && base[i + 1] == UInt8(ascii: "\"")) ? 2 : 1
        }
        return UnsafeRawBufferPointer(start: out, count: j)
    }

    @inline(__always)
    private func store(_ n: Int, _ start: Int, _ end: Int, _ flags: UInt8) {
        if onlyColumn >= 0 {
            if n == onlyColumn { spans[0] = Span(start: start, end: end, flags: flags) }
            return
        }
        if n >= spanCapacity {
            // Too wide: keep counting (the record fails its field-count check) but store nothing.
            if n >= maxFields { return }
            growSpans()
        }
        spans[n] = Span(start: start, end: end, flags: flags)
    }

    private func growSpans() {
        let capacity = min(spanCapacity * 2, max(maxFields, spanCapacity + 1))
        let bigger = UnsafeMutablePointer<Span>.allocate(capacity: capacity)
        bigger.moveInitialize(from: spans, count: spanCapacity)
        spans.deallocate()
        spans = bigger
        spanCapacity = capacity
    }

    /// Scans one record starting at `buf[start]`, recording field spans relative to the record.
    /// Returns the offset just after the record's terminator, `-1` when more input is needed
    /// (only when `eof` is false), or `-2` on a malformed record (details in `scanError…`).
    @inline(__always)
    func scan(_ buf: UnsafePointer<UInt8>, start: Int, limit: Int, eof: Bool) -> Int {
        let quote = UInt8(ascii: "\"")
        let lf = UInt8(ascii: "\n")
        let cr = UInt8(ascii: "\r")
        let d = delimiter
        let rec = buf + start
        let n = limit - start
        var p = 0
        var field = 0
        var newlines = 0
        var end = 0
        var next = 0
        while true {
            if p < n && rec[p] == quote {
                let fs = p + 1
                var q = fs
                var flags: UInt8 = 1
                while true {
                    while q < n && rec[q] != quote {
                        if rec[q] == lf { newlines += 1 }
                        q += 1
                    }
                    if q >= n {
                        if !eof { return -1 }
                        scanErrorCode = .unterminatedQuote
                        scanErrorField = field
                        scanErrorMessage = "quoted field is not closed before the end of the input"
                        return -2
                    }
                    if q + 1 < n {
                        if rec[q + 1] == quote {
                            flags = 3
                            q += 2
                            continue
                        }
                    } else if !eof {
                        return -1
                    }
                    break
                }
                store(field, fs, q, flags)
                p = q + 1
                if p >= n {
                    end = p
                    next = p
                    break
                }
                let c = rec[p]
                if c == d {
                    field += 1
                    p += 1
                    continue
                }
                if c == lf {
                    end = p
                    next = p + 1
                    break
                }
                if c == cr {
                    if p + 1 < n { next = rec[p + 1] == lf ? p + 2 : p + 1 } else if eof { next = p + 1 } else { return -1 }
                    end = p
                    break
                }
                scanErrorCode = .unexpectedCharacterAfterQuote
                scanErrorField = field
                scanErrorMessage =
                    "expected a delimiter or end of line after a closing quote, found \(quoteForMessage(UnsafeRawBufferPointer(start: rec + p, count: 1)))"
                return -2
            } else {
                let fs = p
                // Eight bytes at a time: the lowest set bit of `hit` marks the first delimiter,
                // LF or CR (the classic has-zero-byte test on word ^ broadcast(byte)).
                let lows: UInt64 = 0x0101_0101_0101_0101
                let highs: UInt64 = 0x8080_8080_8080_8080
                let dWord = lows &* UInt64(d)
                let lfWord = lows &* 0x0A
                let crWord = lows &* 0x0D
                while p &+ 8 <= n {
                    let w = UInt64(littleEndian: UnsafeRawPointer(rec + p).loadUnaligned(as: UInt64.self))
                    let a = w ^ dWord
                    let b = w ^ lfWord
                    let c = w ^ crWord
                    let hit = ((a &- lows) & ~a | (b &- lows) & ~b | (c &- lows) & ~c) & highs
                    if hit != 0 {
                        p &+= hit.trailingZeroBitCount >> 3
                        break
                    }
                    p &+= 8
                }
                while p < n {
                    let c = rec[p]
                    if c == d || c == lf || c == cr { break }
                    p += 1
                }
                if p >= n {
                    if !eof { return -1 }
                    store(field, fs, p, 0)
                    end = p
                    next = p
                    break
                }
                store(field, fs, p, 0)
                let c = rec[p]
                if c == d {
                    field += 1
                    p += 1
                    continue
                }
                if c == lf {
                    end = p
                    next = p + 1
                    break
                }
                if p + 1 < n { next = rec[p + 1] == lf ? p + 2 : p + 1 } else if eof { next = p + 1 } else { return -1 }
                end = p
                break
            }
        }
        base = rec
        rawLength = end
        count = field + 1
        extraLines = newlines
        return start + next
    }

    func scanError() -> CSVError {
        CSVError(
            code: scanErrorCode, file: file, line: line, column: scanErrorField + 1,
            columnName: columnName(scanErrorField), message: scanErrorMessage)
    }

    func tooManyColumnsError() -> CSVError {
        CSVError(
            code: .fieldCount, file: file, line: line,
            message: "\(count) fields, more than the limit of \(maxFields) columns (CSVOptions.maxColumns)")
    }

    func fieldCountError() -> CSVError {
        CSVError(
            code: .fieldCount, file: file, line: line,
            message: "\(count) field\(count == 1 ? "" : "s"), header has \(header.count)")
    }
}
