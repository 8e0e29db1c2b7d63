import ArgumentParser
import Foundation
import SpaceTime

#if canImport(Glibc)
    import Glibc
#endif

// Output safety shared by every command: checked writes to standard output
// (Foundation's `print` and `FileHandle.write` cannot report a failure; the
// latter traps), outputs that never overwrite an input, and numeric option ranges.

/// A write to standard output (or another descriptor) that failed.
struct OutputWriteError: Error, CustomStringConvertible {
    var what: String
    var errno: Int32

    var description: String {
        let reason: String
        switch errno {
        case EPIPE: reason = "the reader closed the pipe (EPIPE)"
        case ENOSPC: reason = "no space left on the device (ENOSPC)"
        case EDQUOT: reason = "disk quota exceeded (EDQUOT)"
        case EBADF: reason = "it is not open for writing (EBADF)"
        case EIO: reason = "input/output error (EIO)"
        default: reason = "\(String(cString: strerror(errno))) (errno \(errno))"
        }
        return "cannot write to \(what): \(reason); the output is incomplete"
    }
}

/// Checked, unbuffered writes to a file descriptor: a write(2) loop that retries
/// EINTR and short writes and throws `OutputWriteError` on any other failure.
enum Output {
    static func write(_ bytes: UnsafeRawBufferPointer, fd: Int32 = STDOUT_FILENO, what: String = "standard output") throws(OutputWriteError)
    {
        guard var p = bytes.baseAddress else { return }
        var left = bytes.count
        while left > 0 {
            let n = Glibc.write(fd, p, left)
            if n < 0 {
                let e = Glibc.errno
                if e == EINTR { continue }
                throw OutputWriteError(what: what, errno: e)
            }
            if n == 0 { throw OutputWriteError(what: what, errno: EIO) }
            p += n
            left -= n
        }
    }

    static func write(_ bytes: [UInt8], fd: Int32 = STDOUT_FILENO, what: String = "standard output") throws(OutputWriteError) {
        var failure: OutputWriteError?
        bytes.withUnsafeBytes { raw in
            do throws(OutputWriteError) { try write(raw, fd: fd, what: what) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    static func write(_ data: Data, fd: Int32 = STDOUT_FILENO, what: String = "standard output") throws(OutputWriteError) {
        try write([UInt8](data), fd: fd, what: what)
    }

    /// `print(text, terminator:)` to standard output, checked.
    static func print(_ text: String, terminator: String = "\n") throws(OutputWriteError) {
        try write(Array((text + terminator).utf8))
    }

    /// Copies the file at `path` to standard output, checked.
    static func copy(file path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ValidationError("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ValidationError("cannot read \(path): \(String(cString: strerror(errno)))")
            }
            if n == 0 { return }
            try write(Array(buffer[0..<n]))
        }
    }
}

/// A line on standard error, best effort: a failure to report is not itself
/// reported (nowhere to), and never traps as `FileHandle.standardError.write` does.
func writeStandardError(_ text: String) {
    try? Output.write(Array(text.utf8), fd: STDERR_FILENO, what: "standard error")
}

/// Refuses, before any work, outputs that would replace one of the inputs.
enum OutputPaths {
    /// `path` with symbolic links and `..` resolved; for a file that does not
    /// exist yet, its directory resolved and its name appended.
    static func resolved(_ path: String) -> String {
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        if let r = realpath(absolute, nil) {
            defer { free(r) }
            return String(cString: r)
        }
        let url = URL(fileURLWithPath: absolute)
        let parent = url.deletingLastPathComponent().path
        if let r = realpath(parent, nil) {
            defer { free(r) }
            return (String(cString: r) as NSString).appendingPathComponent(url.lastPathComponent)
        }
        return url.standardizedFileURL.path
    }

    /// Device and inode of an existing file (hard links, bind mounts).
    static func identity(_ path: String) -> (dev_t, ino_t)? {
        var s = stat()
        guard stat(path, &s) == 0 else { return nil }
        return (s.st_dev, s.st_ino)
    }

    static func same(_ a: String, _ b: String) -> Bool {
        if resolved(a) == resolved(b) { return true }
        if let x = identity(a), let y = identity(b) { return x == y }
        return false
    }

    /// Throws a `ValidationError` naming both when an output (flag, path) is one
    /// of the inputs, or two outputs are the same file. Standard output (`-`) and
    /// absent paths are skipped.
    static func refuseOverwrite(outputs: [(String, String?)], inputs: [(String, String?)]) throws {
        let outs = outputs.compactMap { o in o.1.flatMap { $0 == "-" || $0.isEmpty ? nil : (o.0, $0) } }
        let ins = inputs.compactMap { i in i.1.flatMap { $0 == "-" || $0.isEmpty ? nil : (i.0, $0) } }
        for (outFlag, out) in outs {
            for (inFlag, input) in ins where same(out, input) {
                throw ValidationError(
                    "\(outFlag) \(out) is the \(inFlag) \(input): refusing to overwrite an input; choose another output path")
            }
        }
        for i in outs.indices {
            for j in outs.indices where j > i && same(outs[i].1, outs[j].1) {
                throw ValidationError(
                    "\(outs[i].0) \(outs[i].1) and \(outs[j].0) \(outs[j].1) are the same file: choose different output paths")
            }
        }
    }
}

/// Numeric option ranges, checked in `validate()` before any work.
enum OptionRange {
    static func check<T: Comparable>(_ value: T, _ range: ClosedRange<T>, _ flag: String) throws {
        guard range.contains(value) else {
            throw ValidationError("\(flag) must be in \(range.lowerBound)...\(range.upperBound), got \(value)")
        }
    }

    static func atLeast<T: Comparable>(_ value: T, _ minimum: T, _ flag: String) throws {
        guard value >= minimum else { throw ValidationError("\(flag) must be at least \(minimum), got \(value)") }
    }

    /// The smallest memory limit a worker process can run under (its runtime,
    /// ZeroMQ and buffers); a smaller limit would only end in an OOM kill.
    static let minimumWorkerMemory = 16 << 20
    static let minimumWorkerMemoryText = "16MiB"

    static func workerMemory(_ text: String, _ flag: String) throws {
        let limit = try parseMemory(text, flag)
        guard limit.bytes >= minimumWorkerMemory else {
            throw ValidationError("\(flag) \(text) is below the minimum \(minimumWorkerMemoryText) a worker needs to run")
        }
    }

    static let maxThreads = 1024
    static let maxWorkers = 256
    static let maxBatchRows = 1 << 20
}

/// A CSV output: an atomic file (temporary, fsync, rename on `commit`) or,
/// for `-`, standard output through a buffer with checked writes.
final class OutputSink {
    private let file: AtomicFileWriter?
    private var buffer: [UInt8] = []
    let path: String

    init(path: String) throws {
        self.path = path
        file = path == "-" ? nil : try AtomicFileWriter(path: path)
        if file == nil { buffer.reserveCapacity(1 << 20) }
    }

    var isStandardOutput: Bool { file == nil }

    func append(_ bytes: UnsafeRawBufferPointer) throws {
        if let file {
            try file.append(bytes)
            return
        }
        buffer.append(contentsOf: bytes)
        if buffer.count >= 1 << 20 { try flush() }
    }

    func append(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try append($0) }
    }

    private func flush() throws {
        try Output.write(buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    func commit() throws {
        if let file { try file.commit() } else { try flush() }
    }

    func abort() {
        file?.abort()
        buffer.removeAll()
    }
}

/// For `validate()`: fails now, not after the work, when an output file cannot be created
/// (missing directory, no permission): a temporary file is made next to it and removed.
func probeWritable(_ outputs: [(String, String?)]) throws {
    for (flag, path) in outputs {
        guard let path, path != "-" else { continue }
        do { try AtomicFileWriter(path: path).abort() } catch { throw ValidationError("\(flag) \(path) cannot be written: \(error)") }
    }
}

/// Writes a `--report-json` file atomically (temporary file, fsync, rename); a
/// failure names the flag, the path and errno (no raw NSCocoaErrorDomain dump).
func writeReport(_ text: String, to path: String, flag: String = "--report-json") throws {
    do {
        let writer = try AtomicFileWriter(path: path)
        do {
            try writer.append(Array(text.utf8))
            try writer.commit()
        } catch {
            writer.abort()
            throw error
        }
    } catch {
        throw OutputWriteError(what: "\(flag) \(path)", errno: (error as? SystemError)?.errno ?? EIO)
    }
}
