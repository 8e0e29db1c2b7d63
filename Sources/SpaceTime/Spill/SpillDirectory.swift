import Foundation
import Locking

#if canImport(Glibc)
    import Glibc
#endif

/// A spill error: a failed system call on a spill file, or a damaged spill block.
public struct SpillError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable { case io, corrupt }
    public var code: Code
    public var message: String
    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }
    init(_ e: SystemError) { self.init(code: .io, message: e.description) }
    public var description: String { "spill: \(message)" }
}

extension SpillError: TaskFailureConvertible {
    /// I/O, retryable: another worker has its own disk (a full or damaged one here says nothing of the data).
    public var taskFailure: TaskFailure { TaskFailure(.io, description, retryable: true) }
}

/// A private directory for one process's spill files.
///
/// Named `spacetime-spill-<pid>-<start time>-<n>` under the base directory (`$SPACETIME_SPILL_DIR`,
/// else `$TMPDIR`, else `/tmp`). It is removed by `remove()`, on deinit, and at normal process exit.
/// The owner holds an exclusive `flock` on `<directory>.lock` next to it for the directory's whole
/// life, taken before the directory is made. A directory whose lock file nobody holds was left by
/// a crashed process and is stale: `removeStale(in:)` deletes it, and every new `SpillDirectory`
/// calls it. The lock (not the pid) decides, so processes in other pid namespaces sharing the base
/// directory (containers, the multi-host test) never delete each other's live directories.
/// Directories without a lock file (older versions) fall back to the pid and start-time check.
public final class SpillDirectory: Sendable {
    public let path: String
    /// The held lock file's descriptor (closed, releasing the lock, by `remove()`); nil once removed.
    private let lockDescriptor: Locked<Int32?>
    private let counter = AtomicCounter()
    static let prefix = "spacetime-spill-"

    /// The default base directory for spill directories.
    public static var defaultBase: String {
        let env = ProcessInfo.processInfo.environment
        if let d = env["SPACETIME_SPILL_DIR"], !d.isEmpty { return d }
        if let d = env["TMPDIR"], !d.isEmpty { return d.hasSuffix("/") ? String(d.dropLast()) : d }
        return "/tmp"
    }

    /// Creates a fresh spill directory under `base` (after removing stale ones there).
    public init(base: String = SpillDirectory.defaultBase) throws(SpillError) {
        do { try Sys.mkdirs(base) } catch { throw SpillError(error) }
        SpillDirectory.removeStale(in: base)
        let pid = getpid()
        let n = SpillDirectory.instances.next()
        path = "\(base)/\(Self.prefix)\(pid)-\(Self.startTime(of: pid) ?? 0)-\(n)"
        let descriptor: Int32
        do { descriptor = try Self.takeOwnerLock(path + ".lock") } catch { throw SpillError(error) }
        do { try Sys.mkdir(path, 0o700) } catch {
            Sys.unlink(path + ".lock")
            Sys.close(descriptor)
            throw SpillError(error)
        }
        lockDescriptor = Locked(descriptor)
        SpillDirectory.registerForExit(path)
    }

    deinit { remove() }

    /// A new unique file path inside the directory.
    public func newFilePath(_ tag: String = "spill") -> String {
        "\(path)/\(tag)-\(counter.next()).lz4"
    }

    /// Deletes the directory and everything in it.
    public func remove() {
        guard
            let descriptor = lockDescriptor.withLock({ d -> Int32? in
                defer { d = nil }
                return d
            })
        else { return }
        Sys.removeTree(path)
        SpillDirectory.unregister(path)
        Sys.unlink(path + ".lock")
        Sys.close(descriptor)
    }

    /// Creates and locks `lockPath`. Retries when a concurrent sweep unlinked the file
    /// between our open and our lock (the held descriptor must be the file at the path).
    private static func takeOwnerLock(_ lockPath: String) throws(SystemError) -> Int32 {
        while true {
            let fd = try Sys.open(lockPath, O_RDWR | O_CREAT, 0o600)
            if try Sys.tryLockExclusive(fd, path: lockPath),
                let held = Sys.identity(fd: fd), let atPath = Sys.identity(path: lockPath), held == atPath
            {
                return fd
            }
            Sys.close(fd)
        }
    }

    /// Removes spill directories in `base` whose owning process no longer exists.
    /// Returns the paths removed.
    @discardableResult
    public static func removeStale(in base: String) -> [String] {
        guard let names = try? Sys.listDirectory(base) else { return [] }
        var removedPaths: [String] = []
        let present = Set(names)
        for name in names where name.hasPrefix(prefix) && !name.hasSuffix(".lock") {
            let parts = name.dropFirst(prefix.count).split(separator: "-")
            guard parts.count == 3, let pid = Int32(parts[0]), let start = UInt64(parts[1]) else { continue }
            let directory = base + "/" + name
            if present.contains(name + ".lock") {
                guard let lock = unownedLock(directory + ".lock") else { continue }
                Sys.removeTree(directory)
                Sys.unlink(directory + ".lock")
                Sys.close(lock)
                removedPaths.append(directory)
            } else if isStale(pid: pid, startTime: start) {
                Sys.removeTree(directory)
                removedPaths.append(directory)
            }
        }
        // Lock files whose directory is gone (an owner killed between lock and mkdir).
        for name in names where name.hasPrefix(prefix) && name.hasSuffix(".lock") && !present.contains(String(name.dropLast(5))) {
            if let lock = unownedLock(base + "/" + name) {
                Sys.unlink(base + "/" + name)
                Sys.close(lock)
            }
        }
        return removedPaths
    }

    /// The lock file opened and locked when no live owner holds it (the caller then removes
    /// it and closes the descriptor); nil when it is held or cannot be opened.
    static func unownedLock(_ lockPath: String) -> Int32? {
        guard let fd = try? Sys.open(lockPath, O_RDWR) else { return nil }
        if (try? Sys.tryLockExclusive(fd, path: lockPath)) == true { return fd }
        Sys.close(fd)
        return nil
    }

    /// Whether a directory made by (`pid`, `startTime`) belongs to a process that is gone.
    static func isStale(pid: Int32, startTime: UInt64) -> Bool {
        guard Sys.processExists(pid) else { return true }
        if let now = SpillDirectory.startTime(of: pid), startTime != 0, now != startTime { return true }  // pid reused
        return false
    }

    /// Field 22 of `/proc/<pid>/stat`: start time in clock ticks since boot.
    static func startTime(of pid: Int32) -> UInt64? {
        guard let text = Sys.readSmallFile("/proc/\(pid)/stat"), let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // fields[0] is field 3 (state); start time is field 22.
        return fields.count > 19 ? UInt64(fields[19]) : nil
    }

    // MARK: Removal at exit

    private static let instances = AtomicCounter()
    /// Live directories, removed at exit; whether the exit hook is installed; the signal sources
    /// of ``removeOnTerminationSignals()``.
    private struct Live {
        var paths: Set<String> = []
        var exitHookInstalled = false
        var signalSources: [any DispatchSourceSignal] = []
    }
    private static let live = Locked(Live())

    private static func registerForExit(_ path: String) {
        live.withLock { live in
            if !live.exitHookInstalled {
                live.exitHookInstalled = true
                atexit { SpillDirectory.removeAllLive() }
            }
            live.paths.insert(path)
        }
    }

    /// Makes SIGINT and SIGTERM end the process through `exit(128 + signal)`, so the exit hook
    /// removes the live spill directories (by default those signals kill the process at once and
    /// leave them for the next run's stale-directory sweep). For command-line tools; idempotent.
    public static func removeOnTerminationSignals() {
        live.withLock { live in
            guard live.signalSources.isEmpty else { return }
            for sig in [SIGINT, SIGTERM] {
                signal(sig, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
                source.setEventHandler { exit(128 + sig) }
                source.resume()
                live.signalSources.append(source)
            }
        }
    }

    private static func unregister(_ path: String) {
        live.withLock { _ = $0.paths.remove(path) }
    }

    private static func removeAllLive() {
        let paths = live.withLock { $0.paths }
        for p in paths {
            Sys.removeTree(p)
            Sys.unlink(p + ".lock")
        }
    }
}
