import Foundation
import Locking

#if canImport(Glibc)
    import Glibc
#endif

/// Why an `OwnerLock` was not taken: another process holds it (and who), or the lock file failed.
public struct OwnerLockError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Code: String, Sendable { case held, io }
    public var code: Code
    /// The lock file.
    public var path: String
    /// Who holds it, as its lock file says (nil when the file names no one).
    public var holder: OwnerLock.Holder?
    public var system: SystemError?

    public var description: String {
        switch code {
        case .held:
            return "\(path) is held by " + (holder.map(\.description) ?? "another process (it names no holder)")
        case .io:
            return "cannot take the lock \(path): \(system.map(\.description) ?? "unknown error")"
        }
    }
}

/// An exclusive `flock` on a file that names its holder (host, pid, since when), held until
/// `release()` or the end of the process (the kernel drops it however the process ends,
/// SIGKILL included, so a lock is never left held by a dead process on the same host).
public final class OwnerLock: Sendable {
    public struct Holder: Sendable, Equatable, CustomStringConvertible {
        public var host: String
        public var pid: Int32
        public var since: String

        public var description: String { "pid \(pid) on host \(host) (since \(since))" }

        /// Parses the lock file's `host=… pid=… since=…` line.
        public init?(parsing text: String) {
            var fields: [Substring: Substring] = [:]
            for field in text.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
                guard let eq = field.firstIndex(of: "=") else { continue }
                fields[field[..<eq]] = field[field.index(after: eq)...]
            }
            guard let host = fields["host"], let pidText = fields["pid"], let pid = Int32(pidText) else { return nil }
            self.init(host: String(host), pid: pid, since: String(fields["since"] ?? "?"))
        }

        public init(host: String, pid: Int32, since: String) {
            self.host = host
            self.pid = pid
            self.since = since
        }
    }

    public let path: String
    public let holder: Holder
    /// The locked file's descriptor; nil once released.
    private let fd: Locked<Int32?>

    private init(path: String, fd: Int32, holder: Holder) {
        self.path = path
        self.fd = Locked(fd)
        self.holder = holder
    }

    deinit { release() }

    /// Takes the lock at `path` (creating the file) without waiting and writes this process
    /// into it; throws `.held` naming the holder when another process has it.
    public static func acquire(_ path: String, host: String = ProcessInfo.processInfo.hostName) throws(OwnerLockError) -> OwnerLock {
        let fd: Int32
        do { fd = try Sys.open(path, O_RDWR | O_CREAT, 0o644) } catch {
            throw OwnerLockError(code: .io, path: path, holder: nil, system: error)
        }
        let taken: Bool
        do { taken = try Sys.tryLockExclusive(fd, path: path) } catch {
            Sys.close(fd)
            throw OwnerLockError(code: .io, path: path, holder: nil, system: error)
        }
        guard taken else {
            Sys.close(fd)
            throw OwnerLockError(
                code: .held, path: path, holder: Sys.readSmallFile(path, limit: 4096).flatMap(Holder.init(parsing:)),
                system: nil)
        }
        let since = ISO8601DateFormatter().string(from: Date())
        let holder = Holder(host: host.isEmpty ? "?" : host.replacingOccurrences(of: " ", with: "_"), pid: getpid(), since: since)
        let line = Array("host=\(holder.host) pid=\(holder.pid) since=\(since)\n".utf8)
        do throws(SystemError) {
            _ = try Sys.retrying("ftruncate", path) { ftruncate(fd, 0) }
            var failure: SystemError?
            line.withUnsafeBytes { raw in
                do throws(SystemError) { try Sys.writeFully(fd, raw.baseAddress!, raw.count, path: path) } catch { failure = error }
            }
            if let failure { throw failure }
        } catch {
            Sys.close(fd)
            throw OwnerLockError(code: .io, path: path, holder: nil, system: error)
        }
        return OwnerLock(path: path, fd: fd, holder: holder)
    }

    /// Who holds the lock at `path` now, or nil when no one does (or the file is missing).
    public static func currentHolder(_ path: String) -> Holder? {
        guard let fd = try? Sys.open(path, O_RDONLY) else { return nil }
        defer { Sys.close(fd) }
        if (try? Sys.tryLockExclusive(fd, path: path)) == true { return nil }
        return Sys.readSmallFile(path, limit: 4096).flatMap(Holder.init(parsing:))
    }

    /// Drops the lock (the file stays, naming the last holder).
    public func release() {
        if let fd = fd.withLock({ d -> Int32? in
            defer { d = nil }
            return d
        }) {
            Sys.close(fd)
        }
    }
}
