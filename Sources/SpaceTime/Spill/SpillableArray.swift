/// An append-only array of fixed-size values that keeps at most about `memoryLimit` bytes in
/// memory and spills the rest to LZ4-compressed blocks in a spill directory.
///
/// Elements `0..<spilledCount` live on disk in blocks of `elementsPerBlock`; later ones in an
/// in-memory tail. Random reads of spilled elements go through a small LRU block cache (one
/// `pread` + LZ4 decompression per miss, never a rescan); sequential reads stream block by block.
/// The spill file is deleted by `close()`, on deinit, and with its `SpillDirectory`.
public final class SpillableArray<Element: BitwiseCopyable> {
    public let memoryLimit: Int
    public let elementsPerBlock: Int
    /// Number of elements.
    public private(set) var count = 0
    /// Number of elements on disk (a prefix).
    public private(set) var spilledCount = 0
    private var tail: [Element] = []
    private let tailCapacity: Int
    private let directory: SpillDirectory
    private var file: BlockFile?
    private let cache: BlockCache
    private let budget: MemoryBudget?

    /// - Parameters:
    ///   - memoryLimit: bytes for the in-memory tail plus the block cache (≥ a few KiB).
    ///   - blockBytes: uncompressed bytes per spilled block (shrunk to fit small limits).
    ///   - budget: if given, `memoryLimit` is reserved against it until `close()`.
    public init(memoryLimit: Int, directory: SpillDirectory, blockBytes: Int = 256 << 10, budget: MemoryBudget? = nil) {
        self.budget = budget
        budget?.forceReserve(memoryLimit)
        let stride = MemoryLayout<Element>.stride
        let block = max(stride, min(blockBytes, max(4096, memoryLimit / 8)))
        elementsPerBlock = max(1, block / stride)
        let blockSize = elementsPerBlock * stride
        let cacheBlocks = max(1, min(8, memoryLimit / 4 / blockSize))
        cache = BlockCache(capacity: cacheBlocks)
        // The tail is reserved up front: never more than the machine has.
        let tailBytes = max(blockSize, min(memoryLimit, physicalMemoryBytes()) - (cacheBlocks + 1) * blockSize)
        tailCapacity = max(1, tailBytes / blockSize) * elementsPerBlock
        self.memoryLimit = memoryLimit
        self.directory = directory
    }

    deinit { close() }

    /// Deletes the spill file and empties the array.
    public func close() {
        file?.close()
        file = nil
        cache.clear()
        tail = []
        count = 0
        spilledCount = 0
        if !released {
            released = true
            budget?.release(memoryLimit)
        }
    }
    private var released = false

    /// Writes the in-memory tail to disk now and frees it (e.g. from a `MemoryMonitor` handler).
    public func spill() throws(SpillError) {
        if !tail.isEmpty { try spillTail() }
        tail = []
        cache.clear()
    }

    /// Appends one value, spilling the tail when it is full.
    @inlinable
    public func append(_ value: Element) throws(SpillError) {
        if tailIsFull { try spillTail() }
        appendToTail(value)
    }

    @usableFromInline var tailIsFull: Bool { tail.count >= tailCapacity }
    @usableFromInline func appendToTail(_ value: Element) {
        if tail.capacity == 0 { tail.reserveCapacity(tailCapacity) }
        tail.append(value)
        count += 1
    }

    /// Appends values in order.
    public func append<S: Sequence>(contentsOf values: S) throws(SpillError) where S.Element == Element {
        for v in values { try append(v) }
    }

    @usableFromInline
    func spillTail() throws(SpillError) {
        if file == nil { file = try BlockFile(path: directory.newFilePath("array")) }
        let stride = MemoryLayout<Element>.stride
        var failure: SpillError?
        tail.withUnsafeBytes { raw in
            var start = 0
            while start < tail.count {
                let n = min(elementsPerBlock, tail.count - start)
                do throws(SpillError) {
                    try file!.append(UnsafeRawBufferPointer(rebasing: raw[start * stride..<(start + n) * stride]))
                } catch {
                    failure = error
                    return
                }
                start += n
            }
        }
        if let failure { throw failure }
        spilledCount += tail.count
        tail.removeAll(keepingCapacity: true)
    }

    /// The element at `index` (0-based). Throws only on a spill-file read failure.
    public func element(at index: Int) throws(SpillError) -> Element {
        precondition(index >= 0 && index < count, "index \(index) out of range 0..<\(count)")
        if index >= spilledCount { return tail[index - spilledCount] }
        let bytes = try cache.block(index / elementsPerBlock, in: file!)
        return bytes.loadUnaligned(fromByteOffset: (index % elementsPerBlock) * MemoryLayout<Element>.stride, as: Element.self)
    }

    /// Calls `body` with every element in order, streaming spilled blocks from disk.
    public func forEach(_ body: (Element) throws(SpillError) -> Void) throws(SpillError) {
        if let file {
            var buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: elementsPerBlock * MemoryLayout<Element>.stride, alignment: 16)
            defer { buffer.deallocate() }
            for b in 0..<file.blockCount {
                let n = try file.read(block: b, into: &buffer) / MemoryLayout<Element>.stride
                let typed = UnsafeRawBufferPointer(buffer)
                for i in 0..<n { try body(typed.loadUnaligned(fromByteOffset: i * MemoryLayout<Element>.stride, as: Element.self)) }
            }
        }
        for v in tail { try body(v) }
    }

    /// All elements as an in-memory array (for tests and small arrays).
    public func toArray() throws(SpillError) -> [Element] {
        var out: [Element] = []
        out.reserveCapacity(count)
        try forEach { out.append($0) }
        return out
    }

    /// Bytes of spill file on disk (compressed).
    public var spilledBytes: Int { file?.size ?? 0 }
    /// Block cache hits and misses (random reads).
    public var cacheStatistics: (hits: Int, misses: Int) { (cache.hits, cache.misses) }
}

/// An append-only array of variable-length byte records with the same memory bound and spill
/// behaviour as `SpillableArray`. Records are stored length-prefixed (`u32`) in blocks; a block
/// index (first record number per block) serves random reads.
public final class SpillableRecordArray {
    public let memoryLimit: Int
    public private(set) var count = 0
    public private(set) var spilledCount = 0
    private var arena: [UInt8] = []
    private var tailOffsets: [Int] = []
    private let tailBytesLimit: Int
    private let blockBytes: Int
    private let directory: SpillDirectory
    private var file: BlockFile?
    private var blockFirstRecord: [Int] = []
    private let cache: BlockCache

    public init(memoryLimit: Int, directory: SpillDirectory, blockBytes: Int = 256 << 10) {
        self.blockBytes = max(1024, min(blockBytes, max(4096, memoryLimit / 8)))
        let cacheBlocks = max(1, min(8, memoryLimit / 4 / self.blockBytes))
        cache = BlockCache(capacity: cacheBlocks)
        tailBytesLimit = max(self.blockBytes, memoryLimit - (cacheBlocks + 1) * self.blockBytes)
        self.memoryLimit = memoryLimit
        self.directory = directory
    }

    deinit { close() }

    public func close() {
        file?.close()
        file = nil
        cache.clear()
        arena = []
        tailOffsets = []
        count = 0
        spilledCount = 0
    }

    /// Writes the in-memory records to disk now and frees their memory.
    public func spill() throws(SpillError) {
        if !tailOffsets.isEmpty { try spillTail() }
        arena = []
        tailOffsets = []
        cache.clear()
    }

    /// Appends one record.
    public func append(_ record: UnsafeRawBufferPointer) throws(SpillError) {
        if arena.count + record.count + 4 > tailBytesLimit && !tailOffsets.isEmpty { try spillTail() }
        tailOffsets.append(arena.count)
        withUnsafeBytes(of: UInt32(record.count).littleEndian) { arena.append(contentsOf: $0) }
        arena.append(contentsOf: record)
        count += 1
    }

    /// Appends one record from an array or string bytes.
    public func append(_ record: [UInt8]) throws(SpillError) {
        var failure: SpillError?
        record.withUnsafeBytes { r in do throws(SpillError) { try append(r) } catch { failure = error } }
        if let failure { throw failure }
    }

    private func spillTail() throws(SpillError) {
        if file == nil { file = try BlockFile(path: directory.newFilePath("records")) }
        var failure: SpillError?
        arena.withUnsafeBytes { raw in
            var i = 0
            while i < tailOffsets.count {
                // Pack whole records into one block of about blockBytes.
                let start = tailOffsets[i]
                var j = i + 1
                while j < tailOffsets.count && tailOffsets[j] - start < blockBytes { j += 1 }
                let end = j < tailOffsets.count ? tailOffsets[j] : arena.count
                do throws(SpillError) { try file!.append(UnsafeRawBufferPointer(rebasing: raw[start..<end])) } catch {
                    failure = error
                    return
                }
                blockFirstRecord.append(spilledCount + i)
                i = j
            }
        }
        if let failure { throw failure }
        spilledCount += tailOffsets.count
        arena.removeAll(keepingCapacity: true)
        tailOffsets.removeAll(keepingCapacity: true)
    }

    /// Calls `body` with record `index`'s bytes (valid only inside `body`).
    public func withRecord<R>(at index: Int, _ body: (UnsafeRawBufferPointer) -> R) throws(SpillError) -> R {
        precondition(index >= 0 && index < count, "index \(index) out of range 0..<\(count)")
        if index >= spilledCount {
            let o = tailOffsets[index - spilledCount]
            return arena.withUnsafeBytes { raw in
                let n = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: o, as: UInt32.self)))
                return body(UnsafeRawBufferPointer(rebasing: raw[o + 4..<o + 4 + n]))
            }
        }
        // Last block whose first record ≤ index.
        var lo = 0
        var hi = blockFirstRecord.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if blockFirstRecord[mid] <= index { lo = mid } else { hi = mid - 1 }
        }
        let bytes = try cache.block(lo, in: file!)
        var o = 0
        for _ in blockFirstRecord[lo]..<index {
            o += 4 + Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: o, as: UInt32.self)))
        }
        let n = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: o, as: UInt32.self)))
        return body(UnsafeRawBufferPointer(rebasing: bytes[o + 4..<o + 4 + n]))
    }

    /// Record `index` as a byte array.
    public func record(at index: Int) throws(SpillError) -> [UInt8] {
        try withRecord(at: index) { Array($0) }
    }

    /// Calls `body` with every record in order (bytes valid only inside `body`).
    public func forEach(_ body: (UnsafeRawBufferPointer) -> Void) throws(SpillError) {
        if let file {
            var buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: blockBytes, alignment: 16)
            defer { buffer.deallocate() }
            for b in 0..<file.blockCount {
                let n = try file.read(block: b, into: &buffer)
                var o = 0
                while o < n {
                    let len = Int(UInt32(littleEndian: UnsafeRawBufferPointer(buffer).loadUnaligned(fromByteOffset: o, as: UInt32.self)))
                    body(UnsafeRawBufferPointer(rebasing: buffer[o + 4..<o + 4 + len]))
                    o += 4 + len
                }
            }
        }
        arena.withUnsafeBytes { raw in
            for o in tailOffsets {
                let n = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: o, as: UInt32.self)))
                body(UnsafeRawBufferPointer(rebasing: raw[o + 4..<o + 4 + n]))
            }
        }
    }

    public var spilledBytes: Int { file?.size ?? 0 }
}
