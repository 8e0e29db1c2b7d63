import Foundation
import Locking
import Logging
import SpaceTime

/// `spacetime local`: this process is the coordinator; it starts N worker
/// processes of the same binary on this host, each in its own memory cgroup
/// with the limit when cgroups are writable (else the worker only limits
/// itself, and the launcher says so), and reports each worker's exit to the
/// coordinator so a killed worker's tasks are rerun at once with the cause
/// ("killed by signal 9 at … of its … limit").
///
/// No worker outlives it: each is started with `--launcher-pid`, so the kernel
/// sends it SIGTERM when this process ends however it ends (`PR_SET_PDEATHSIG`),
/// and a worker so orphaned removes its own cgroup (`--launcher-cgroup`).
/// `finish` and `stopAll` end the rest and remove the cgroups; groups left by a
/// launcher that is gone are swept when the next one starts.
public final class LocalCluster: @unchecked Sendable {  // `processes`, `slots` and the flags under `lock`; the rest immutable
    public struct WorkerSlot: Sendable {
        public var id: String
        public var pid: Int32
        public var cgroup: String?
        /// Peak memory charged to its cgroup (bytes), when it had one.
        public var cgroupPeak: Int?
        public var exit: String?
    }

    public let executable: String
    public let memoryLimit: MemorySize
    private let lock = Lock()
    private var processes: [(id: String, process: Process, group: MemoryCgroup?, exited: ExitLatch)] = []
    private var slots: [String: WorkerSlot] = [:]
    private var jobOver = false
    private var stopping = false
    private var allExitedReported = false
    private static let groupPrefix = "spacetime-"

    public init(executable: String, memoryLimit: MemorySize) {
        self.executable = executable
        self.memoryLimit = memoryLimit
        MemoryCgroup.removeStale(prefix: Self.groupPrefix)
    }

    /// Starts worker `id` connecting to `endpoint`. Returns a note on how its
    /// memory limit is enforced. With `output`, the worker's standard error
    /// reaches it line by line instead of this process's standard error.
    public func startWorker(
        id: String, endpoint: String, threads: Int, spillDir: String?, extraArguments: [String] = [],
        output: (@Sendable (String) -> Void)? = nil,
        onExit: @escaping @Sendable (String, Int32?, Int32?) -> Void
    ) throws -> String {
        let launcher = ProcessInfo.processInfo.processIdentifier
        var arguments = [
            "worker", "--connect", endpoint, "--memory-limit", String(memoryLimit.bytes), "--worker-id", id,
            "--threads", String(threads), "--launcher-pid", String(launcher)
        ]
        if let spillDir { arguments += ["--spill-dir", spillDir] }
        arguments += extraArguments
        if ProcessInfo.processInfo.environment["SPACETIME_TEST_FAIL_SPAWN"] == id {
            throw PipelineError(.launch, "cannot start worker \(id) (\(executable)): SPACETIME_TEST_FAIL_SPAWN")
        }
        var environment = ProcessInfo.processInfo.environment
        environment["SWIFT_BACKTRACE"] = "enable=no"
        // Foundation's waitUntilExit spins a run loop (getpid/clock_gettime in a loop); a
        // termination handler, set before the launch, costs nothing while the worker runs.
        let groupBox = Locked<MemoryCgroup?>(nil)
        let spillBase = spillDir ?? SpillDirectory.defaultBase
        let exited = ExitLatch()
        let onTermination: @Sendable (Process) -> Void = { [self] process in
            // Opened last: whoever waits for this worker then finds its exit recorded.
            defer { exited.open() }
            let signal: Int32? = process.terminationReason == .uncaughtSignal ? process.terminationStatus : nil
            let status: Int32? = signal == nil ? process.terminationStatus : nil
            // A killed worker could not remove its spill directory: nobody else would (the sweep
            // takes only directories whose owner is gone, so the other workers' are safe).
            if signal != nil { SpillDirectory.removeStale(in: spillBase) }
            let over = lock.withLock { () -> Bool in
                slots[id]?.exit = signal.map { "killed by signal \($0)" } ?? "exit \(status ?? -1)"
                slots[id]?.cgroupPeak = groupBox.withLock { $0 }?.peakUsage
                return jobOver
            }
            if !over { onExit(id, signal, status) }
        }
        let pipe = output.map { Self.lines(to: $0) }
        let process: Process
        var group: MemoryCgroup?
        var note: String
        do throws(CgroupError) {
            let g = try MemoryCgroup.create(name: "\(Self.groupPrefix)\(launcher)-\(id)", limit: memoryLimit)
            do throws(CgroupError) {
                process = try g.launch(executable, arguments + ["--launcher-cgroup", g.paths.directory], environment: environment) { p in
                    p.terminationHandler = onTermination
                    if let pipe { p.standardError = pipe }
                }
            } catch {
                g.remove()
                throw error
            }
            group = g
            groupBox.withLock { $0 = g }
            note = "in memory cgroup \(g.paths.directory) (limit \(memoryLimit))"
        } catch {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: executable)
            p.arguments = arguments
            p.environment = environment
            p.terminationHandler = onTermination
            if let pipe { p.standardError = pipe }
            do { try p.run() } catch { throw PipelineError(.launch, "cannot start worker \(id) (\(executable)): \(error)") }
            process = p
            note = "self-limited to \(memoryLimit) (no writable memory cgroup: \(error.description))"
        }
        let stopped = lock.withLock { () -> Bool in
            processes.append((id, process, group, exited))
            slots[id] = WorkerSlot(id: id, pid: process.processIdentifier, cgroup: group?.paths.directory)
            return stopping
        }
        // `stopAll` ran while this one was starting: it must not be the one left.
        if stopped { stopAll() }
        return note
    }

    /// A pipe whose text reaches `output` a line at a time (the rest at its end).
    private static func lines(to output: @escaping @Sendable (String) -> Void) -> Pipe {
        let pipe = Pipe()
        let pending = Locked(Data())
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let chunk = handle.availableData
            let lines = pending.withLock { buffer -> [Data] in
                if chunk.isEmpty {
                    handle.readabilityHandler = nil
                    defer { buffer.removeAll() }
                    return buffer.isEmpty ? [] : [buffer]
                }
                buffer.append(chunk)
                var lines: [Data] = []
                while let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                    lines.append(buffer[buffer.startIndex..<newline])
                    buffer.removeSubrange(buffer.startIndex...newline)
                }
                return lines
            }
            for line in lines { output(String(decoding: line, as: UTF8.self)) }
        }
        return pipe
    }

    /// The workers started so far, with pids and exits.
    public var workers: [WorkerSlot] {
        lock.withLock { processes.compactMap { slots[$0.id] } }
    }

    /// When every one of the `expected` workers has been started and has exited
    /// before the job in `store` is over, fails the job (no one is left to run
    /// the rest, and nothing else would end the wait). Call it from `onExit`.
    public func failJobIfEveryWorkerExited(
        expected: Int, store: JobStore,
        logger: Logger
    ) {
        let slots = workers
        guard slots.count == expected, slots.allSatisfy({ $0.exit != nil }),
            let stage = try? store.stage(), stage != .done, stage != .failed,
            lock.withLock({ () -> Bool in
                defer { allExitedReported = true }
                return !allExitedReported
            })
        else { return }
        let exits = slots.map { "\($0.id) (pid \($0.pid)) \($0.exit ?? "?")" }.joined(separator: ", ")
        logger.error("every worker has exited: \(exits)")
        try? store.failJob(
            "every worker has exited before the job was done: \(exits) (see their log lines above)",
            now: Date().timeIntervalSince1970)
    }

    /// After the job: waits up to `timeout` seconds for workers to exit on
    /// their own (they got `shutdown`), then ends the rest as `stopAll` does.
    public func finish(timeout: Double = 5) {
        lock.withLock { jobOver = true }
        let deadline = DispatchTime.now() + timeout
        for entry in lock.withLock({ processes }) { _ = entry.exited.wait(until: deadline) }
        stopAll()
    }

    /// Ends every worker now (a signal, a failed launch, a fatal coordinator
    /// error): SIGTERM, SIGKILL for those still running after `grace` seconds,
    /// then removes their cgroups. Their exits are no longer reported to `onExit`.
    public func stopAll(grace: Double = 5) {
        lock.withLock {
            jobOver = true
            stopping = true
        }
        let all = lock.withLock { processes }
        for entry in all where !entry.exited.isOpen { kill(entry.process.processIdentifier, SIGTERM) }
        // Each worker's termination handler (the process reaped, its exit recorded) opens its latch.
        let deadline = DispatchTime.now() + grace
        for entry in all where !entry.exited.wait(until: deadline) {
            kill(entry.process.processIdentifier, SIGKILL)
            _ = entry.exited.wait()
        }
        lock.withLock {
            for entry in all {
                if let g = entry.group {
                    // Read before the write: `slots[…]?.x = … slots[…]` would overlap two accesses to `slots`.
                    let peak = g.peakUsage ?? slots[entry.id]?.cgroupPeak
                    slots[entry.id]?.cgroupPeak = peak
                    // An exited process may leave its group a moment after it was reaped: retry the rmdir.
                    var tries = 0
                    while !g.remove() && FileManager.default.fileExists(atPath: g.paths.directory) && tries < 100 {
                        tries += 1
                        Thread.sleep(forTimeInterval: 0.01)
                    }
                }
            }
        }
    }
}

/// Opened once, when a worker's termination handler has run; waited on by any number of
/// threads (a condition instead of polling `Process.isRunning`).
private final class ExitLatch: Sendable {
    private let semaphore = DispatchSemaphore(value: 0)
    private let opened = Locked(false)

    func open() {
        opened.withLock { $0 = true }
        semaphore.signal()
    }

    var isOpen: Bool { opened.withLock { $0 } }

    /// Whether it opened by `deadline` (it stays open for the other waiters).
    func wait(until deadline: DispatchTime = .distantFuture) -> Bool {
        guard semaphore.wait(timeout: deadline) == .success else { return false }
        semaphore.signal()
        return true
    }
}
