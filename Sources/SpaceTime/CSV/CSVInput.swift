import CZstd

#if canImport(Glibc)
    import Glibc
#endif

/// A data set named on the command line, resolved to the files read, in order, as one CSV:
/// a file (plain, `.csv.gz` or `.csv.zst`), a directory (its `*.csv`, `*.csv.gz` and
/// `*.csv.zst` files, sorted by name) or a glob (`'data/part-*.csv'`, its matches sorted by name).
public struct CSVInput: Sendable, Equatable {
    /// The path as given.
    public let path: String
    /// The files read, in order.
    public let parts: [String]
    /// Whether `path` is a directory or a glob rather than one file.
    public let isMultiPart: Bool

    /// The names a directory's part files end with.
    public static let partSuffixes = [".csv", ".csv.gz", ".csv.zst"]

    /// Resolves `path`; a directory or glob without part files is a `.noParts` error.
    public init(path: String) throws(CSVError) {
        self.path = path
        if Sys.isDirectory(path) {
            let names: [String]
            do { names = try Sys.listDirectory(path) } catch {
                throw CSVError(code: .io, file: path, message: "cannot list the directory: \(String(cString: strerror(error.errno)))")
            }
            let base = path.hasSuffix("/") ? path : path + "/"
            let found = names.filter { name in !name.hasPrefix(".") && Self.partSuffixes.contains { name.hasSuffix($0) } }
                .map { base + $0 }
                .filter { Sys.isRegularFile($0) }
            guard !found.isEmpty else {
                throw CSVError(code: .noParts, file: path, message: "the directory holds no part files (*.csv, *.csv.gz, *.csv.zst)")
            }
            parts = Self.sortedByName(found)
            isMultiPart = true
        } else if !Sys.exists(path) && path.contains(where: { $0 == "*" || $0 == "?" || $0 == "[" }) {
            let matches: [String]
            do { matches = try Sys.glob(path) } catch {
                throw CSVError(code: .io, file: path, message: "cannot expand the pattern: \(String(cString: strerror(error.errno)))")
            }
            let files = matches.filter { Sys.isRegularFile($0) }
            guard !files.isEmpty else {
                throw CSVError(code: .noParts, file: path, message: "no file matches this pattern")
            }
            parts = Self.sortedByName(files)
            isMultiPart = true
        } else {
            parts = [path]
            isMultiPart = false
        }
    }

    /// Byte order of the names (so `part-00010` follows `part-00009`, as `ls` in the C locale).
    static func sortedByName(_ paths: [String]) -> [String] {
        paths.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    /// The storage format of each part, from its magic bytes (`.plain` for a file that cannot be read:
    /// opening it later gives the error).
    public func formats() -> [CSVByteSource.Format] {
        parts.map { (try? CSVByteSource(path: $0, inputSize: 16).format) ?? .plain }
    }

    /// Whether every byte of the text is in one plain file, so offsets in the text are offsets in the file.
    public var isSinglePlainFile: Bool { !isMultiPart && formats() == [.plain] }

    /// How `estimatedTextBytes` arrived at its figure.
    public enum SizeBasis: String, Sendable {
        /// The file size of plain files.
        case fileSize = "file size"
        /// The gzip trailer's ISIZE (the last member's uncompressed size mod 2^32).
        case gzipTrailer = "gzip ISIZE trailer"
        /// The zstd frame header's content size (the first frame's).
        case zstdFrameHeader = "zstd frame content size"
        /// The compression ratio of the first 4 MiB of text, applied to the file size.
        case sampledRatio = "compression ratio of the first 4 MiB"
        /// Decompressed in full (the file is shorter than the sample).
        case decompressed = "decompressed in full"
    }

    /// The text size of the whole input in bytes (estimated for compressed parts, which are not
    /// decompressed beyond a 4 MiB sample) and what the figures rest on, one basis per kind of part.
    public func estimatedTextBytes() -> (bytes: Int, bases: [SizeBasis]) {
        var total = 0
        var bases: [SizeBasis] = []
        for part in parts {
            let (bytes, basis) = Self.estimatedTextBytes(ofFile: part)
            total += bytes
            if !bases.contains(basis) { bases.append(basis) }
        }
        return (total, bases)
    }

    /// One file's text size: its size when plain; for gzip and zstd the larger of the size the
    /// format records (ISIZE, frame content size) and the sampled ratio's (a multi-member or
    /// multi-frame file records only one member's size).
    public static func estimatedTextBytes(ofFile path: String) -> (bytes: Int, basis: SizeBasis) {
        let size = Sys.fileSize(path: path) ?? 0
        guard let source = try? CSVByteSource(path: path) else { return (size, .fileSize) }
        defer { source.close() }
        if source.format == .plain { return (size, .fileSize) }
        var recorded: Int?
        if let fd = try? Sys.open(path, O_RDONLY) {
            defer { Sys.close(fd) }
            var head = [UInt8](repeating: 0, count: 18)
            switch source.format {
            case .gzip where size >= 4:
                if (try? head.withUnsafeMutableBytes { try Sys.pread(fd, $0.baseAddress!, 4, offset: size - 4, path: path) }) == 4 {
                    recorded = Int(UInt32(head[0]) | UInt32(head[1]) << 8 | UInt32(head[2]) << 16 | UInt32(head[3]) << 24)
                }
            case .zstd:
                if let n = try? head.withUnsafeMutableBytes({ try Sys.pread(fd, $0.baseAddress!, 18, offset: 0, path: path) }) {
                    let c = head.withUnsafeBytes { ZSTD_getFrameContentSize($0.baseAddress!, n) }
                    if c < UInt64.max - 1 { recorded = Int(clamping: c) }
                }
            default: break
            }
        }
        let sample = 4 << 20
        let chunk = UnsafeMutableRawPointer.allocate(byteCount: 1 << 16, alignment: 16)
        defer { chunk.deallocate() }
        var text = 0
        var ended = false
        while text < sample {
            guard let n = try? source.read(into: chunk, count: 1 << 16) else { break }
            if n == 0 {
                ended = true
                break
            }
            text += n
        }
        if ended { return (text, .decompressed) }
        let consumed = max(1, source.compressedOffset)
        let sampled = Int(Double(text) / Double(consumed) * Double(size))
        if let recorded, recorded >= sampled {
            return (recorded, source.format == .gzip ? .gzipTrailer : .zstdFrameHeader)
        }
        return (sampled, .sampledRatio)
    }
}
