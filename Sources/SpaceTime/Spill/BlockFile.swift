import CLZ4

#if canImport(Glibc)
    import Glibc
#endif

/// An append-only file of LZ4-compressed blocks with an in-memory index, readable sequentially
/// or block by block (`pread`). Block on disk: `u32 rawLength, u32 compressedLength, bytes`.
final class BlockFile {
    struct Entry {
        var offset: Int
        var rawLength: Int32
        var compressedLength: Int32
    }

    let path: String
    private(set) var fd: Int32
    private(set) var index: [Entry] = []
    private(set) var size = 0
    private(set) var rawSize = 0
    private var compressed: UnsafeMutableRawBufferPointer
    /// LZ4 acceleration (1 = default ratio; higher is faster with less compression).
    let acceleration: Int32

    init(path: String, acceleration: Int32 = 1) throws(SpillError) {
        self.path = path
        self.acceleration = max(1, acceleration)
        do { fd = try Sys.open(path, O_RDWR | O_CREAT | O_TRUNC, 0o600) } catch { throw SpillError(error) }
        compressed = .allocate(byteCount: 0, alignment: 8)
    }

    deinit {
        compressed.deallocate()
        close()
    }

    /// Closes and deletes the file.
    func close() {
        if fd >= 0 {
            Sys.close(fd)
            fd = -1
            Sys.unlink(path)
        }
    }

    var blockCount: Int { index.count }

    private func ensureCompressed(_ n: Int) {
        if compressed.count < n {
            compressed.deallocate()
            compressed = .allocate(byteCount: n, alignment: 8)
        }
    }

    /// Compresses and appends one block.
    func append(_ raw: UnsafeRawBufferPointer) throws(SpillError) {
        precondition(raw.count > 0 && raw.count < Int(Int32.max) - 1024)
        let bound = Int(LZ4_compressBound(Int32(raw.count)))
        ensureCompressed(bound + 8)
        let out = compressed.baseAddress!
        let n = LZ4_compress_fast(
            raw.baseAddress!.assumingMemoryBound(to: CChar.self),
            (out + 8).assumingMemoryBound(to: CChar.self), Int32(raw.count), Int32(bound), acceleration)
        guard n > 0 else { throw SpillError(code: .io, message: "LZ4 compression failed for a \(raw.count)-byte block") }
        out.storeBytes(of: UInt32(raw.count).littleEndian, as: UInt32.self)
        out.storeBytes(of: UInt32(n).littleEndian, toByteOffset: 4, as: UInt32.self)
        do { try Sys.writeFully(fd, out, Int(n) + 8, path: path) } catch { throw SpillError(error) }
        index.append(Entry(offset: size, rawLength: Int32(raw.count), compressedLength: n))
        size += Int(n) + 8
        rawSize += raw.count
    }

    /// Reads and decompresses block `i` into `buffer` (grown as needed); returns its raw length.
    func read(block i: Int, into buffer: inout UnsafeMutableRawBufferPointer) throws(SpillError) -> Int {
        let e = index[i]
        ensureCompressed(Int(e.compressedLength))
        let n: Int
        do { n = try Sys.pread(fd, compressed.baseAddress!, Int(e.compressedLength), offset: e.offset + 8, path: path) } catch {
            throw SpillError(error)
        }
        guard n == Int(e.compressedLength) else { throw SpillError(code: .corrupt, message: "\(path): block \(i) is truncated") }
        if buffer.count < Int(e.rawLength) {
            buffer.deallocate()
            buffer = .allocate(byteCount: Int(e.rawLength), alignment: 16)
        }
        let got = LZ4_decompress_safe(
            compressed.baseAddress!.assumingMemoryBound(to: CChar.self),
            buffer.baseAddress!.assumingMemoryBound(to: CChar.self),
            e.compressedLength, Int32(buffer.count))
        guard got == e.rawLength else { throw SpillError(code: .corrupt, message: "\(path): block \(i) does not decompress") }
        return Int(got)
    }

    /// Releases the compression buffer (after writing is done) to save memory.
    func shrinkBuffers() {
        compressed.deallocate()
        compressed = .allocate(byteCount: 0, alignment: 8)
    }
}
