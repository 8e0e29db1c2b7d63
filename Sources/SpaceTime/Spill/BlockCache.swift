/// A few decompressed blocks of a `BlockFile`, replaced least-recently-used first.
final class BlockCache {
    private var slots: [(block: Int, length: Int, buffer: UnsafeMutableRawBufferPointer, lastUse: Int)] = []
    private let capacity: Int
    private var clock = 0
    private(set) var hits = 0
    private(set) var misses = 0

    init(capacity: Int) { self.capacity = max(1, capacity) }

    deinit { for s in slots { s.buffer.deallocate() } }

    /// The decompressed bytes of `block`, reading it from `file` on a miss. Valid until the next call.
    func block(_ block: Int, in file: BlockFile) throws(SpillError) -> UnsafeRawBufferPointer {
        clock += 1
        for i in slots.indices where slots[i].block == block {
            slots[i].lastUse = clock
            hits += 1
            return UnsafeRawBufferPointer(start: slots[i].buffer.baseAddress, count: slots[i].length)
        }
        misses += 1
        var victim: Int
        if slots.count < capacity {
            slots.append((-1, 0, .allocate(byteCount: 0, alignment: 16), 0))
            victim = slots.count - 1
        } else {
            victim = 0
            for i in slots.indices where slots[i].lastUse < slots[victim].lastUse { victim = i }
        }
        var buffer = slots[victim].buffer
        slots[victim].block = -1
        let n = try file.read(block: block, into: &buffer)
        slots[victim] = (block, n, buffer, clock)
        return UnsafeRawBufferPointer(start: buffer.baseAddress, count: n)
    }

    /// Drops all cached blocks and frees their memory.
    func clear() {
        for s in slots { s.buffer.deallocate() }
        slots.removeAll()
    }
}
