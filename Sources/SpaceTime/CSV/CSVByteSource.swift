import CZlib
import CZstd

#if canImport(Glibc)
    import Glibc
#endif

/// The bytes of one input file as text: read as they are, or decompressed on the fly from
/// gzip (any number of members) or zstd (any number of frames), recognised by their magic bytes.
/// Memory: one compressed-input buffer (`inputSize`) and the decoder's state (a 32 KiB window
/// for gzip, the frame's window for zstd).
public final class CSVByteSource {
    /// How the file's bytes are stored.
    public enum Format: String, Sendable {
        case plain, gzip, zstd
    }

    /// The file named in errors.
    public let file: String
    public private(set) var format = Format.plain
    /// Bytes read from the file so far (compressed bytes for gzip and zstd).
    public private(set) var fileBytesRead = 0

    private var fd: Int32
    private let ownsFD: Bool
    private let inputSize: Int
    private var input: UnsafeMutableRawBufferPointer
    /// Unconsumed compressed (or, for `.plain`, peeked) bytes: `input[inputPos..<inputEnd]`.
    private var inputPos = 0
    private var inputEnd = 0
    private var fileEOF = false
    private var finished = false
    private var gzip: UnsafeMutablePointer<z_stream>?
    /// Inside a gzip member (its trailer not yet read).
    private var inMember = false
    private var zstd: OpaquePointer?
    /// The last `ZSTD_decompressStream` result: 0 when a frame ended exactly there.
    private var zstdPending = 0

    /// Opens `path` and recognises its format from its first bytes.
    public convenience init(path: String, inputSize: Int = 256 << 10) throws(CSVError) {
        let fd: Int32
        do { fd = try Sys.open(path, O_RDONLY) } catch {
            throw CSVError(code: .io, file: path, message: "cannot open: \(String(cString: strerror(error.errno)))")
        }
        try self.init(fileDescriptor: fd, name: path, ownsDescriptor: true, inputSize: inputSize)
    }

    /// Reads an open descriptor (a pipe too: nothing seeks), recognising gzip and zstd by magic bytes.
    public init(
        fileDescriptor: Int32, name: String, ownsDescriptor: Bool = false, detect: Bool = true,
        inputSize: Int = 256 << 10
    ) throws(CSVError) {
        file = name
        fd = fileDescriptor
        ownsFD = ownsDescriptor
        self.inputSize = max(inputSize, 16)
        input = .allocate(byteCount: self.inputSize, alignment: 16)
        var kind = Format.plain
        if detect {
            do {
                while inputEnd < 4 && !fileEOF { try readInput() }
            } catch {
                release()
                throw error
            }
            kind = Self.format(of: UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(input)[0..<inputEnd]))
        }
        format = kind
        switch kind {
        case .plain: break
        case .gzip:
            let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
            stream.initialize(to: z_stream())
            gzip = stream
            guard spacetime_inflate_init_gzip(stream) == Z_OK else {
                release()
                throw CSVError(code: .io, file: name, message: "cannot start the gzip decoder (out of memory?)")
            }
        case .zstd:
            guard let d = ZSTD_createDStream() else {
                release()
                throw CSVError(code: .io, file: name, message: "cannot start the zstd decoder (out of memory?)")
            }
            zstd = d
            _ = ZSTD_initDStream(d)
        }
    }

    deinit { release() }

    /// The format `head` (a file's first bytes) starts with.
    public static func format(of head: UnsafeRawBufferPointer) -> Format {
        if head.count >= 2 && head[0] == 0x1F && head[1] == 0x8B { return .gzip }
        if head.count >= 4 && head[0] == 0x28 && head[1] == 0xB5 && head[2] == 0x2F && head[3] == 0xFD { return .zstd }
        return .plain
    }

    /// Closes the file and frees the decoder. Further reads return 0.
    public func close() { release() }

    private func release() {
        if fd >= 0 && ownsFD { Sys.close(fd) }
        fd = -1
        finished = true
        if let stream = gzip {
            inflateEnd(stream)
            stream.deallocate()
            gzip = nil
        }
        if let d = zstd {
            ZSTD_freeDStream(d)
            zstd = nil
        }
        if input.count > 0 {
            input.deallocate()
            input = UnsafeMutableRawBufferPointer(start: nil, count: 0)
        }
    }

    /// Reads up to `count` text bytes into `buffer`; 0 only at the end of the text. A corrupt or
    /// truncated stream throws `.corrupt`, naming the compressed byte offset where it broke.
    public func read(into buffer: UnsafeMutableRawPointer, count: Int) throws(CSVError) -> Int {
        guard !finished, count > 0 else { return 0 }
        switch format {
        case .plain: return try readPlain(into: buffer, count: count)
        case .gzip: return try readGzip(into: buffer, count: count)
        case .zstd: return try readZstd(into: buffer, count: count)
        }
    }

    /// Refills `input` (after moving its unconsumed bytes to the front); sets `fileEOF` at the end.
    private func readInput() throws(CSVError) {
        if inputPos > 0 {
            let tail = inputEnd - inputPos
            if tail > 0 { input.baseAddress!.copyMemory(from: input.baseAddress! + inputPos, byteCount: tail) }
            inputEnd = tail
            inputPos = 0
        }
        guard inputEnd < input.count, fd >= 0 else {
            if fd < 0 { fileEOF = true }
            return
        }
        let n: Int
        do { n = try Sys.read(fd, input.baseAddress! + inputEnd, input.count - inputEnd, path: file) } catch {
            throw CSVError(code: .io, file: file, message: "read failed: \(String(cString: strerror(error.errno)))")
        }
        if n == 0 {
            fileEOF = true
        } else {
            inputEnd += n
            fileBytesRead += n
        }
    }

    private func readPlain(into buffer: UnsafeMutableRawPointer, count: Int) throws(CSVError) -> Int {
        if inputPos < inputEnd {
            let n = min(count, inputEnd - inputPos)
            buffer.copyMemory(from: input.baseAddress! + inputPos, byteCount: n)
            inputPos += n
            return n
        }
        guard fd >= 0, !fileEOF else { return 0 }
        let n: Int
        do { n = try Sys.read(fd, buffer, count, path: file) } catch {
            throw CSVError(code: .io, file: file, message: "read failed: \(String(cString: strerror(error.errno)))")
        }
        if n == 0 { fileEOF = true }
        fileBytesRead += n
        return n
    }

    /// The file offset of the next byte not yet decoded (compressed bytes for gzip and zstd).
    public var compressedOffset: Int { fileBytesRead - (inputEnd - inputPos) }

    private func corrupt(_ what: String) -> CSVError {
        CSVError(
            code: .corrupt, file: file,
            message: "the \(format.rawValue) stream is corrupt at compressed byte \(groupedThousands(compressedOffset)): \(what)")
    }

    private func readGzip(into buffer: UnsafeMutableRawPointer, count: Int) throws(CSVError) -> Int {
        guard let stream = gzip else { return 0 }
        while true {
            if inputPos == inputEnd && !fileEOF { try readInput() }
            if !inMember {
                // Between members: the end of the file, or the next member's magic bytes.
                if inputPos == inputEnd && fileEOF {
                    finished = true
                    return 0
                }
                if inputEnd - inputPos < 2 && !fileEOF {
                    try readInput()
                    continue
                }
                let b = input.baseAddress!.assumingMemoryBound(to: UInt8.self)
                guard inputEnd - inputPos >= 2, b[inputPos] == 0x1F, b[inputPos + 1] == 0x8B else {
                    throw corrupt("expected the start of a gzip member (1f 8b) after the previous one")
                }
                inflateReset(stream)
                inMember = true
            }
            let available = inputEnd - inputPos
            stream.pointee.next_in = input.baseAddress!.assumingMemoryBound(to: Bytef.self) + inputPos
            stream.pointee.avail_in = uInt(available)
            stream.pointee.next_out = buffer.assumingMemoryBound(to: Bytef.self)
            stream.pointee.avail_out = uInt(min(count, Int(UInt32.max)))
            let status = inflate(stream, Z_NO_FLUSH)
            inputPos += available - Int(stream.pointee.avail_in)
            let produced = min(count, Int(UInt32.max)) - Int(stream.pointee.avail_out)
            switch status {
            case Z_STREAM_END:
                inMember = false
            case Z_OK:
                break
            case Z_BUF_ERROR:
                // No progress possible: more input is needed; at the end of the file it is truncated.
                if fileEOF && inputPos == inputEnd && produced == 0 {
                    throw corrupt("the file ends inside a gzip member (truncated)")
                }
            case Z_MEM_ERROR:
                throw CSVError(code: .io, file: file, message: "the gzip decoder ran out of memory")
            default:
                let reason = stream.pointee.msg.map { String(cString: $0) } ?? "error \(status)"
                throw corrupt(reason)
            }
            if produced > 0 { return produced }
            if fileEOF && inputPos == inputEnd && inMember {
                throw corrupt("the file ends inside a gzip member (truncated)")
            }
        }
    }

    private func readZstd(into buffer: UnsafeMutableRawPointer, count: Int) throws(CSVError) -> Int {
        guard let d = zstd else { return 0 }
        while true {
            if inputPos == inputEnd {
                if !fileEOF { try readInput() }
                if inputPos == inputEnd && fileEOF {
                    // Everything consumed: complete only if the last frame ended and was flushed.
                    var output = ZSTD_outBuffer(dst: buffer, size: count, pos: 0)
                    var empty = ZSTD_inBuffer(src: input.baseAddress!, size: 0, pos: 0)
                    if zstdPending != 0 {
                        let r = ZSTD_decompressStream(d, &output, &empty)
                        if ZSTD_isError(r) != 0 { throw corrupt(String(cString: ZSTD_getErrorName(r))) }
                        zstdPending = r
                        if output.pos > 0 { return output.pos }
                        if r != 0 { throw corrupt("the file ends inside a zstd frame (truncated)") }
                    }
                    finished = true
                    return 0
                }
            }
            var output = ZSTD_outBuffer(dst: buffer, size: count, pos: 0)
            var source = ZSTD_inBuffer(src: input.baseAddress! + inputPos, size: inputEnd - inputPos, pos: 0)
            let r = ZSTD_decompressStream(d, &output, &source)
            inputPos += source.pos
            if ZSTD_isError(r) != 0 { throw corrupt(String(cString: ZSTD_getErrorName(r))) }
            zstdPending = r
            if output.pos > 0 { return output.pos }
        }
    }
}
