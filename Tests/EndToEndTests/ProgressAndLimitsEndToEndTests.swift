import Foundation
import SpaceTime
import TestSupport
import Testing

@testable import Cluster

/// Real processes: progress output off and on a terminal, `--checkpoint-every`
/// with a kill -9 between batches, and a worker limiting itself without a cgroup.
@Suite(.serialized) struct ProgressAndLimitsEndToEndTests {
    static let training = ["--partitions", "3", "--trees", "18", "--seed", "7"]
    static let liveness = ["--heartbeat", "0.25", "--liveness", "12"]

    @Test func checkpointEveryBatchesTreesAndAKillResumesFromTheLastBatch() throws {
        let dir = try E2E.tempDir("ckpt-every")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = try E2E.generate(rows: 6000, in: dir)
        let single = try E2E.singleProcess(data, in: dir, flags: Self.training)
        // 6 trees per partition in checkpoints of 4: the store holds 0, 4 or 6 trees of a partition, never another count.
        let job = try E2E.Child(
            [
                "local", data, "--workers", "2", "--memory-limit", "256MiB", "--job-dir", dir + "/job",
                "--model-out", "dist.stm", "--report-json", "dist.json", "--checkpoint-every", "4"
            ]
                + Self.training + Self.liveness,
            in: dir, name: "local", environment: ["SPACETIME_TEST_TREE_DELAY_MS": "500"])
        defer { _ = job.wait(1) }
        let store = try #require(try E2E.openStore(dir + "/job"))
        var seen: Set<Int> = []
        var victim: (worker: String, partition: Int)?
        #expect(
            try E2E.waitUntil(60) {
                for task in try store.tasks() where task.name.kind == .train {
                    let count = try store.checkpointedTrees(partition: task.name.partition).count
                    seen.insert(count)
                    if count == 4, [.leased, .running, .checkpointed].contains(task.state),
                        let attempt = task.currentAttempt, let a = try store.attempt(attempt)
                    {
                        victim = (a.workerID, task.name.partition)
                        return true
                    }
                }
                return false
            })
        let chosen = try #require(victim)
        let pid = try #require(try store.workers().first { $0.id == chosen.worker && $0.state == .connected }?.pid)
        kill(Int32(pid), SIGKILL)
        let status = job.wait(120)
        let log = job.stderr
        #expect(status == 0, "\(log)")
        #expect(log.contains("train/p\(chosen.partition) resumed at tree 4"), "\(log)")
        for p in 0..<3 { seen.insert(try store.checkpointedTrees(partition: p).count) }
        #expect(seen.isSubset(of: [0, 4, 6]), "trees are stored in batches of 4 and the rest: saw \(seen.sorted())")
        let after = try store.attempts(of: TaskName(.train, chosen.partition)).compactMap(\.firstTree)
        #expect(after.contains(4), "the rerun started at the first tree of the lost batch")
        #expect(try E2E.json(dir + "/dist.json")["fingerprint"] as? String == single.fingerprint)
        // Standard error is a file here: plain progress lines, no terminal control characters.
        #expect(!log.contains("\u{1B}") && !log.contains("\r"))
        #expect(log.contains("stage train; tasks") || log.contains("stage extract; tasks"), "\(log)")
    }

    @Test func progressModesOffATerminal() throws {
        let dir = try E2E.tempDir("progress")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = try E2E.generate(rows: 3000, in: dir)
        func run(_ mode: String) throws -> String {
            let (status, child) = try E2E.run(
                [
                    "local", data, "--workers", "1", "--memory-limit", "256MiB", "--job-dir", dir + "/job-" + mode,
                    "--model-out", mode + ".stm", "--progress", mode, "--partitions", "2", "--trees", "6"
                ]
                    + Self.liveness, in: dir, name: "local-" + mode,
                environment: ["TERM": "xterm", "SPACETIME_TEST_TREE_DELAY_MS": "100"])
            #expect(status == 0, "\(child.stderr)")
            return child.stderr
        }
        let none = try run("none")
        #expect(!none.contains("stage ") && !none.contains("\u{1B}"))
        #expect(none.contains("saved model"))
        // A bar forced into a file: every log line still starts after an erase and ends with a newline,
        // and each finished stage leaves one line.
        let bar = try run("bar")
        #expect(bar.contains("\r\u{1B}[K"))
        let segments = bar.components(separatedBy: "\r\u{1B}[K")
        let saved = segments.filter { $0.contains("coordinator saved model") }
        #expect(
            saved.count == 1
                && saved[0].range(of: #"^\d\d:\d\d:\d\d coordinator saved model [^\r\x1B]*\n"#, options: .regularExpression) != nil,
            "\(saved)")
        #expect(bar.contains("extract   finished in") && bar.contains("train     finished in 0:") && bar.contains("6/6 trees"))
        #expect(bar.contains("w1 joined job"), "worker lines come through the bar")
    }

    /// No cgroup: the workers are started directly, so only their own RSS
    /// watch holds them to `--memory-limit`. A train task whose working set goes
    /// over it (a test ballast stands in for a bad estimate) fails with the
    /// reason, the worker stays for the retries, and after three the job fails.
    @Test func aSelfLimitedWorkerFailsOverLimitTasksAndTheJobFailsWithBoundedRetries() throws {
        let dir = try E2E.tempDir("self-limit")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = try E2E.generate(rows: 3000, in: dir)
        let endpoint = "tcp://127.0.0.1:\(try E2E.freePort())"
        let coordinator = try E2E.Child(
            [
                "coordinator", data, "--bind", endpoint, "--job-dir", dir + "/job", "--wait-workers", "2",
                "--worker-memory-limit", "160MiB", "--partitions", "2", "--trees", "4", "--max-attempts", "3",
                "--memory-limit", "2MiB"
            ]
                + Self.liveness, in: dir, name: "coordinator")
        var workers: [E2E.Child] = []
        for i in 1...2 {
            workers.append(
                try E2E.Child(
                    ["worker", "--connect", endpoint, "--memory-limit", "160MiB", "--worker-id", "w\(i)"],
                    in: dir, name: "w\(i)",
                    environment: ["SPACETIME_TEST_TRAIN_BALLAST_MB": "300", "SPACETIME_TEST_TREE_DELAY_MS": "400"]))
        }
        defer { for w in workers where w.process.isRunning { kill(w.pid, SIGKILL) } }
        let status = coordinator.wait(90)
        let log = coordinator.stderr
        #expect(status != nil, "the job never hangs")
        #expect(status != 0)
        #expect(log.contains("failed 3 times"), "\(log)")
        #expect(log.contains("exceeded its 160 MiB memory limit"), "\(log)")
        // The coordinator's own (deliberately tiny: below its RSS at start, so the first sample reports it) limit is watched and reported, not enforced.
        #expect(log.contains("coordinator uses") && log.contains("of its 2 MiB --memory-limit: OVER its limit"), "\(log)")
        let store = try #require(try E2E.openStore(dir + "/job"))
        #expect(try store.stage() == .failed)
        #expect(try store.failure()?.contains("exceeded its 160 MiB memory limit (RSS") == true)
        #expect(try store.tasks().allSatisfy { $0.failures <= 3 })
        let workerLogs = workers.map(\.stderr).joined()
        #expect(workerLogs.contains("exceeded its 160 MiB memory limit") && workerLogs.contains("failing its 1 running task(s)"))
        for w in workers { #expect(w.wait(20) == 0, "workers stay for the retries and leave when the failed job shuts down") }
    }

    /// Workers the coordinator rejects (limit below what the job needs) exit;
    /// with none left, `spacetime local` fails the job instead of waiting.
    @Test func localFailsWhenEveryWorkerHasExited() throws {
        let dir = try E2E.tempDir("no-workers")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = try E2E.generate(rows: 1000, in: dir)
        let (status, child) = try E2E.run(
            [
                "local", data, "--workers", "2", "--memory-limit", "30MiB", "--job-dir", dir + "/job",
                "--partitions", "2", "--trees", "4"
            ] + Self.liveness, in: dir, name: "local", timeout: 60)
        #expect(status != nil, "the job never hangs")
        #expect(status != 0)
        #expect(child.stderr.contains("every worker has exited before the job was done: w1 (pid"), "\(child.stderr)")
        #expect(child.stderr.contains("memory limit is below the"), "the workers' own reason is in the log")
        #expect(try E2E.openStore(dir + "/job")?.stage() == .failed)
    }

    @Test func memoryWatchReportsEachRiseOnceAndTheReturn() {
        typealias W = MemoryWatch
        #expect(W.Level.of(used: 10, limit: 100) == .normal)
        #expect(W.Level.of(used: 85, limit: 100) == .high)
        #expect(W.Level.of(used: 96, limit: 100) == .critical)
        #expect(W.Level.of(used: 101, limit: 100) == .over)
        var reported = W.Level.normal
        var lines: [String] = []
        for level in [W.Level.normal, .high, .high, .critical, .high, .critical, .over, .critical, .normal, .normal] {
            let step = W.report(after: reported, now: level, who: "coordinator", used: 900 << 20, limit: 1 << 30)
            reported = step.reported
            if let (_, line) = step.line { lines.append(line) }
        }
        #expect(lines.count == 4, "\(lines)")
        #expect(lines[0] == "coordinator uses 900 MiB of its 1 GiB --memory-limit (over 80 %)")
        #expect(lines[1].hasSuffix("(over 95 %)") && lines[2].contains("OVER its limit") && lines[3].hasSuffix("back under 80 %"))
        #expect(CoordinatorJob.rowBatchBytes(budget: 1 << 30, partitions: 4) == 1 << 20)
        #expect(CoordinatorJob.rowBatchBytes(budget: 256 << 20, partitions: 20) == (256 << 20) / 4 / 180)
        #expect(CoordinatorJob.rowBatchBytes(budget: 16 << 20, partitions: 100) == 64 << 10)
    }
}
