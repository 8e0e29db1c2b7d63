import Foundation
import SpaceTime

/// One pass over a CSV file that remembers where every `granule`-th record
/// starts (byte offset and line), so a block of records can later be read
/// from the middle of the file without reading what precedes it. Field
/// counts are checked on the way, with the reader's located errors.
public struct CSVBlockIndex: Sendable {
    public struct Mark: Sendable, Hashable {
        /// Byte offset where reading for this record starts (after the previous record; blank lines may follow).
        public var offset: Int
        /// The record's 1-based line.
        public var line: Int
    }

    public let path: String
    public let granule: Int
    /// Records in the file (after the header).
    public let rows: Int
    /// Mark of record `i * granule`.
    public let marks: [Mark]

    public init(path: String, options: CSVOptions = CSVOptions(), granule: Int = 1024) throws {
        self.path = path
        self.granule = max(1, granule)
        let reader: CSVReader
        do { reader = try CSVReader(path: path, options: options) } catch { throw PipelineError(wrapping: error) }
        defer { reader.close() }
        let bom = Self.hasByteOrderMark(path) ? 3 : 0
        reader.extractOnly(column: 0)
        var marks: [Mark] = []
        var rows = 0
        // Without a header the reader has already read the first record (to check its field
        // count against the names given): that record starts where the file does.
        var before = options.hasHeader ? reader.bytesRead : 0
        do {
            while let record = try reader.next() {
                if rows % self.granule == 0 { marks.append(Mark(offset: bom + before, line: record.line)) }
                rows += 1
                before = reader.bytesRead
            }
        } catch {
            throw PipelineError(wrapping: error)
        }
        self.rows = rows
        self.marks = marks
    }

    /// Where the block starting at record `first` (a multiple of `granule`) begins.
    public func mark(ofRecord first: Int) -> Mark? {
        guard first % granule == 0, first / granule < marks.count else { return nil }
        return marks[first / granule]
    }

    private static func hasByteOrderMark(_ path: String) -> Bool {
        guard let h = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? h.close() }
        return (try? h.read(upToCount: 3)).map { [UInt8]($0) == [0xEF, 0xBB, 0xBF] } ?? false
    }
}

/// Reads the records of one block: opens the file at the block's mark and
/// returns `rows` records with their true line numbers and raw bytes.
public final class CSVBlockReader {
    private let reader: CSVReader
    private var remaining: Int
    private var lineShift: Int?
    private let firstLine: Int

    public init(path: String, mark: CSVBlockIndex.Mark, rows: Int, options: CSVOptions = CSVOptions()) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw PipelineError(.io, "\(path): cannot open: \(String(cString: strerror(errno)))") }
        guard lseek(fd, off_t(mark.offset), SEEK_SET) == off_t(mark.offset) else {
            close(fd)
            throw PipelineError(.io, "\(path): cannot seek to byte \(mark.offset)")
        }
        var o = options
        o.hasHeader = false
        do {
            reader = try CSVReader(fileDescriptor: fd, name: path, options: o, ownsDescriptor: true, decompress: false)
        } catch {
            throw PipelineError(wrapping: error)
        }
        remaining = rows
        firstLine = mark.line
    }

    deinit { reader.close() }

    /// Records left to read.
    public var rowsLeft: Int { remaining }

    /// Calls `body(line, rawBytes)` for the next record; false when the block is exhausted.
    public func next(_ body: (Int, UnsafeRawBufferPointer) throws -> Void) throws -> Bool {
        guard remaining > 0 else { return false }
        let record: CSVRecord?
        do { record = try reader.next() } catch { throw PipelineError(wrapping: error) }
        guard let record else {
            throw PipelineError(.io, "\(reader.file): the file ended \(remaining) record(s) early (did it change during the job?)")
        }
        if lineShift == nil { lineShift = firstLine - record.line }
        remaining -= 1
        try record.withRawBytes { try body(record.line + (lineShift ?? 0), $0) }
        return true
    }
}
