import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

#if canImport(Glibc)
    private let systemRead = Glibc.read
    private let systemWrite = Glibc.write
#elseif canImport(Musl)
    private let systemRead = Musl.read
    private let systemWrite = Musl.write
#elseif canImport(Darwin)
    private let systemRead = Darwin.read
    private let systemWrite = Darwin.write
#endif

/// An error reading or writing a CURVE key file: what went wrong (``code``),
/// where (``path``, ``line``, ``column`` when known), and a sentence saying
/// what to do about it (``message``, which already names the file).
public struct CurveKeyFileError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The kind of failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }

        /// The file or directory does not exist.
        public static let notFound = Code(rawValue: "notFound")
        /// The file exists but cannot be read (permissions, I/O error, not a regular file, too large).
        public static let unreadable = Code(rawValue: "unreadable")
        /// A secret key file that group or others can access.
        public static let insecurePermissions = Code(rawValue: "insecurePermissions")
        /// A line that is not a 40-character Z85 key.
        public static let malformed = Code(rawValue: "malformed")
        /// A key file with no key, or an allow-list with no key.
        public static let noKeys = Code(rawValue: "noKeys")
        /// A key file holding more keys than it may (a secret or public key file holds one).
        public static let tooManyKeys = Code(rawValue: "tooManyKeys")
        /// The same key listed twice in an allow-list.
        public static let duplicateKey = Code(rawValue: "duplicateKey")
        /// A public key file that does not belong to the secret key next to it.
        public static let keyMismatch = Code(rawValue: "keyMismatch")
        /// Writing would overwrite an existing key file.
        public static let alreadyExists = Code(rawValue: "alreadyExists")
        /// Creating or writing a key file failed.
        public static let writeFailed = Code(rawValue: "writeFailed")

        public var description: String { rawValue }
    }

    public var code: Code
    /// The file (or directory) concerned.
    public var path: String
    /// 1-based line, for malformed contents.
    public var line: Int?
    /// 1-based column (in bytes), for malformed contents.
    public var column: Int?
    /// The full explanation, naming the file.
    public var message: String

    public init(_ code: Code, path: String, line: Int? = nil, column: Int? = nil, message: String) {
        self.code = code
        self.path = path
        self.line = line
        self.column = column
        self.message = message
    }

    public var description: String { message }
}

/// One key of an allow-list and where it was read.
public struct CurveAllowListEntry: Sendable, Hashable {
    public var key: CurvePublicKey
    /// The file it was read from.
    public var path: String
    /// Its 1-based line in that file.
    public var line: Int
}

/// CURVE key files on disk, as written by `spacetime keygen`.
///
/// Layout of a key directory:
///
/// - `curve.public`: the public key, 40 Z85 characters and a newline, mode 0644.
/// - `curve.secret`: the secret key, the same format, mode 0600. It is refused
///   when group or others can access it (like OpenSSH private keys).
///
/// Key files and allow-lists are text: one key per line; blank lines and
/// lines starting with `#` are ignored, and a key may be followed by
/// whitespace and a `# comment` (e.g. the worker's name). `#` is a Z85
/// character, but never the first of a key: a 32-byte key's first
/// character encodes at most 2^32−1 / 85^4 = 82 (`%`), and `#` is 84.
public enum CurveKeyFiles {
    /// File name of the public key in a key directory.
    public static let publicKeyFileName = "curve.public"
    /// File name of the secret key in a key directory.
    public static let secretKeyFileName = "curve.secret"
    /// Key files and allow-list files larger than this are refused (bytes).
    public static let maximumFileSize = 1 << 20

    // MARK: Writing

    /// Writes `keyPair` as `directory/curve.public` (0644) and
    /// `directory/curve.secret` (0600), creating `directory` (0700) if
    /// needed. Each file appears atomically, complete or not at all.
    ///
    /// - Parameter overwrite: replace existing key files; otherwise an
    ///   existing `curve.public` or `curve.secret` is an ``CurveKeyFileError/Code/alreadyExists`` error
    ///   and nothing is written.
    /// - Returns: the paths of the public and the secret key file.
    @discardableResult
    public static func write(_ keyPair: CurveKeyPair, toDirectory directory: String, overwrite: Bool = false)
        throws(CurveKeyFileError) -> (publicKey: String, secretKey: String)
    {
        try makeDirectory(directory)
        let publicPath = join(directory, publicKeyFileName)
        let secretPath = join(directory, secretKeyFileName)
        if !overwrite {
            for path in [secretPath, publicPath] where exists(path) {
                throw CurveKeyFileError(
                    .alreadyExists, path: path,
                    message: "\(path) already exists; not overwriting a key (use --force to replace the key pair)")
            }
        }
        try writeAtomically(keyPair.secretKey.z85 + "\n", to: secretPath, mode: 0o600, overwrite: overwrite)
        try writeAtomically(keyPair.publicKey.z85 + "\n", to: publicPath, mode: 0o644, overwrite: overwrite)
        return (publicPath, secretPath)
    }

    // MARK: Reading

    /// Reads the one public key in the file at `path`.
    public static func loadPublicKey(at path: String) throws(CurveKeyFileError) -> CurvePublicKey {
        try single(in: path, kind: "public key").key
    }

    /// Reads the secret key in the file at `path` and derives its public key
    /// (`zmq_curve_public`).
    ///
    /// The file must be a regular file that neither group nor others can
    /// access (mode 0600 or 0400). If a `curve.public` lies next to it, it
    /// must hold the derived public key (a mismatched pair is an error).
    public static func loadKeyPair(secretKeyAt path: String) throws(CurveKeyFileError) -> CurveKeyPair {
        let text = try readText(path, requirePrivate: true)
        let entries = try parseKeys(text, path: path)
        guard let entry = entries.first else {
            throw CurveKeyFileError(
                .noKeys, path: path,
                message: "\(path) holds no secret key (expected one line of 40 Z85 characters)")
        }
        guard entries.count == 1 else {
            throw CurveKeyFileError(
                .tooManyKeys, path: path, line: entries[1].line,
                message: "\(path):\(entries[1].line): a secret key file holds one key; found a second one")
        }
        let keyPair: CurveKeyPair
        do {
            keyPair = try CurveKeyPair(secretKey: CurveSecretKey(bytes: entry.key.bytes))
        } catch {
            throw CurveKeyFileError(
                .malformed, path: path, line: entry.line,
                message: "\(path):\(entry.line): cannot derive the public key: \(error)")
        }
        let siblingPublic = join(directoryPart(of: path), publicKeyFileName)
        if siblingPublic != path, exists(siblingPublic) {
            let stored = try loadPublicKey(at: siblingPublic)
            guard stored == keyPair.publicKey else {
                throw CurveKeyFileError(
                    .keyMismatch, path: siblingPublic,
                    message:
                        "\(siblingPublic) (\(stored.fingerprint)…) does not belong to \(path), whose public key is \(keyPair.publicKey.fingerprint)…; regenerate the pair with spacetime keygen --force or copy the matching public key"
                )
            }
        }
        return keyPair
    }

    /// Reads an allow-list of public keys: either a directory, whose
    /// `*.public` files (hidden files skipped, symbolic links followed, as
    /// in a mounted Kubernetes Secret) each hold one or more keys, or a
    /// single file with one key per line.
    ///
    /// An allow-list with no key, or with a key listed twice, is an error.
    /// Entries come in file-name order, then line order.
    public static func loadAllowList(at path: String) throws(CurveKeyFileError) -> [CurveAllowListEntry] {
        var info = stat()
        guard stat(path, &info) == 0 else { throw statError(path, errno: errno) }
        var entries: [CurveAllowListEntry] = []
        if (info.st_mode & S_IFMT) == S_IFDIR {
            let names: [String]
            do {
                names = try FileManager.default.contentsOfDirectory(atPath: path)
            } catch {
                throw CurveKeyFileError(
                    .unreadable, path: path, message: "\(path): cannot list the allow-list directory: \(error.localizedDescription)")
            }
            var files: [String] = []
            for name in names.sorted() where !name.hasPrefix(".") && name.hasSuffix(".public") {
                let file = join(path, name)
                var fileInfo = stat()
                if stat(file, &fileInfo) == 0, (fileInfo.st_mode & S_IFMT) == S_IFREG { files.append(file) }
            }
            guard !files.isEmpty else {
                throw CurveKeyFileError(
                    .noKeys, path: path,
                    message:
                        "\(path): the allow-list directory has no *.public files; copy each worker's curve.public into it as NAME.public")
            }
            for file in files {
                let keys = try parseKeys(try readText(file, requirePrivate: false), path: file)
                guard !keys.isEmpty else {
                    throw CurveKeyFileError(.noKeys, path: file, message: "\(file) holds no public key")
                }
                entries += keys
            }
        } else {
            entries = try parseKeys(try readText(path, requirePrivate: false), path: path)
            guard !entries.isEmpty else {
                throw CurveKeyFileError(
                    .noKeys, path: path,
                    message: "\(path): the allow-list holds no public key (one 40-character Z85 key per line)")
            }
        }
        var firstSeen: [CurvePublicKey: CurveAllowListEntry] = [:]
        for entry in entries {
            if let first = firstSeen[entry.key] {
                throw CurveKeyFileError(
                    .duplicateKey, path: entry.path, line: entry.line,
                    message:
                        "\(entry.path):\(entry.line): key \(entry.key.fingerprint)… is listed twice (first at \(first.path):\(first.line)); remove one"
                )
            }
            firstSeen[entry.key] = entry
        }
        return entries
    }

    /// Parses key-file text: one 40-character Z85 key per line, blank lines
    /// and `#` comments ignored. Exposed for tests and for keys that do not
    /// come from a file; `path` is only used in errors.
    public static func parseKeys(_ text: String, path: String) throws(CurveKeyFileError) -> [CurveAllowListEntry] {
        var entries: [CurveAllowListEntry] = []
        var lineNumber = 0
        // Split bytes, not Characters: "\r\n" is a single Character.
        for rawLine in Array(text.utf8).split(separator: 0x0A, omittingEmptySubsequences: false) {
            lineNumber += 1
            let line = Array(rawLine)
            guard let start = line.firstIndex(where: { !isSpace($0) }) else { continue }
            let end = line[start...].firstIndex(where: isSpace) ?? line.endIndex
            let word = line[start..<end]
            if word.first == UInt8(ascii: "#") { continue }
            if let bad = word.firstIndex(where: { !isZ85($0) }) {
                let shown =
                    line[bad] >= 0x20 && line[bad] < 0x7F
                    ? "'\(Character(UnicodeScalar(line[bad])))'" : String(format: "byte 0x%02X", line[bad])
                throw CurveKeyFileError(
                    .malformed, path: path, line: lineNumber, column: bad + 1,
                    message:
                        "\(path):\(lineNumber):\(bad + 1): \(shown) is not a Z85 character; a CURVE key is 40 characters of the Z85 alphabet"
                )
            }
            guard word.count == 40 else {
                throw CurveKeyFileError(
                    .malformed, path: path, line: lineNumber, column: start + 1,
                    message: "\(path):\(lineNumber):\(start + 1): a Z85 CURVE key has 40 characters, this one has \(word.count)")
            }
            let rest = line[end...].drop(while: isSpace)
            if let first = rest.first, first != UInt8(ascii: "#") {
                let column = line.count - rest.count + 1
                throw CurveKeyFileError(
                    .malformed, path: path, line: lineNumber, column: column,
                    message: "\(path):\(lineNumber):\(column): unexpected text after the key (one key per line; comments start with #)")
            }
            let key: CurvePublicKey
            do {
                key = try CurvePublicKey(z85: String(decoding: word, as: UTF8.self))
            } catch {
                throw CurveKeyFileError(
                    .malformed, path: path, line: lineNumber, column: start + 1,
                    message: "\(path):\(lineNumber):\(start + 1): not a valid Z85 key (a 5-character group exceeds 32 bits)")
            }
            entries.append(CurveAllowListEntry(key: key, path: path, line: lineNumber))
        }
        return entries
    }

    // MARK: Helpers

    private static func single(in path: String, kind: String) throws(CurveKeyFileError) -> CurveAllowListEntry {
        let entries = try parseKeys(try readText(path, requirePrivate: false), path: path)
        guard let entry = entries.first else {
            throw CurveKeyFileError(
                .noKeys, path: path,
                message: "\(path) holds no \(kind) (expected one line of 40 Z85 characters)")
        }
        guard entries.count == 1 else {
            throw CurveKeyFileError(
                .tooManyKeys, path: path, line: entries[1].line,
                message: "\(path):\(entries[1].line): a \(kind) file holds one key; found a second one")
        }
        return entry
    }

    private static let z85Table: [Bool] = {
        var table = [Bool](repeating: false, count: 256)
        for c in "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#".utf8 {
            table[Int(c)] = true
        }
        return table
    }()

    private static func isZ85(_ byte: UInt8) -> Bool { z85Table[Int(byte)] }
    private static func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0D }

    private static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    private static func directoryPart(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    private static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    private static func statError(_ path: String, errno code: Int32) -> CurveKeyFileError {
        if code == ENOENT {
            return CurveKeyFileError(.notFound, path: path, message: "\(path) does not exist")
        }
        return CurveKeyFileError(.unreadable, path: path, message: "\(path): \(String(cString: strerror(code)))")
    }

    /// Reads a whole key file as UTF-8, checking it is a regular file of
    /// sane size and, with `requirePrivate`, that only its owner can access it.
    private static func readText(_ path: String, requirePrivate: Bool) throws(CurveKeyFileError) -> String {
        var fd: Int32
        repeat { fd = open(path, O_RDONLY | O_CLOEXEC) } while fd < 0 && errno == EINTR
        guard fd >= 0 else { throw statError(path, errno: errno) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw statError(path, errno: errno) }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw CurveKeyFileError(.unreadable, path: path, message: "\(path) is not a regular file")
        }
        if requirePrivate {
            let mode = Int(info.st_mode) & 0o7777
            if mode & 0o077 != 0 {
                let octal = String(mode, radix: 8)
                let padded = String(repeating: "0", count: max(0, 4 - octal.count)) + octal
                let what = mode & 0o044 != 0 ? "readable" : "accessible"
                throw CurveKeyFileError(
                    .insecurePermissions, path: path,
                    message: "\(path) is \(what) by others (mode \(padded)); run chmod 600 \(path)")
            }
        }
        guard Int(info.st_size) <= maximumFileSize else {
            throw CurveKeyFileError(
                .unreadable, path: path,
                message: "\(path) is \(info.st_size) bytes; a key file or allow-list may have at most \(maximumFileSize)")
        }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { systemRead(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw statError(path, errno: errno)
            }
            if n == 0 { break }
            bytes += buffer[0..<n]
            guard bytes.count <= maximumFileSize else {
                throw CurveKeyFileError(.unreadable, path: path, message: "\(path) grew beyond \(maximumFileSize) bytes while being read")
            }
        }
        // Invalid UTF-8 becomes U+FFFD, which the parser reports as a non-Z85 byte with its line and column.
        let text = String(decoding: bytes, as: UTF8.self)
        return text
    }

    private static func makeDirectory(_ directory: String) throws(CurveKeyFileError) {
        var info = stat()
        if stat(directory, &info) == 0 {
            guard (info.st_mode & S_IFMT) == S_IFDIR else {
                throw CurveKeyFileError(.writeFailed, path: directory, message: "\(directory) exists and is not a directory")
            }
            return
        }
        let parent = directoryPart(of: directory)
        if parent != directory && parent != "." && parent != "/" { try makeDirectory(parent) }
        if mkdir(directory, 0o700) != 0 && errno != EEXIST {
            throw CurveKeyFileError(
                .writeFailed, path: directory,
                message: "\(directory): cannot create the key directory: \(String(cString: strerror(errno)))")
        }
    }

    /// Writes `text` to a temporary file in the same directory with `mode`
    /// (set with fchmod, so the umask does not change it), syncs it, and
    /// moves it into place: with `rename` when overwriting, with `link`
    /// otherwise (which fails if the file appeared meanwhile).
    private static func writeAtomically(_ text: String, to path: String, mode: mode_t, overwrite: Bool) throws(CurveKeyFileError) {
        func failure(_ what: String, _ code: Int32) -> CurveKeyFileError {
            CurveKeyFileError(.writeFailed, path: path, message: "\(path): \(what): \(String(cString: strerror(code)))")
        }
        let temporary = path + ".tmp-\(getpid())"
        var fd: Int32
        repeat { fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600) } while fd < 0 && errno == EINTR
        guard fd >= 0 else { throw failure("cannot create \(temporary)", errno) }
        var ok = false
        defer {
            if !ok { unlink(temporary) }
        }
        do {
            defer { close(fd) }
            guard fchmod(fd, mode) == 0 else { throw failure("chmod", errno) }
            let bytes = Array(text.utf8)
            var written = 0
            while written < bytes.count {
                let n = bytes.withUnsafeBytes { systemWrite(fd, $0.baseAddress! + written, $0.count - written) }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw failure("write", errno)
                }
                written += n
            }
            guard fsync(fd) == 0 else { throw failure("fsync", errno) }
        }
        if overwrite {
            guard rename(temporary, path) == 0 else { throw failure("rename", errno) }
        } else {
            guard link(temporary, path) == 0 else {
                if errno == EEXIST {
                    throw CurveKeyFileError(
                        .alreadyExists, path: path,
                        message: "\(path) already exists; not overwriting a key (use --force to replace the key pair)")
                }
                throw failure("link", errno)
            }
            unlink(temporary)
        }
        ok = true
    }
}
