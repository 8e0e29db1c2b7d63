import Locking
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// An error reading or writing a checkpoint file.
public struct CheckpointError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Code: String, Sendable {
        /// A system call failed (see `message`).
        case io
        /// The file does not start with the checkpoint magic.
        case notACheckpoint
        /// The file was written by a newer, unknown format version.
        case unsupportedVersion
        /// The file is shorter than its header says.
        case truncated
        /// A checksum does not match: the file is damaged.
        case corrupt
        /// The file holds a different kind of checkpoint than the caller expects.
        case wrongKind
    }

    public var code: Code
    public var path: String
    public var message: String

    public init(code: Code, path: String, message: String) {
        self.code = code
        self.path = path
        self.message = message
    }

    public var description: String { "checkpoint \(path): \(message)" }
}

extension CheckpointError: TaskFailureConvertible {
    /// A failed system call is I/O (retryable); a file that is not a readable checkpoint of
    /// the expected kind is bad input, final.
    public var taskFailure: TaskFailure {
        TaskFailure(code == .io ? .io : .badInput, description, location: TaskFailure.Location(file: path))
    }
}

/// A checkpoint read back from disk.
public struct Checkpoint: Sendable, Equatable {
    /// The caller-defined content tag (see `CheckpointFile.kind(_:)`).
    public var kind: UInt32
    /// The caller-defined payload format version.
    public var version: UInt32
    /// The verified payload.
    public var payload: [UInt8]
}

/// Checksummed, atomically replaced files for checkpoints, models and job state.
///
/// Layout (little-endian), format version 1:
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 8 | magic `SPTMCKPT` |
/// | 8 | 4 | format version (1) |
/// | 12 | 4 | kind: caller-defined tag, e.g. `kind("TREE")` |
/// | 16 | 4 | payload version: caller-defined |
/// | 20 | 4 | reserved (0) |
/// | 24 | 8 | payload length *n* |
/// | 32 | 8 | XXH64 (seed 0) of bytes 0..<32 |
/// | 40 | *n* | payload |
/// | 40+*n* | 8 | XXH64 (seed 0) of the payload |
///
/// Writes go to a temporary file in the same directory (`<name>.stm.tmp.<pid>.<n>`), are
/// fsynced, renamed over the target, and the directory is fsynced: a crash at any point leaves
/// either the old file or the new one, never a torn one.
public enum CheckpointFile {
    public static let magic: [UInt8] = Array("SPTMCKPT".utf8)
    public static let formatVersion: UInt32 = 1
    public static let headerSize = 40
    public static let trailerSize = 8

    /// A four-character tag as a `kind` (e.g. `kind("TREE")`); shorter tags are space-padded.
    public static func kind(_ fourCC: String) -> UInt32 {
        var bytes = Array(fourCC.utf8.prefix(4))
        while bytes.count < 4 { bytes.append(0x20) }
        return UInt32(bytes[0]) | UInt32(bytes[1]) << 8 | UInt32(bytes[2]) << 16 | UInt32(bytes[3]) << 24
    }

    /// Atomically writes `payload` to `path`.
    public static func write(_ payload: [UInt8], to path: String, kind: UInt32, version: UInt32 = 1) throws(CheckpointError) {
        let writer = try CheckpointWriter(path: path, kind: kind, version: version)
        var failure: CheckpointError?
        payload.withUnsafeBytes { raw in
            do throws(CheckpointError) { try writer.append(raw) } catch { failure = error }
        }
        if let failure {
            writer.abort()
            throw failure
        }
        try writer.commit()
    }

    /// Reads and verifies a checkpoint. If `kind` is given, a different kind is an error.
    public static func read(_ path: String, kind expected: UInt32? = nil) throws(CheckpointError) -> Checkpoint {
        let fd: Int32
        do { fd = try Sys.open(path, O_RDONLY) } catch { throw ioError(path, error) }
        defer { Sys.close(fd) }
        let size: Int
        do { size = try Sys.fileSize(fd, path: path) } catch { throw ioError(path, error) }
        var header = [UInt8](repeating: 0, count: headerSize)
        let got: Int
        do { got = try readInto(&header, fd, path) } catch { throw ioError(path, error) }
        let (kind, version, length) = try verifyHeader(Array(header[0..<got]), fileSize: size, path: path, kind: expected)
        var body = [UInt8](repeating: 0, count: Int(length) + trailerSize)
        let n: Int
        do { n = try readInto(&body, fd, path) } catch { throw ioError(path, error) }
        if n != body.count {
            throw CheckpointError(code: .truncated, path: path, message: "truncated while reading")
        }
        let stored = body.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: Int(length), as: UInt64.self)) }
        body.removeLast(trailerSize)
        if XXHash64.hash(body) != stored {
            throw CheckpointError(code: .corrupt, path: path, message: "corrupt: payload checksum mismatch")
        }
        return Checkpoint(kind: kind, version: version, payload: body)
    }

    /// Checks a file's first bytes (`header`, up to ``headerSize``) and its size: the
    /// kind, payload version and payload length.
    static func verifyHeader(
        _ header: [UInt8], fileSize size: Int, path: String,
        kind expected: UInt32?
    ) throws(CheckpointError) -> (kind: UInt32, version: UInt32, length: Int) {
        let got = header.count
        if got >= 8 && Array(header[0..<8]) != magic || got < 8 && Array(header[0..<got]) != Array(magic[0..<got]) {
            throw CheckpointError(code: .notACheckpoint, path: path, message: "not a SpaceTime checkpoint file (bad magic)")
        }
        if got < headerSize {
            throw CheckpointError(
                code: .truncated, path: path, message: "truncated: \(size) bytes, shorter than the \(headerSize)-byte header")
        }
        func u32(_ o: Int) -> UInt32 {
            header.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: o, as: UInt32.self)) }
        }
        func u64(_ o: Int) -> UInt64 {
            header.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: o, as: UInt64.self)) }
        }
        if XXHash64.hash(header[0..<32]) != u64(32) {
            throw CheckpointError(code: .corrupt, path: path, message: "corrupt: header checksum mismatch")
        }
        let format = u32(8)
        if format != formatVersion {
            throw CheckpointError(
                code: .unsupportedVersion, path: path,
                message: "format version \(format) is not supported (this build reads version \(formatVersion))")
        }
        let kind = u32(12)
        let version = u32(16)
        if let expected, expected != kind {
            throw CheckpointError(
                code: .wrongKind, path: path, message: "holds a `\(fourCC(kind))` checkpoint, expected `\(fourCC(expected))`")
        }
        let length = u64(24)
        let expectedSize = UInt64(headerSize + trailerSize) &+ length
        if length > UInt64(Int.max / 2) || UInt64(size) < expectedSize {
            throw CheckpointError(
                code: .truncated, path: path,
                message:
                    "truncated: header says \(length) payload bytes, the file has \(size - headerSize - trailerSize < 0 ? 0 : size - headerSize - trailerSize) (incomplete write?)"
            )
        }
        if UInt64(size) > expectedSize {
            throw CheckpointError(
                code: .corrupt, path: path, message: "corrupt: \(UInt64(size) - expectedSize) unexpected bytes after the payload")
        }
        return (kind, version, Int(length))
    }

    private static func readInto(_ bytes: inout [UInt8], _ fd: Int32, _ path: String) throws(SystemError) -> Int {
        var result: Result<Int, SystemError> = .success(0)
        bytes.withUnsafeMutableBytes { b in
            do throws(SystemError) { result = .success(try Sys.readFully(fd, b.baseAddress!, b.count, path: path)) } catch {
                result = .failure(error)
            }
        }
        return try result.get()
    }

    static func fourCC(_ kind: UInt32) -> String {
        let bytes = [UInt8(kind & 0xFF), UInt8(kind >> 8 & 0xFF), UInt8(kind >> 16 & 0xFF), UInt8(kind >> 24)]
        if bytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) {
            return String(decoding: bytes, as: UTF8.self).trimmingTrailingSpaces()
        }
        return "0x" + String(kind, radix: 16)
    }

    static func ioError(_ path: String, _ e: any Error) -> CheckpointError {
        CheckpointError(code: .io, path: path, message: "\(e)")
    }
}

extension String {
    func trimmingTrailingSpaces() -> String {
        var s = self
        while s.hasSuffix(" ") { s.removeLast() }
        return s
    }
}

/// Streams a large checkpoint to disk; nothing is visible at `path` until `commit()`.
///
/// Create, `append` payload bytes, then `commit()` (or `abort()`; dropping an uncommitted
/// writer also removes its temporary file).
public final class CheckpointWriter {
    public var path: String { file.path }
    private let file: AtomicFileWriter
    private var hasher = XXHash64()
    private var length: UInt64 = 0
    private let kind: UInt32
    private let version: UInt32

    public init(path: String, kind: UInt32, version: UInt32 = 1) throws(CheckpointError) {
        self.kind = kind
        self.version = version
        do { file = try AtomicFileWriter(path: path) } catch { throw CheckpointFile.ioError(path, error) }
        do { try file.append([UInt8](repeating: 0, count: CheckpointFile.headerSize)) } catch { throw CheckpointFile.ioError(path, error) }
    }

    /// Appends payload bytes.
    public func append(_ bytes: UnsafeRawBufferPointer) throws(CheckpointError) {
        hasher.update(bytes)
        length += UInt64(bytes.count)
        do { try file.append(bytes) } catch { throw CheckpointFile.ioError(path, error) }
    }

    /// Appends payload bytes from an array.
    public func append(_ bytes: [UInt8]) throws(CheckpointError) {
        hasher.update(bytes)
        length += UInt64(bytes.count)
        do { try file.append(bytes) } catch { throw CheckpointFile.ioError(path, error) }
    }

    /// Writes header and trailer, fsyncs, renames over `path`, fsyncs the directory.
    public func commit() throws(CheckpointError) {
        var trailer: [UInt8] = []
        withUnsafeBytes(of: hasher.finalize().littleEndian) { trailer.append(contentsOf: $0) }
        var header = [UInt8]()
        header.append(contentsOf: CheckpointFile.magic)
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { header.append(contentsOf: $0) } }
        put(CheckpointFile.formatVersion)
        put(kind)
        put(version)
        put(UInt32(0))
        put(length)
        put(XXHash64.hash(header))
        do {
            try file.append(trailer)
            try file.commit(patchingStartWith: header)
        } catch {
            throw CheckpointFile.ioError(path, error)
        }
    }

    /// Discards the temporary file; `path` is untouched.
    public func abort() { file.abort() }
}

/// Writes a file atomically: appends go to `<path>.stm.tmp.<pid>.<n>` in the same directory;
/// `commit()` fsyncs it, renames it over `path` and fsyncs the directory. A crash at any point
/// leaves either the old `path` or the new one. Dropping an uncommitted writer removes the
/// temporary file, and so does `exit()` (an exit hook: signal handlers that end the process
/// with `exit` leave none behind); a SIGKILLed writer's file is removed by the next writer
/// of the same path.
public final class AtomicFileWriter {
    public let path: String
    private let tempPath: String
    private var fd: Int32
    private var buffer: [UInt8] = []
    private var finished = false
    /// Bytes appended so far.
    public private(set) var bytesWritten = 0
    private static let flushSize = 1 << 20
    private static let counter = AtomicCounter()

    public init(path: String) throws(SystemError) {
        self.path = path
        tempPath = "\(path).stm.tmp.\(getpid()).\(Self.counter.next())"
        Self.removeStaleTemporaries(of: path)
        fd = try Sys.open(tempPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        Self.registerForExit(tempPath)
        buffer.reserveCapacity(Self.flushSize)
    }

    /// Temporary files being written, removed at exit; whether the exit hook is installed.
    private static let live = Locked((paths: Set<String>(), exitHookInstalled: false))

    private static func registerForExit(_ tempPath: String) {
        live.withLock { live in
            if !live.exitHookInstalled {
                live.exitHookInstalled = true
                atexit { AtomicFileWriter.removeLiveTemporaries() }
            }
            live.paths.insert(tempPath)
        }
    }

    private static func unregister(_ tempPath: String) {
        live.withLock { _ = $0.paths.remove(tempPath) }
    }

    private static func removeLiveTemporaries() {
        for path in live.withLock({ $0.paths }) { Sys.unlink(path) }
    }

    deinit { abort() }

    /// Deletes temporary files for `path` left by processes that no longer exist (killed mid-write).
    public static func removeStaleTemporaries(of path: String) {
        let dir = directory(of: path)
        let prefix = String(path.split(separator: "/").last ?? "") + ".stm.tmp."
        guard let names = try? Sys.listDirectory(dir) else { return }
        for name in names where name.hasPrefix(prefix) {
            let rest = name.dropFirst(prefix.count).split(separator: ".")
            if let pidText = rest.first, let pid = Int32(pidText), pid != getpid(), !Sys.processExists(pid) {
                Sys.unlink(dir + "/" + name)
            }
        }
    }

    public func append(_ bytes: UnsafeRawBufferPointer) throws(SystemError) {
        precondition(!finished, "append after commit/abort")
        buffer.append(contentsOf: bytes)
        bytesWritten += bytes.count
        if buffer.count >= Self.flushSize { try flush() }
    }

    public func append(_ bytes: [UInt8]) throws(SystemError) {
        precondition(!finished, "append after commit/abort")
        buffer.append(contentsOf: bytes)
        bytesWritten += bytes.count
        if buffer.count >= Self.flushSize { try flush() }
    }

    private func flush() throws(SystemError) {
        var failure: SystemError?
        buffer.withUnsafeBytes { raw in
            do throws(SystemError) { try Sys.writeFully(fd, raw.baseAddress!, raw.count, path: tempPath) } catch { failure = error }
        }
        buffer.removeAll(keepingCapacity: true)
        if let failure {
            abort()
            throw failure
        }
    }

    /// Makes the file durable and visible at `path`. `prefix`, if given, overwrites the first
    /// bytes (e.g. a header whose lengths are known only at the end).
    public func commit(patchingStartWith prefix: [UInt8]? = nil) throws(SystemError) {
        precondition(!finished, "commit after commit/abort")
        do throws(SystemError) {
            try flush()
            if let prefix {
                let n = prefix.withUnsafeBytes { raw in pwrite(fd, raw.baseAddress!, raw.count, 0) }
                if n != prefix.count { throw SystemError(call: "pwrite", path: tempPath, errno: n < 0 ? errno : EIO) }
            }
            try Sys.fsync(fd, path: tempPath)
            Sys.close(fd)
            fd = -1
            try Sys.rename(tempPath, path)
            Self.unregister(tempPath)
            finished = true
            try Sys.fsyncDirectory(directory(of: path))
        } catch {
            abort()
            throw error
        }
    }

    /// Discards the temporary file; `path` is untouched.
    public func abort() {
        if fd >= 0 {
            Sys.close(fd)
            fd = -1
        }
        if !finished {
            finished = true
            Sys.unlink(tempPath)
            Self.unregister(tempPath)
        }
    }
}

/// A process-wide counter for unique temporary names.
final class AtomicCounter: Sendable {
    private let value = Atomic(0)
    func next() -> Int {
        value.add(1, ordering: .relaxed).newValue
    }
}

func directory(of path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    return slash == path.startIndex ? "/" : String(path[..<slash])
}
