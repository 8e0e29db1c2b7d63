#if canImport(Glibc)
    import Glibc
#endif

/// A checkpoint file mapped read-only, its header and payload checksum verified
/// (``CheckpointFile`` layout), so a large payload is decoded in place instead of from
/// a copy of the whole file.
///
/// Verification hashes the payload in 8 MiB windows and drops each window's pages from
/// the process's memory behind it; ``release(before:)`` does the same while decoding.
/// Pages touched again are read back from the page cache, so resident memory stays
/// about one window plus what the decoder builds.
public final class MappedCheckpoint: @unchecked Sendable {
    // @unchecked: immutable after init except `released`, which only the decoding thread moves.
    /// The caller-defined content tag.
    public let kind: UInt32
    /// The caller-defined payload format version.
    public let version: UInt32
    /// The verified payload, valid while this object lives.
    public let payload: UnsafeRawBufferPointer
    private let base: UnsafeMutableRawPointer?
    private let mappedBytes: Int
    private var released = 0
    static let window = 8 << 20

    /// Maps and verifies `path`; a different `kind` (if given), a bad header, a size
    /// mismatch or a payload checksum mismatch is the ``CheckpointError`` ``CheckpointFile/read(_:kind:)`` gives.
    public init(path: String, kind expected: UInt32? = nil) throws(CheckpointError) {
        let fd: Int32
        do { fd = try Sys.open(path, O_RDONLY) } catch { throw CheckpointFile.ioError(path, error) }
        defer { Sys.close(fd) }
        let size: Int
        do { size = try Sys.fileSize(fd, path: path) } catch { throw CheckpointFile.ioError(path, error) }
        var header = [UInt8](repeating: 0, count: CheckpointFile.headerSize)
        var got = 0
        do {
            got = try header.withUnsafeMutableBytes { (b) throws(SystemError) -> Int in
                try Sys.readFully(fd, b.baseAddress!, b.count, path: path)
            }
        } catch { throw CheckpointFile.ioError(path, error) }
        let (kind, version, length) = try CheckpointFile.verifyHeader(Array(header[0..<got]), fileSize: size, path: path, kind: expected)
        let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let p, p != MAP_FAILED else {
            throw CheckpointError(code: .io, path: path, message: "mmap of \(size) bytes failed: \(String(cString: strerror(errno)))")
        }
        base = p
        mappedBytes = size
        self.kind = kind
        self.version = version
        payload = UnsafeRawBufferPointer(start: p + CheckpointFile.headerSize, count: length)
        let stored = UInt64(
            littleEndian: UnsafeRawPointer(p).loadUnaligned(fromByteOffset: CheckpointFile.headerSize + length, as: UInt64.self))
        var hasher = XXHash64(seed: 0)
        var done = 0
        while done < length {
            let n = min(Self.window, length - done)
            hasher.update(UnsafeRawBufferPointer(rebasing: payload[done..<done + n]))
            done += n
            release(before: done)
        }
        released = 0
        guard hasher.finalize() == stored else {
            throw CheckpointError(code: .corrupt, path: path, message: "corrupt: payload checksum mismatch")
        }
    }

    /// Drops the whole pages before payload offset `offset` from memory (they are read
    /// again from the file if touched).
    public func release(before offset: Int) {
        guard let base else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let end = (CheckpointFile.headerSize + min(offset, payload.count)) / page * page
        guard end > released else { return }
        _ = madvise(base + released, end - released, MADV_DONTNEED)
        released = end
    }

    deinit {
        if let base { _ = munmap(base, mappedBytes) }
    }
}
