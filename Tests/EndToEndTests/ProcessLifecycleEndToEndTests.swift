import Foundation
import Locking
import SpaceTime
import TestSupport
import Testing

@testable import Cluster

/// Nothing of a run is left running: `local` and `predict --workers` ended by
/// signals, kills and failures; each case checks the exit status, the message,
/// that no process of the run is left (the launcher, any process started with
/// its `--launcher-pid`, the worker pids it logged: each worker has a process
/// group of its own), that the launcher's memory cgroups are gone and that the
/// output pipe reaches its end (`spacetime local … | tee log` returns).
@Suite(.serialized) struct ProcessLifecycleEndToEndTests {
    static let slow = ["SPACETIME_TEST_TREE_DELAY_MS": "300", "SPACETIME_TEST_BATCH_DELAY_MS": "100"]
    static let training = [
        "--partitions", "2", "--trees", "12", "--seed", "7", "--heartbeat", "0.25", "--liveness", "8",
        "--progress", "plain"
    ]

    /// A `spacetime` process, its standard output and error on one pipe.
    final class Session: @unchecked Sendable {
        let process = Process()
        private let text = Locked("")
        private let eof = DispatchSemaphore(value: 0)

        init(_ arguments: [String], in dir: String, environment: [String: String] = [:]) throws {
            E2E.configure(process, arguments, in: dir, environment: environment)
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = pipe
            try process.run()
            let reader = pipe.fileHandleForReading
            let text = self.text
            let eof = self.eof
            Thread.detachNewThread {
                while true {
                    let chunk = reader.availableData
                    if chunk.isEmpty { break }
                    text.withLock { $0 += String(decoding: chunk, as: UTF8.self) }
                }
                eof.signal()
            }
        }

        var pid: Int32 { process.processIdentifier }
        var output: String { text.withLock { $0 } }
        /// The workers' pids from the launcher's "started worker wN (pid P)" lines.
        var workerPIDs: [Int32] { output.matches(of: /started worker w\d+ \(pid (\d+)\)/).compactMap { Int32($0.1) } }

        /// Whether every writer of the pipe (this process and all it started) closed it within `timeout` s.
        func pipeClosed(within timeout: Double) -> Bool { eof.wait(timeout: .now() + timeout) == .success }

        /// The exit (status, killed by a signal), or nil when still running after `timeout` s (then killed).
        func wait(_ timeout: Double) -> (status: Int32, signaled: Bool)? {
            let deadline = Date().addingTimeInterval(timeout)
            while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
            if process.isRunning {
                kill(pid, SIGKILL)
                process.waitUntilExit()
                return nil
            }
            return (process.terminationStatus, process.terminationReason == .uncaughtSignal)
        }

        func waitForOutput(_ needle: String, _ timeout: Double = 60) -> Bool {
            E2E.waitUntil(timeout) { output.contains(needle) }
        }
    }

    /// Live (non-zombie) processes among `pids`, or started with `--launcher-pid launcher`.
    static func leftovers(_ pids: Set<Int32>, launcher: Int32) -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        var found: [String] = []
        for name in names {
            guard let pid = Int32(name), pid != getpid() else { continue }
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { continue }
            // Fields after the command: state ppid …
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 1, fields[0] != "Z" else { continue }
            let cmdline = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline"))) ?? Data()
            let args = cmdline.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            let byLauncher = zip(args, args.dropFirst()).contains { $0 == "--launcher-pid" && $1 == String(launcher) }
            if pids.contains(pid) || byLauncher { found.append("\(pid) \(args.joined(separator: " "))") }
        }
        return found
    }

    /// The memory cgroups a launcher with `pid` made (`spacetime-<pid>-<worker>`) that still exist.
    static func cgroups(of pid: Int32) -> [String] {
        guard let parent = CgroupPaths.ofSelf(),
            let names = try? FileManager.default.contentsOfDirectory(atPath: parent.directory)
        else { return [] }
        return names.filter { $0.hasPrefix("spacetime-\(pid)-") }
    }

    /// After a run of `session`: no process, no cgroup (unless `cgroups` is false), the pipe at its end.
    static func expectNothingLeft(_ session: Session, _ label: String, cgroups checkGroups: Bool = true) {
        #expect(session.pipeClosed(within: 15), "\(label): the output pipe is still held open:\n\(session.output)")
        var left: [String] = []
        _ = E2E.waitUntil(10) {
            left = leftovers(Set([session.pid] + session.workerPIDs), launcher: session.pid)
            return left.isEmpty
        }
        #expect(left.isEmpty, "\(label): processes left: \(left)")
        guard checkGroups else { return }
        var groups: [String] = []
        _ = E2E.waitUntil(10) {
            groups = cgroups(of: session.pid)
            return groups.isEmpty
        }
        #expect(groups.isEmpty, "\(label): cgroups left: \(groups)\n\(session.output)")
    }

    @Test(.serialized, arguments: [SIGINT, SIGTERM, SIGKILL])
    func localEndsItsWorkersOnASignal(_ sig: Int32) throws {
        let dir = try E2E.tempDir("life-signal-\(sig)")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = try E2E.generate(rows: 4000, in: dir)
        let local = try Session(
            [
                "local", data, "--workers", "2", "--memory-limit", "256MiB", "--job-dir", dir + "/job",
                "--model-out", "m.stm"
            ] + Self.training, in: dir, environment: Self.slow)
        #expect(local.waitForOutput("train/p"), "training started: \(local.output)")
        #expect(local.waitForOutput("started worker w2"))
        kill(local.pid, sig)
        let exit = local.wait(30)
        switch sig {
        case SIGINT:
            #expect(exit.map { $0.status == 130 && !$0.signaled } == true, "\(String(describing: exit))")
            #expect(local.output.contains("SIGINT: stopping the job and its workers; continue later with --resume --job-dir"))
        case SIGTERM:
            #expect(exit.map { $0.status == 143 && !$0.signaled } == true, "\(String(describing: exit))")
            #expect(local.output.contains("SIGTERM: stopping the job and its workers; continue later with --resume --job-dir"))
        default:
            #expect(exit.map { $0.status == SIGKILL && $0.signaled } == true, "\(String(describing: exit))")
            // The kernel told each worker (PR_SET_PDEATHSIG): they leave as on SIGTERM.
            #expect(E2E.waitUntil(10) { local.output.components(separatedBy: "exiting: SIGTERM").count == 3 }, "\(local.output)")
        }
        // After SIGKILL the orphaned workers remove their own groups; where one could not (seen when
        // this case follows the others in one test process), the next launcher's sweep does, below.
        Self.expectNothingLeft(local, "signal \(sig)", cgroups: sig != SIGKILL)
        #expect(!local.output.contains("every worker has exited"), "stopping the workers must not fail the job")
        let leftTemporaries = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains(".stm.tmp.") }
        #expect(leftTemporaries.isEmpty, "\(leftTemporaries)")

        if sig == SIGINT || sig == SIGKILL {
            // The job is resumable and finishes; nothing is left after a normal end either.
            let resumed = try Session(
                [
                    "local", data, "--workers", "2", "--memory-limit", "256MiB", "--job-dir", dir + "/job",
                    "--resume", "--model-out", "m.stm"
                ] + Self.training, in: dir)
            let status = resumed.wait(120)
            #expect(status.map { $0.status == 0 && !$0.signaled } == true, "\(resumed.output)")
            #expect(resumed.output.contains("fingerprint"))
            Self.expectNothingLeft(resumed, "resumed run")
            #expect(Self.cgroups(of: local.pid).isEmpty, "the killed launcher's groups: \(Self.cgroups(of: local.pid))")
        }
    }

    @Test func aFailedWorkerLaunchStopsTheWorkersAlreadyStarted() throws {
        let dir = try E2E.tempDir("life-spawn")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = try E2E.generate(rows: 2000, in: dir)
        let local = try Session(
            ["local", data, "--workers", "3", "--memory-limit", "256MiB", "--job-dir", dir + "/job"] + Self.training,
            in: dir, environment: ["SPACETIME_TEST_FAIL_SPAWN": "w3"])
        let exit = local.wait(60)
        #expect(exit.map { $0.status == 1 && !$0.signaled } == true, "\(String(describing: exit)) \(local.output)")
        #expect(local.output.contains("cannot start worker w3"), "\(local.output)")
        #expect(local.output.contains("started worker w2"), "two workers ran before the failed launch: \(local.output)")
        Self.expectNothingLeft(local, "failed launch")
    }

    @Test func predictOverWorkersFailsOnceEveryWorkerIsKilled() throws {
        let dir = try E2E.tempDir("life-predict")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = try E2E.generate(rows: 20_000, in: dir)
        let (trained, train) = try E2E.run(["train", data, "--trees", "4", "--model-out", "m.stm"], in: dir, name: "train")
        #expect(trained == 0, "\(train.stderr)")
        let predict = try Session(
            [
                "predict", "--model", "m.stm", data, "-o", "p.csv", "--workers", "2", "--block-rows", "1024",
                "--heartbeat", "0.25", "--liveness", "8"
            ], in: dir,
            environment: ["SPACETIME_TEST_BATCH_DELAY_MS": "300"])
        #expect(predict.waitForOutput("predict/p2 on w"), "\(predict.output)")
        let pids = predict.workerPIDs
        #expect(pids.count == 2, "\(predict.output)")
        for pid in pids { kill(pid, SIGKILL) }
        let killed = Date()
        let exit = predict.wait(30)
        // Within the liveness timeout (0.25 s × 8), with a margin for a loaded machine.
        #expect(Date().timeIntervalSince(killed) < 2 + 3, "predict noticed the dead workers late")
        #expect(exit.map { $0.status == 1 && !$0.signaled } == true, "\(String(describing: exit)) \(predict.output)")
        #expect(predict.output.contains("prediction failed: every worker has exited before the job was done"), "\(predict.output)")
        #expect(predict.output.contains("killed by signal 9"))
        Self.expectNothingLeft(predict, "predict")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains(".stm.tmp.") || $0 == "p.csv" }
        #expect(leftovers.isEmpty, "\(leftovers)")
        let temporaries = try FileManager.default.contentsOfDirectory(atPath: NSTemporaryDirectory())
        let jobDirs = temporaries.filter { $0.hasPrefix("spacetime-predict-\(predict.pid)-") }
        #expect(jobDirs.isEmpty, "\(jobDirs)")
        // The killed workers could not remove their spill directories: the launcher did.
        let spills = temporaries.filter { name in pids.contains { name.hasPrefix("spacetime-spill-\($0)-") } }
        #expect(spills.isEmpty, "\(spills)")
    }

    @Test func aSecondCoordinatorOnARunningJobIsRefusedWithTheHolder() throws {
        let dir = try E2E.tempDir("life-lock")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = try E2E.generate(rows: 4000, in: dir)
        let job = dir + "/job"
        let first = try Session(
            ["local", data, "--workers", "1", "--memory-limit", "256MiB", "--job-dir", job] + Self.training,
            in: dir, environment: Self.slow)
        #expect(first.waitForOutput("train/p"), "\(first.output)")
        let host = ProcessInfo.processInfo.hostName
        let holder = "is in use by a coordinator, pid \(first.pid) on host \(host)"
        let (localStatus, local) = try E2E.run(
            ["local", data, "--workers", "1", "--job-dir", job, "--resume"], in: dir, name: "second-local")
        #expect(localStatus == 1)
        #expect(local.stderr.contains(holder), "\(local.stderr)")
        let (coordStatus, coordinator) = try E2E.run(
            ["coordinator", data, "--bind", "tcp://127.0.0.1:*", "--job-dir", job, "--resume"],
            in: dir, name: "second-coordinator")
        #expect(coordStatus == 1)
        #expect(coordinator.stderr.contains(holder), "\(coordinator.stderr)")
        #expect(try String(contentsOfFile: job + "/job.lock", encoding: .utf8).contains("pid=\(first.pid)"))
        // The refused runs changed nothing: the first one's attempts were not abandoned.
        let store = try #require(try E2E.openStore(job))
        #expect(try store.events(kind: .resumed).isEmpty)
        kill(first.pid, SIGTERM)
        #expect(first.wait(30).map { $0.status == 143 } == true)
        Self.expectNothingLeft(first, "locked job")
    }

    @Test func workersOutliveAGracefulCoordinatorStopAndTheResumeFinishesTheJob() throws {
        let dir = try E2E.tempDir("life-resume")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = try E2E.generate(rows: 4000, in: dir)
        let flags = ["--partitions", "2", "--trees", "12", "--seed", "7", "--heartbeat", "0.25", "--liveness", "8"]
        let single = try E2E.singleProcess(data, in: dir, flags: ["--partitions", "2", "--trees", "12", "--seed", "7"])
        let endpoint = "tcp://127.0.0.1:\(try E2E.freePort())"
        let arguments =
            [
                "coordinator", data, "--bind", endpoint, "--job-dir", dir + "/job", "--model-out", "m.stm",
                "--report-json", "r.json", "--wait-workers", "2", "--progress", "plain"
            ] + flags
        let coordinator = try E2E.Child(arguments, in: dir, name: "coordinator")
        let workers = try (1...2).map { i in
            try E2E.Child(
                ["worker", "--connect", endpoint, "--memory-limit", "256MiB", "--worker-id", "w\(i)", "--threads", "1"],
                in: dir, name: "w\(i)", environment: Self.slow)
        }
        defer { for w in workers where w.process.isRunning { kill(w.pid, SIGKILL) } }
        #expect(E2E.waitUntil(60) { coordinator.stderr.contains("train/p") }, "\(coordinator.stderr)")
        kill(coordinator.pid, SIGTERM)
        #expect(coordinator.wait(30) == 143)
        #expect(coordinator.stderr.contains("SIGTERM: stopping; continue later with --resume"))
        for w in workers {
            #expect(
                E2E.waitUntil(10) { w.stderr.contains("lost the coordinator: the coordinator is stopping to be resumed; reconnecting") },
                "\(w.stderr)")
        }
        Thread.sleep(forTimeInterval: 2)
        #expect(workers.allSatisfy { $0.process.isRunning }, "the workers wait for the resumed coordinator")
        let (status, resumed) = try E2E.run(arguments + ["--resume"], in: dir, name: "resumed", timeout: 120)
        #expect(status == 0, "\(resumed.stderr)")
        #expect(try E2E.json(dir + "/r.json")["fingerprint"] as? String == single.fingerprint)
        for w in workers {
            #expect(w.wait(20) == 0, "after the job the workers exit: \(w.stderr)")
            #expect(w.stderr.contains("joined job"))
        }
    }
}
