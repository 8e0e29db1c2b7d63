import Foundation
import SpaceTime

/// `spacetime local`: this process is the coordinator; it starts N worker
/// processes of the same binary on this host, each in its own memory cgroup
/// with the limit when cgroups are writable (else the worker only limits
/// itself, and the launcher says so), and reports each worker's exit to the
/// coordinator so a killed worker's tasks are rerun at once with the cause
/// ("killed by signal 9 at … of its … limit").
public final class LocalCluster: @unchecked Sendable {
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
    private let lock = NSLock()
    private var processes: [(id: String, process: Process, group: MemoryCgroup?)] = []
    private var slots: [String: WorkerSlot] = [:]
    private var jobOver = false

    public init(executable: String, memoryLimit: MemorySize) {
        self.executable = executable
        self.memoryLimit = memoryLimit
    }

    /// Starts worker `id` connecting to `endpoint`. Returns a note on how its
    /// memory limit is enforced. With `output`, the worker's standard error
    /// reaches it line by line instead of this process's standard error.
    public func startWorker(id: String, endpoint: String, threads: Int, spillDir: String?, extraArguments: [String] = [],
                            output: (@Sendable (String) -> Void)? = nil,
                            onExit: @escaping @Sendable (String, Int32?, Int32?) -> Void) throws -> String {
        var arguments = ["worker", "--connect", endpoint, "--memory-limit", String(memoryLimit.bytes), "--worker-id", id,
                         "--threads", String(threads)]
        if let spillDir { arguments += ["--spill-dir", spillDir] }
        arguments += extraArguments
        var environment = ProcessInfo.processInfo.environment
        environment["SWIFT_BACKTRACE"] = "enable=no"
        // Foundation's waitUntilExit spins a run loop (getpid/clock_gettime in a loop); a
        // termination handler, set before the launch, costs nothing while the worker runs.
        let groupBox = LockedBox<MemoryCgroup?>(nil)
        let onTermination: @Sendable (Process) -> Void = { [self] process in
            let signal: Int32? = process.terminationReason == .uncaughtSignal ? process.terminationStatus : nil
            let status: Int32? = signal == nil ? process.terminationStatus : nil
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
        do {
            let g = try MemoryCgroup.create(name: "spacetime-\(ProcessInfo.processInfo.processIdentifier)-\(id)", limit: memoryLimit)
            group = g
            groupBox.withLock { $0 = g }
            process = try g.launch(executable, arguments, environment: environment) { p in
                p.terminationHandler = onTermination
                if let pipe { p.standardError = pipe }
            }
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
        lock.withLock {
            processes.append((id, process, group))
            slots[id] = WorkerSlot(id: id, pid: process.processIdentifier, cgroup: group?.paths.directory)
        }
        return note
    }

    /// A pipe whose text reaches `output` a line at a time (the rest at its end).
    private static func lines(to output: @escaping @Sendable (String) -> Void) -> Pipe {
        let pipe = Pipe()
        let pending = LockedBox(Data())
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

    /// After the job: waits up to `timeout` seconds for workers to exit on
    /// their own (they got `shutdown`), then SIGTERMs the rest, and removes
    /// the cgroups.
    public func finish(timeout: Double = 5) {
        lock.withLock { jobOver = true }
        let deadline = Date().addingTimeInterval(timeout)
        let all = lock.withLock { processes }
        for entry in all {
            while entry.process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.002) }
            if entry.process.isRunning {
                kill(entry.process.processIdentifier, SIGTERM)
                while entry.process.isRunning { Thread.sleep(forTimeInterval: 0.005) }
            }
        }
        // The termination handlers record each exit shortly after `isRunning` turns false.
        let recorded = Date().addingTimeInterval(0.5)
        while Date() < recorded, lock.withLock({ all.contains { slots[$0.id]?.exit == nil } }) {
            Thread.sleep(forTimeInterval: 0.002)
        }
        lock.withLock {
            for entry in all {
                if let g = entry.group {
                    slots[entry.id]?.cgroupPeak = g.peakUsage ?? slots[entry.id]?.cgroupPeak
                    g.remove()
                }
            }
        }
    }
}
