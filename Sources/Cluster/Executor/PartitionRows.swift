import Foundation
import SpaceTime

/// One partition's parsed rows on a worker, kept between extraction and the
/// train / evaluate tasks that run on the same worker: values row-major as
/// Float64, labels as interned ids, test rows with their file lines.
/// Filled on one thread, then read-only.
///
/// Rows are packed into chunks of about `chunkBytes` (labels, lines, values
/// copied in bulk, no per-value call). Full chunks stay in memory up to the
/// memory share; beyond it each becomes one record of a `SpillableRecordArray`,
/// written to the spill directory as LZ4-compressed blocks.
final class PartitionRows: @unchecked Sendable {
    let featureCount: Int
    private let train: RowChunks
    private let test: RowChunks
    private(set) var labelTexts: [String] = []
    private var labelIDs: [String: Int32] = [:]
    /// Per label id: training and test rows.
    private(set) var trainCounts: [UInt64] = []
    private(set) var testCounts: [UInt64] = []
    var trainCount: Int { train.count }
    var testCount: Int { test.count }

    /// `memoryBytes`: in-memory bytes for the training and test rows together (the rest spills).
    init(featureCount: Int, directory: SpillDirectory, memoryBytes: Int, chunkBytes: Int = 256 << 10) {
        self.featureCount = featureCount
        let share = max(256 << 10, memoryBytes)
        train = RowChunks(featureCount: featureCount, withLines: false, directory: directory,
                          memoryBytes: share / 4 * 3, chunkBytes: chunkBytes)
        test = RowChunks(featureCount: featureCount, withLines: true, directory: directory,
                         memoryBytes: share / 4, chunkBytes: chunkBytes)
    }

    deinit { close() }

    func close() {
        train.close()
        test.close()
    }

    /// Bytes spilled to disk (compressed), training and test rows.
    var spilledBytes: Int { train.spilledBytes + test.spilledBytes }

    private func intern(_ label: String) -> Int32 {
        if let id = labelIDs[label] { return id }
        let id = Int32(labelTexts.count)
        labelIDs[label] = id
        labelTexts.append(label)
        trainCounts.append(0)
        testCounts.append(0)
        return id
    }

    func append(_ values: [Double], label: String, isTest: Bool, line: UInt64) throws(SpillError) {
        let id = intern(label)
        var failure: SpillError?
        values.withUnsafeBufferPointer { v in
            do throws(SpillError) { try (isTest ? test : train).append(v, label: id, line: line) } catch { failure = error }
        }
        if let failure { throw failure }
        if isTest { testCounts[Int(id)] += 1 } else { trainCounts[Int(id)] += 1 }
    }

    /// Calls `body(row, labelID, line)` for every training or test row in
    /// order; `row` (`featureCount` values) is valid only inside `body`.
    /// Lines are 0 for training rows.
    func forEachRow(test isTest: Bool, _ body: (UnsafeBufferPointer<Double>, Int32, UInt64) throws -> Void) throws {
        try (isTest ? test : train).forEach(body)
    }

    /// Like `forEachRow`, with each row copied into an array.
    func forEach(test isTest: Bool, _ body: ([Double], Int32, UInt64) throws -> Void) throws {
        var row = [Double](repeating: 0, count: featureCount)
        try forEachRow(test: isTest) { values, label, line in
            _ = row.withUnsafeMutableBufferPointer { $0.update(fromContentsOf: values) }
            try body(row, label, line)
        }
    }
}

/// Rows of one kind (training or test) in chunks; see `PartitionRows`.
/// The first full chunks stay in memory as they are, up to the memory share;
/// once it is used, every later chunk becomes a record of the spill array:
/// row count (u32), padding (u32), labels (i32 × n, padded to 8 bytes),
/// lines (u64 × n, when kept), values (f64 × n × features).
final class RowChunks {
    struct Chunk {
        var labels: [Int32] = []
        var lines: [UInt64] = []
        var values: [Double] = []
        var bytes: Int { labels.count * 4 + lines.count * 8 + values.count * 8 }
    }

    let featureCount: Int
    let withLines: Bool
    let rowsPerChunk: Int
    let memoryBytes: Int
    private(set) var count = 0
    /// Full chunks kept in memory (the first ones), then spilled ones, then `open`.
    private var kept: [Chunk] = []
    private var keptBytes = 0
    private var spilling = false
    private var open = Chunk()
    private let records: SpillableRecordArray
    private var record: [UInt8] = []

    init(featureCount: Int, withLines: Bool, directory: SpillDirectory, memoryBytes: Int, chunkBytes: Int) {
        self.featureCount = featureCount
        self.withLines = withLines
        let rowBytes = featureCount * 8 + 4 + (withLines ? 8 : 0)
        rowsPerChunk = max(1, chunkBytes / max(1, rowBytes))
        let chunkSize = rowsPerChunk * rowBytes
        // The open chunk and the spill array's buffer come out of the share too.
        self.memoryBytes = max(0, memoryBytes - 3 * chunkSize)
        records = SpillableRecordArray(memoryLimit: 2 * chunkSize, directory: directory, blockBytes: max(chunkSize, 64 << 10))
    }

    func close() {
        records.close()
        kept = []
        keptBytes = 0
        open = Chunk()
        count = 0
    }

    var spilledBytes: Int { records.spilledBytes }

    func append(_ row: UnsafeBufferPointer<Double>, label: Int32, line: UInt64) throws(SpillError) {
        precondition(row.count == featureCount, "row of \(row.count) values, expected \(featureCount)")
        if open.labels.isEmpty {
            open.labels.reserveCapacity(rowsPerChunk)
            open.values.reserveCapacity(rowsPerChunk * featureCount)
            if withLines { open.lines.reserveCapacity(rowsPerChunk) }
        }
        open.labels.append(label)
        if withLines { open.lines.append(line) }
        open.values.append(contentsOf: row)
        count += 1
        if open.labels.count >= rowsPerChunk { try flush() }
    }

    private static func padded(_ n: Int) -> Int { (n + 7) & ~7 }

    /// Keeps the open chunk in memory while the share allows, else spills it as a record.
    private func flush() throws(SpillError) {
        let n = open.labels.count
        guard n > 0 else { return }
        if !spilling && keptBytes + open.bytes <= memoryBytes {
            keptBytes += open.bytes
            kept.append(open)
            open = Chunk()
            return
        }
        spilling = true
        let labelBytes = Self.padded(n * 4), lineBytes = withLines ? n * 8 : 0
        let size = 8 + labelBytes + lineBytes + open.values.count * 8
        if record.count != size { record = [UInt8](repeating: 0, count: size) }
        record.withUnsafeMutableBytes { out in
            out.storeBytes(of: UInt32(n), as: UInt32.self)
            out.storeBytes(of: UInt32(0), toByteOffset: 4, as: UInt32.self)
            open.labels.withUnsafeBytes { (out.baseAddress! + 8).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            if withLines {
                open.lines.withUnsafeBytes { (out.baseAddress! + 8 + labelBytes).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            }
            open.values.withUnsafeBytes {
                (out.baseAddress! + 8 + labelBytes + lineBytes).copyMemory(from: $0.baseAddress!, byteCount: $0.count)
            }
        }
        try records.append(record)
        open.labels.removeAll(keepingCapacity: true)
        open.lines.removeAll(keepingCapacity: true)
        open.values.removeAll(keepingCapacity: true)
    }

    private func each(_ chunk: Chunk, _ body: (UnsafeBufferPointer<Double>, Int32, UInt64) throws -> Void) throws {
        let F = featureCount
        try chunk.values.withUnsafeBufferPointer { v in
            for r in 0..<chunk.labels.count {
                try body(UnsafeBufferPointer(rebasing: v[r * F ..< (r + 1) * F]), chunk.labels[r], withLines ? chunk.lines[r] : 0)
            }
        }
    }

    /// Calls `body` with every row in order.
    func forEach(_ body: (UnsafeBufferPointer<Double>, Int32, UInt64) throws -> Void) throws {
        for chunk in kept { try each(chunk, body) }
        let F = featureCount
        var failure: (any Error)?
        var aligned = UnsafeMutableRawBufferPointer.allocate(byteCount: 0, alignment: 16)
        defer { aligned.deallocate() }
        try records.forEach { bytes in
            guard failure == nil, bytes.count >= 8 else { return }
            // Records sit at arbitrary offsets in their block: copy to an aligned buffer.
            if aligned.count < bytes.count {
                aligned.deallocate()
                aligned = .allocate(byteCount: bytes.count, alignment: 16)
            }
            aligned.copyMemory(from: bytes)
            let n = Int(aligned.load(as: UInt32.self))
            let labelBytes = Self.padded(n * 4), lineBytes = withLines ? n * 8 : 0
            guard bytes.count == 8 + labelBytes + lineBytes + n * F * 8 else {
                failure = SpillError(code: .corrupt, message: "a row chunk of \(bytes.count) bytes does not hold its \(n) rows")
                return
            }
            let base = aligned.baseAddress!
            let labelPointer = (base + 8).assumingMemoryBound(to: Int32.self)
            let linePointer = (base + 8 + labelBytes).assumingMemoryBound(to: UInt64.self)
            let valuePointer = (base + 8 + labelBytes + lineBytes).assumingMemoryBound(to: Double.self)
            do {
                for r in 0..<n {
                    try body(UnsafeBufferPointer(start: valuePointer + r * F, count: F), labelPointer[r],
                             withLines ? linePointer[r] : 0)
                }
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
        try each(open, body)
    }
}
