import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Why a memory cgroup could not be used.
public struct CgroupError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Code: String, Sendable {
        /// No memory controller is mounted (neither v2 `memory.max` nor v1 `memory/`).
        case unavailable
        /// The cgroup tree exists but we may not create or configure groups (not root?).
        case permissionDenied
        /// A cgroup file could not be read or written.
        case io
        /// The child process could not be started.
        case launchFailed
    }

    public var code: Code
    public var message: String
    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { "memory cgroup: \(message)" }
}

/// The memory cgroup directory of a process and how to read it (v1 or v2).
public struct CgroupPaths: Sendable, Equatable {
    public enum Version: Int, Sendable {
        case v1 = 1
        case v2 = 2
    }
    public var version: Version
    /// The cgroup's directory, e.g. `/sys/fs/cgroup/memory/job` (v1) or `/sys/fs/cgroup/job` (v2).
    public var directory: String

    public init(version: Version, directory: String) {
        self.version = version
        self.directory = directory
    }

    /// The memory cgroup this process belongs to, if a memory controller is visible.
    public static func ofSelf(root: String = "/sys/fs/cgroup") -> CgroupPaths? {
        guard let text = Sys.readSmallFile("/proc/self/cgroup") else { return nil }
        return resolve(procCgroup: text, root: root, exists: Sys.exists)
    }

    /// Pure resolution from `/proc/<pid>/cgroup` text (testable without a cgroup tree).
    public static func resolve(procCgroup text: String, root: String, exists: (String) -> Bool) -> CgroupPaths? {
        var v2Path: String?
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else { continue }
            let path = String(parts[2])
            if parts[0] == "0" && parts[1].isEmpty {
                v2Path = path
                continue
            }
            if parts[1].split(separator: ",").contains("memory") {
                for candidate in [root + "/memory" + path, root + "/memory"] where exists(candidate + "/memory.limit_in_bytes") {
                    return CgroupPaths(version: .v1, directory: candidate.hasSuffix("/") ? String(candidate.dropLast()) : candidate)
                }
            }
        }
        if let v2Path {
            let dir = v2Path == "/" ? root : root + v2Path
            if exists(dir + "/memory.max") || exists(dir + "/memory.current") { return CgroupPaths(version: .v2, directory: dir) }
        }
        return nil
    }

    private func readInt(_ name: String) -> Int? {
        guard let t = Sys.readSmallFile(directory + "/" + name) else { return nil }
        let s = t.trimmingCharacters(in: " \n")
        if s == "max" { return nil }
        return Int(s)
    }

    /// The limit in bytes, or nil when unlimited.
    public func limit() -> Int? {
        let v = readInt(version == .v2 ? "memory.max" : "memory.limit_in_bytes")
        guard let v, v < (1 << 62) else { return nil }
        return v
    }

    /// Current usage in bytes.
    public func usage() -> Int? { readInt(version == .v2 ? "memory.current" : "memory.usage_in_bytes") }

    /// Peak usage in bytes (v1 `memory.max_usage_in_bytes`, v2 `memory.peak` where the kernel has it).
    public func peakUsage() -> Int? { readInt(version == .v2 ? "memory.peak" : "memory.max_usage_in_bytes") }

    /// How many processes the kernel OOM-killed in this group (`oom_kill` in `memory.oom_control`
    /// for v1, `memory.events` for v2).
    public func oomKills() -> Int? {
        guard let t = Sys.readSmallFile(directory + "/" + (version == .v2 ? "memory.events" : "memory.oom_control")) else { return nil }
        for line in t.split(separator: "\n") {
            let f = line.split(separator: " ")
            if f.count == 2 && f[0] == "oom_kill" { return Int(f[1]) }
        }
        return nil
    }
}

/// A memory cgroup created for child processes, with a limit. Used by the worker launcher.
///
/// ```swift
/// let group = try MemoryCgroup.create(name: "worker-1", limit: .mebibytes(256))
/// let process = try group.launch("/path/to/spacetime", ["worker", …])
/// ```
/// Children are placed in the group before they run any code (a `/bin/sh` wrapper writes its
/// pid to `cgroup.procs` and then `exec`s the program), because on cgroup v1 memory charged
/// before joining does not move. Over the limit the kernel kills the child (SIGKILL).
public final class MemoryCgroup: Sendable {
    public let paths: CgroupPaths
    public let limit: MemorySize

    private init(paths: CgroupPaths, limit: MemorySize) {
        self.paths = paths
        self.limit = limit
    }

    /// Creates (or reuses) a child group named `name` under this process's memory cgroup and
    /// sets its limit. Throws `.unavailable` when no memory controller is visible and
    /// `.permissionDenied` when groups cannot be created here.
    public static func create(name: String, limit: MemorySize, root: String = "/sys/fs/cgroup") throws(CgroupError) -> MemoryCgroup {
        guard !name.isEmpty, !name.contains("/"), name != ".", name != ".." else {
            throw CgroupError(code: .io, message: "invalid cgroup name `\(name)`")
        }
        guard let parent = CgroupPaths.ofSelf(root: root) else {
            throw CgroupError(
                code: .unavailable,
                message:
                    "no memory controller found under \(root) (cgroup v2 memory.max or v1 memory/); cannot enforce a limit with cgroups here"
            )
        }
        let dir = parent.directory + "/" + name
        do { try Sys.mkdir(dir) } catch {
            let code: CgroupError.Code = (error.errno == EACCES || error.errno == EPERM || error.errno == EROFS) ? .permissionDenied : .io
            throw CgroupError(code: code, message: "cannot create \(dir): \(error) (creating cgroups needs root or a delegated subtree)")
        }
        let paths = CgroupPaths(version: parent.version, directory: dir)
        let limitFile = dir + (parent.version == .v2 ? "/memory.max" : "/memory.limit_in_bytes")
        do {
            try Sys.writeSmallFile(limitFile, String(limit.bytes))
            if parent.version == .v1 {
                // Without swap accounting the limit covers memory only; also cap memsw when present
                // so the group cannot escape into swap.
                if Sys.exists(dir + "/memory.memsw.limit_in_bytes") {
                    try? Sys.writeSmallFile(dir + "/memory.memsw.limit_in_bytes", String(limit.bytes))
                }
            } else if Sys.exists(dir + "/memory.swap.max") {
                try? Sys.writeSmallFile(dir + "/memory.swap.max", "0")
            }
        } catch {
            _ = rmdir(dir)
            let code: CgroupError.Code = (error.errno == EACCES || error.errno == EPERM) ? .permissionDenied : .io
            throw CgroupError(code: code, message: "cannot set the limit in \(limitFile): \(error)")
        }
        return MemoryCgroup(paths: paths, limit: limit)
    }

    /// Starts `executable` with `arguments` inside the group. Standard streams are inherited
    /// unless set on the returned (already running) `Process` via `configure`.
    public func launch(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil,
        configure: (Process) -> Void = { _ in }
    ) throws(CgroupError) -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "echo $$ > \"$0\" && exec \"$@\"", paths.directory + "/cgroup.procs", executable] + arguments
        if let environment { p.environment = environment }
        configure(p)
        do { try p.run() } catch {
            throw CgroupError(code: .launchFailed, message: "cannot start \(executable): \(error)")
        }
        return p
    }

    /// Peak memory charged to the group (bytes), readable after the children exit.
    public var peakUsage: Int? { paths.peakUsage() }
    /// Number of OOM kills in the group.
    public var oomKills: Int? { paths.oomKills() }
    /// Current usage in bytes.
    public var usage: Int? { paths.usage() }

    /// Removes the group (it must have no live processes). Returns whether it was removed.
    @discardableResult
    public func remove() -> Bool {
        rmdir(paths.directory) == 0
    }

    /// Moves this process out of the group at `directory` (into the parent group) and removes
    /// the group: for a child whose launcher is gone, so that nobody else would remove it.
    /// Returns whether the group was removed.
    @discardableResult
    public static func leave(_ directory: String) -> Bool {
        let parent = (directory as NSString).deletingLastPathComponent
        guard !parent.isEmpty, parent != directory else { return false }
        // Threads still exiting are not moved and keep the group busy for a moment: retry (at most ~2 s).
        for _ in 0..<100 {
            try? Sys.writeSmallFile(parent + "/cgroup.procs", String(getpid()))
            if rmdir(directory) == 0 { return true }
            guard errno == EBUSY else { return false }
            usleep(20_000)
        }
        return false
    }

    /// Removes groups named `<prefix><pid>-…` under this process's memory cgroup whose creating
    /// process `pid` no longer exists and that have no processes left. Returns the paths removed.
    @discardableResult
    public static func removeStale(prefix: String, root: String = "/sys/fs/cgroup") -> [String] {
        guard let parent = CgroupPaths.ofSelf(root: root), let names = try? Sys.listDirectory(parent.directory) else { return [] }
        var removed: [String] = []
        for name in names where name.hasPrefix(prefix) {
            guard let pid = Int32(name.dropFirst(prefix.count).prefix { $0 != "-" }), pid > 0, !Sys.processExists(pid) else { continue }
            let dir = parent.directory + "/" + name
            if rmdir(dir) == 0 { removed.append(dir) }
        }
        return removed
    }
}
