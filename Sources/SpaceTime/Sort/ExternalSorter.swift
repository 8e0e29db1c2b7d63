import HeapModule

#if canImport(Glibc)
    import Glibc
#endif

/// Sorts (key, value) byte records under a memory limit: sorted LZ4 runs on disk plus a heap
/// k-way merge, with extra merge passes when there are more runs than the fan-in.
///
/// Keys compare bytewise (`memcmp`, a proper prefix first); use `SortKey` encodings for numbers.
/// The sort is stable: records with equal keys come out in the order they were appended.
///
/// ```swift
/// let sorter = ExternalSorter(memoryLimit: 64 << 20, directory: spill)
/// try sorter.append(key: k, value: v)   // many times
/// let out = try sorter.finish()
/// while let (key, value) = try out.next() { … }
/// ```
public final class ExternalSorter {
    public let memoryLimit: Int
    public let blockBytes: Int
    /// Runs merged at once (bounded by the memory limit: each open run holds two blocks).
    public let fanIn: Int
    /// Runs written to disk (0 when everything fit in memory).
    public private(set) var runsWritten = 0
    /// Merge passes over the data before the final streaming merge.
    public private(set) var intermediatePasses = 0
    /// Records appended.
    public private(set) var count = 0

    private let directory: SpillDirectory
    private var arena: [UInt8] = []
    private var offsets: [Int] = []
    private let runBytes: Int
    private var runs: [BlockFile] = []
    private var finished = false
    /// Runs are read back once or twice: trade some compression ratio for speed.
    static let runAcceleration: Int32 = 4

    /// - Parameters:
    ///   - memoryLimit: bytes for run buffers and merge buffers (≥ 1 MiB recommended). A limit
    ///     above the machine's physical memory is lowered to it (`memoryLimit` reports the result).
    ///   - fanIn: maximum runs merged at once; lowered to fit the memory limit.
    public init(memoryLimit: Int, directory: SpillDirectory, fanIn: Int = 64, blockBytes: Int = 128 << 10) {
        // The run buffer is reserved up front, so a limit no machine has (e.g. `--memory-limit
        // 4000GiB`) would fail that allocation; products of huge limits would overflow.
        let memoryLimit = max(0, min(memoryLimit, physicalMemoryBytes()))
        self.memoryLimit = memoryLimit
        self.directory = directory
        self.blockBytes = max(4096, min(blockBytes, memoryLimit / 16))
        // A merge holds per open run one raw block + one compressed block, plus the output block.
        self.fanIn = max(2, min(fanIn, memoryLimit / (2 * self.blockBytes + 1024) - 2))
        // Run buffer: entries (arena) + one Int offset per entry; keep ~70% of the limit.
        self.runBytes = max(64 << 10, memoryLimit / 10 * 7)
    }

    deinit { for r in runs { r.close() } }

    /// Appends one record.
    public func append(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) throws(SpillError) {
        precondition(!finished, "append after finish")
        let entry = 8 + key.count + value.count
        if !offsets.isEmpty && arena.count + entry + (offsets.count + 1) * 8 > runBytes { try writeRun() }
        // Reserve the whole run buffer once: untouched pages cost no memory, and growing by
        // doubling would briefly hold two copies (old and new buffer) during the copy.
        if arena.capacity == 0 { arena.reserveCapacity(runBytes) }
        offsets.append(arena.count)
        withUnsafeBytes(of: UInt32(key.count).littleEndian) { arena.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt32(value.count).littleEndian) { arena.append(contentsOf: $0) }
        arena.append(contentsOf: key)
        arena.append(contentsOf: value)
        count += 1
    }

    /// Appends one record from arrays.
    public func append(key: [UInt8], value: [UInt8]) throws(SpillError) {
        var failure: SpillError?
        key.withUnsafeBytes { k in
            value.withUnsafeBytes { v in
                do throws(SpillError) { try append(key: k, value: v) } catch { failure = error }
            }
        }
        if let failure { throw failure }
    }

    /// Appends a record whose key is a `SortKey`-encoded 8-byte value.
    public func append(key: UInt64, value: UnsafeRawBufferPointer) throws(SpillError) {
        var k = key
        var failure: SpillError?
        withUnsafeBytes(of: &k) { kb in
            do throws(SpillError) { try append(key: kb, value: value) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// Sorts the in-memory entries (stable: ties keep arrival order).
    private func sortOffsets() {
        arena.withUnsafeBytes { raw in
            let base = raw.baseAddress!
            offsets.sort { a, b in
                let c = compareEntries(base + a, base + b)
                return c != 0 ? c < 0 : a < b
            }
        }
    }

    private func writeRun() throws(SpillError) {
        sortOffsets()
        let file = try BlockFile(path: directory.newFilePath("run"), acceleration: Self.runAcceleration)
        var failure: SpillError?
        arena.withUnsafeBytes { raw in
            let base = raw.baseAddress!
            var block = [UInt8]()
            block.reserveCapacity(blockBytes)
            for o in offsets {
                let n = entrySize(base + o)
                if !block.isEmpty && block.count + n > blockBytes {
                    do throws(SpillError) { try appendBlock(block, to: file) } catch {
                        failure = error
                        return
                    }
                    block.removeAll(keepingCapacity: true)
                }
                block.append(contentsOf: UnsafeRawBufferPointer(start: base + o, count: n))
            }
            if !block.isEmpty {
                do throws(SpillError) { try appendBlock(block, to: file) } catch { failure = error }
            }
        }
        if let failure {
            file.close()
            throw failure
        }
        file.shrinkBuffers()
        runs.append(file)
        runsWritten += 1
        arena.removeAll(keepingCapacity: true)
        offsets.removeAll(keepingCapacity: true)
    }

    /// Finishes input and returns the sorted records as a stream.
    public func finish() throws(SpillError) -> SortedRecords {
        precondition(!finished, "finish called twice")
        finished = true
        if runs.isEmpty {
            sortOffsets()
            let r = SortedRecords(memory: arena, offsets: offsets)
            arena = []
            offsets = []
            return r
        }
        if !offsets.isEmpty { try writeRun() }
        arena = []
        offsets = []
        MemoryMonitor.returnFreeMemoryToOS()
        while runs.count > fanIn {
            var next: [BlockFile] = []
            var i = 0
            while i < runs.count {
                let group = Array(runs[i..<min(i + fanIn, runs.count)])
                if group.count == 1 {
                    next.append(group[0])
                    i += fanIn
                    continue
                }
                let out = try BlockFile(path: directory.newFilePath("merge"), acceleration: Self.runAcceleration)
                let merger = try Merger(runs: group, blockBytes: blockBytes)
                var block = [UInt8]()
                block.reserveCapacity(blockBytes)
                while let e = try merger.next() {
                    let n = entrySize(e)
                    if !block.isEmpty && block.count + n > blockBytes {
                        try appendBlock(block, to: out)
                        block.removeAll(keepingCapacity: true)
                    }
                    block.append(contentsOf: UnsafeRawBufferPointer(start: e, count: n))
                }
                if !block.isEmpty { try appendBlock(block, to: out) }
                out.shrinkBuffers()
                for r in group { r.close() }
                next.append(out)
                i += fanIn
            }
            runs = next
            intermediatePasses += 1
        }
        let merger = try Merger(runs: runs, blockBytes: blockBytes)
        runs = []
        return SortedRecords(merger: merger)
    }

    private func appendBlock(_ block: [UInt8], to file: BlockFile) throws(SpillError) {
        var failure: SpillError?
        block.withUnsafeBytes { b in do throws(SpillError) { try file.append(b) } catch { failure = error } }
        if let failure { throw failure }
    }
}

/// Physical memory of the machine in bytes (`Int.max` if unknown).
func physicalMemoryBytes() -> Int {
    let pages = sysconf(Int32(_SC_PHYS_PAGES))
    let pageSize = sysconf(Int32(_SC_PAGESIZE))
    guard pages > 0, pageSize > 0 else { return .max }
    let (bytes, overflow) = pages.multipliedReportingOverflow(by: pageSize)
    return overflow ? .max : bytes
}

// MARK: Entry layout: u32 keyLength, u32 valueLength, key, value

@inline(__always)
func entrySize(_ p: UnsafeRawPointer) -> Int {
    8 + Int(UInt32(littleEndian: p.loadUnaligned(as: UInt32.self)))
        + Int(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 4, as: UInt32.self)))
}

@inline(__always)
func entryKey(_ p: UnsafeRawPointer) -> UnsafeRawBufferPointer {
    UnsafeRawBufferPointer(start: p + 8, count: Int(UInt32(littleEndian: p.loadUnaligned(as: UInt32.self))))
}

@inline(__always)
func entryValue(_ p: UnsafeRawPointer) -> UnsafeRawBufferPointer {
    let k = Int(UInt32(littleEndian: p.loadUnaligned(as: UInt32.self)))
    return UnsafeRawBufferPointer(start: p + 8 + k, count: Int(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 4, as: UInt32.self))))
}

/// memcmp order of keys, shorter prefix first.
@inline(__always)
func compareEntries(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer) -> Int {
    let ka = Int(UInt32(littleEndian: a.loadUnaligned(as: UInt32.self)))
    let kb = Int(UInt32(littleEndian: b.loadUnaligned(as: UInt32.self)))
    let c = memcmp(a + 8, b + 8, min(ka, kb))
    if c != 0 { return Int(c) }
    return ka - kb
}

/// k-way merge of sorted runs with a binary heap; ties go to the earlier run (stability).
final class Merger {
    final class Cursor {
        let file: BlockFile
        var buffer: UnsafeMutableRawBufferPointer
        var block = 0
        var length = 0
        var offset = 0
        init(file: BlockFile, blockBytes: Int) {
            self.file = file
            buffer = .allocate(byteCount: blockBytes, alignment: 16)
        }
        deinit {
            buffer.deallocate()
            file.close()
        }
        /// Moves to the next entry; false at the end of the run.
        func advance() throws(SpillError) -> Bool {
            if offset < length { offset += entrySize(buffer.baseAddress! + offset) }
            if offset < length { return true }
            while block < file.blockCount {
                length = try file.read(block: block, into: &buffer)
                block += 1
                offset = 0
                if length > 0 { return true }
            }
            return false
        }
        var current: UnsafeRawPointer { UnsafeRawPointer(buffer.baseAddress! + offset) }
    }

    struct Head: Comparable {
        let entry: UnsafeRawPointer
        let run: Int
        static func < (a: Head, b: Head) -> Bool {
            let c = compareEntries(a.entry, b.entry)
            return c != 0 ? c < 0 : a.run < b.run
        }
        static func == (a: Head, b: Head) -> Bool { a.run == b.run && a.entry == b.entry }
    }

    private var cursors: [Cursor]
    private var heap = Heap<Head>()
    private var pending: Int?

    init(runs: [BlockFile], blockBytes: Int) throws(SpillError) {
        cursors = runs.map { Cursor(file: $0, blockBytes: blockBytes) }
        for (i, c) in cursors.enumerated() {
            c.offset = 0
            c.length = 0
            if try c.advance() { heap.insert(Head(entry: c.current, run: i)) }
        }
    }

    /// The next entry in order; valid until the following call.
    func next() throws(SpillError) -> UnsafeRawPointer? {
        if let run = pending {
            pending = nil
            let c = cursors[run]
            if try c.advance() { heap.insert(Head(entry: c.current, run: run)) }
        }
        guard let head = heap.popMin() else {
            cursors = []
            return nil
        }
        pending = head.run
        return head.entry
    }
}

/// The output of `ExternalSorter.finish()`: records in key order, streamed.
public final class SortedRecords {
    private var merger: Merger?
    private var memory: [UInt8]
    private var offsets: [Int]
    private var index = 0

    init(merger: Merger) {
        self.merger = merger
        memory = []
        offsets = []
    }

    init(memory: [UInt8], offsets: [Int]) {
        self.memory = memory
        self.offsets = offsets
    }

    /// The next record's key and value, or nil at the end. The buffers are valid until the next call.
    public func next() throws(SpillError) -> (key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)? {
        if let merger {
            guard let e = try merger.next() else {
                self.merger = nil
                return nil
            }
            return (entryKey(e), entryValue(e))
        }
        guard index < offsets.count else {
            memory = []
            return nil
        }
        let o = offsets[index]
        index += 1
        return memory.withUnsafeBytes { raw in (entryKey(raw.baseAddress! + o), entryValue(raw.baseAddress! + o)) }
    }
}

extension SortedRecords {
    /// Writes `header`, then every remaining record's value followed by `terminator`, to `path`
    /// atomically (temporary file, fsync, rename). Returns the number of records written.
    @discardableResult
    public func writeValues(to path: String, header: [UInt8] = [], terminator: [UInt8] = [10]) throws -> Int {
        let writer = try AtomicFileWriter(path: path)
        if !header.isEmpty { try writer.append(header) }
        var n = 0
        while let (_, value) = try next() {
            try writer.append(value)
            if !terminator.isEmpty { try writer.append(terminator) }
            n += 1
        }
        try writer.commit()
        return n
    }
}

/// Sorts fixed-width values under a memory limit into a `SpillableArray` (stable for equal keys).
public func externalSort<S: Sequence>(_ values: S, memoryLimit: Int, directory: SpillDirectory) throws(SpillError) -> SpillableArray<
    S.Element
>
where S.Element: ExternalSortable {
    let sorter = ExternalSorter(memoryLimit: memoryLimit / 2, directory: directory)
    for v in values {
        var value = v
        var failure: SpillError?
        withUnsafeBytes(of: &value) { vb in
            do throws(SpillError) { try sorter.append(key: v.sortKey, value: vb) } catch { failure = error }
        }
        if let failure { throw failure }
    }
    let out = SpillableArray<S.Element>(memoryLimit: memoryLimit / 2, directory: directory)
    let sorted = try sorter.finish()
    while let (_, value) = try sorted.next() {
        try out.append(value.loadUnaligned(as: S.Element.self))
    }
    return out
}
