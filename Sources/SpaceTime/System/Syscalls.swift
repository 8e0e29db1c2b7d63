import CLZ4

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A failed system call: which call, on which path, and `errno`.
public struct SystemError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The C name of the call that failed, e.g. `"open"`.
    public var call: String
    /// The file or directory the call was about, if any.
    public var path: String?
    /// The `errno` value.
    public var errno: Int32

    public init(call: String, path: String?, errno: Int32) {
        self.call = call
        self.path = path
        self.errno = errno
    }

    public var description: String {
        let reason = String(cString: strerror(errno))
        if let path { return "\(call)(\(path)) failed: \(reason) (errno \(errno))" }
        return "\(call) failed: \(reason) (errno \(errno))"
    }
}

extension SystemError: TaskFailureConvertible {
    /// I/O, retryable.
    public var taskFailure: TaskFailure { TaskFailure(.io, description) }
}

/// Thin wrappers over the system calls SpaceTime uses: one place that retries `EINTR`
/// and turns failures into `SystemError`s.
enum Sys {
    @inline(__always)
    static func retrying<T: BinaryInteger>(_ call: String, _ path: String?, _ body: () -> T) throws(SystemError) -> T {
        while true {
            let r = body()
            if r >= 0 { return r }
            let e = errno
            if e == EINTR { continue }
            throw SystemError(call: call, path: path, errno: e)
        }
    }

    static func open(_ path: String, _ flags: Int32, _ mode: mode_t = 0o644) throws(SystemError) -> Int32 {
        try retrying("open", path) { Glibc.open(path, flags | O_CLOEXEC, mode) }
    }

    static func close(_ fd: Int32) {
        _ = Glibc.close(fd)  // EINTR on close must not be retried on Linux.
    }

    /// Reads up to `count` bytes; returns 0 at end of file.
    static func read(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int, path: String?) throws(SystemError) -> Int {
        try retrying("read", path) { Glibc.read(fd, buffer, count) }
    }

    /// Reads until `count` bytes or end of file; returns the number read.
    static func readFully(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int, path: String?) throws(SystemError) -> Int {
        var done = 0
        while done < count {
            let n = try read(fd, buffer + done, count - done, path: path)
            if n == 0 { break }
            done += n
        }
        return done
    }

    static func pread(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int, offset: Int, path: String?) throws(SystemError) -> Int {
        var done = 0
        while done < count {
            let n = try retrying("pread", path) { Glibc.pread(fd, buffer + done, count - done, off_t(offset + done)) }
            if n == 0 { break }
            done += n
        }
        return done
    }

    /// Writes all `count` bytes.
    static func writeFully(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int, path: String?) throws(SystemError) {
        var done = 0
        while done < count {
            let n = try retrying("write", path) { Glibc.write(fd, buffer + done, count - done) }
            done += n
        }
    }

    static func fsync(_ fd: Int32, path: String?) throws(SystemError) {
        _ = try retrying("fsync", path) { Glibc.fsync(fd) }
    }

    static func rename(_ from: String, _ to: String) throws(SystemError) {
        _ = try retrying("rename", to) { Glibc.rename(from, to) }
    }

    static func unlink(_ path: String) {
        _ = Glibc.unlink(path)
    }

    static func mkdir(_ path: String, _ mode: mode_t = 0o755) throws(SystemError) {
        if Glibc.mkdir(path, mode) != 0 && errno != EEXIST {
            throw SystemError(call: "mkdir", path: path, errno: errno)
        }
    }

    /// Creates `path` and its missing parents.
    static func mkdirs(_ path: String) throws(SystemError) {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for part in path.split(separator: "/") {
            prefix += part
            try mkdir(prefix)
            prefix += "/"
        }
    }

    /// Opens the directory and fsyncs it, making a rename inside it durable.
    static func fsyncDirectory(_ path: String) throws(SystemError) {
        let fd = try open(path, O_RDONLY | O_DIRECTORY)
        defer { close(fd) }
        try fsync(fd, path: path)
    }

    static func fileSize(_ fd: Int32, path: String?) throws(SystemError) -> Int {
        var st = stat()
        _ = try retrying("fstat", path) { fstat(fd, &st) }
        return Int(st.st_size)
    }

    static func exists(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0
    }

    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// Lists the names in a directory (without `.` and `..`).
    static func listDirectory(_ path: String) throws(SystemError) -> [String] {
        guard let dir = opendir(path) else { throw SystemError(call: "opendir", path: path, errno: errno) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// The paths matching a shell pattern (`glob(3)`, no sorting, no `~` or brace expansion);
    /// empty when nothing matches.
    static func glob(_ pattern: String) throws(SystemError) -> [String] {
        var g = glob_t()
        defer { globfree(&g) }
        let r = Glibc.glob(pattern, GLOB_NOSORT, nil, &g)
        if r == GLOB_NOMATCH { return [] }
        guard r == 0 else { throw SystemError(call: "glob", path: pattern, errno: r == GLOB_NOSPACE ? ENOMEM : EIO) }
        var paths: [String] = []
        for i in 0..<Int(g.gl_pathc) {
            if let p = g.gl_pathv[i] { paths.append(String(cString: p)) }
        }
        return paths
    }

    /// Whether `path` is a regular file (following symbolic links).
    static func isRegularFile(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
    }

    /// The size of the file at `path`, or nil when it cannot be read.
    static func fileSize(path: String) -> Int? {
        var st = stat()
        return stat(path, &st) == 0 ? Int(st.st_size) : nil
    }

    /// Removes a file or a directory tree; missing paths are ignored.
    static func removeTree(_ path: String) {
        if isDirectory(path) {
            if let names = try? listDirectory(path) {
                for name in names { removeTree(path + "/" + name) }
            }
            _ = rmdir(path)
        } else {
            unlink(path)
        }
    }

    /// Takes an exclusive `flock` without waiting: true when taken, false when
    /// another open file description holds it.
    static func tryLockExclusive(_ fd: Int32, path: String?) throws(SystemError) -> Bool {
        while true {
            if flock(fd, LOCK_EX | LOCK_NB) == 0 { return true }
            let e = errno
            if e == EINTR { continue }
            if e == EWOULDBLOCK { return false }
            throw SystemError(call: "flock", path: path, errno: e)
        }
    }

    /// The (device, inode) of an open descriptor or of a path, nil when it cannot be read.
    static func identity(fd: Int32) -> (UInt64, UInt64)? {
        var st = stat()
        guard fstat(fd, &st) == 0 else { return nil }
        return (UInt64(st.st_dev), UInt64(st.st_ino))
    }

    static func identity(path: String) -> (UInt64, UInt64)? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return (UInt64(st.st_dev), UInt64(st.st_ino))
    }

    /// Whether a process with this pid exists (signal 0 probe).
    static func processExists(_ pid: Int32) -> Bool {
        kill(pid, 0) == 0 || errno == EPERM
    }

    /// Reads a whole small file (e.g. under /proc or /sys) as text.
    static func readSmallFile(_ path: String, limit: Int = 1 << 20) -> String? {
        guard let fd = try? open(path, O_RDONLY) else { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 64 << 10)
        var out: [UInt8] = []
        while out.count < limit {
            let n = bytes.withUnsafeMutableBytes { (try? read(fd, $0.baseAddress!, $0.count, path: path)) ?? -1 }
            if n <= 0 { break }
            out.append(contentsOf: bytes[0..<n])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Writes text to a file in place (no temporary file: cgroup files reject that).
    static func writeSmallFile(_ path: String, _ text: String) throws(SystemError) {
        let fd = try open(path, O_WRONLY | O_TRUNC)
        defer { close(fd) }
        var failure: SystemError?
        Array(text.utf8).withUnsafeBytes { raw in
            do throws(SystemError) { try writeFully(fd, raw.baseAddress!, raw.count, path: path) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    static var pid: Int32 { getpid() }

    /// `prctl(PR_SET_PDEATHSIG, signal)`: the kernel sends `signal` to this process when the
    /// thread that started it exits. Throws `ENOSYS` where the call does not exist (not Linux).
    static func setParentDeathSignal(_ signal: Int32) throws(SystemError) {
        switch spacetime_set_parent_death_signal(signal) {
        case 0: return
        case -2: throw SystemError(call: "prctl(PR_SET_PDEATHSIG)", path: nil, errno: ENOSYS)
        default: throw SystemError(call: "prctl(PR_SET_PDEATHSIG)", path: nil, errno: errno)
        }
    }
}

/// Ties a child process's life to the process that started it.
public enum ParentProcess {
    /// Asks the kernel to send `signal` to this process when its parent `expected` exits
    /// (however it ends, SIGKILL included). Returns false when `expected` is already gone
    /// (this process was reparented before the call took effect).
    public static func endWithParent(_ expected: Int32, signal: Int32 = SIGTERM) throws(SystemError) -> Bool {
        try Sys.setParentDeathSignal(signal)
        return getppid() == expected
    }

    /// The parent's pid now (1, or a subreaper's, once the parent is gone).
    public static var current: Int32 { getppid() }
}
