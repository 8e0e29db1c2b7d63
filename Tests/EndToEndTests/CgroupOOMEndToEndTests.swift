import Foundation
import SpaceTime
import TestSupport
import Testing

@testable import Cluster

/// The kernel, not the worker, enforces the limit: `spacetime local` puts each
/// worker in its own memory cgroup; a train task whose working set goes far over
/// it (a test ballast stands in for a bad estimate) is OOM-killed mid-task, the
/// coordinator reruns it elsewhere, and after the bounded attempts the job fails
/// with the issue's message ("train/p… failed 2 times: worker w… (pid …) was
/// killed by signal 9 at … of its 160 MiB limit"). Skipped where cgroups are not writable.
@Suite(.serialized) struct CgroupOOMEndToEndTests {
    @Test func aWorkerKilledByItsCgroupMidTaskIsRerunAndTheJobFailsWithTheCause() throws {
        do {
            let probe = try MemoryCgroup.create(name: "spacetime-oom-probe-\(getpid())", limit: .mebibytes(160))
            probe.remove()
        } catch {
            print("skipping cgroup OOM test: \(error)")
            return
        }
        let dir = try E2E.tempDir("cgroup-oom")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = try E2E.generate(rows: 3000, in: dir)
        // Three workers and two attempts: the job fails on the second kill while a worker is still
        // alive, so the failure comes from the retry bound, not from running out of workers. One
        // tree: a single train task (one tree cannot be split in tree ranges over the workers).
        let (status, child) = try E2E.run(
            [
                "local", data, "--workers", "3", "--memory-limit", "160MiB", "--job-dir", dir + "/job",
                "--partitions", "1", "--trees", "1", "--max-attempts", "2",
                "--heartbeat", "0.25", "--liveness", "12"
            ],
            in: dir, name: "local", timeout: 120,
            environment: ["SPACETIME_TEST_TRAIN_BALLAST_MB": "400"])
        let log = child.stderr
        #expect(status != nil, "the job never hangs")
        #expect(status != 0)
        #expect(log.contains("in memory cgroup"), "\(log)")
        #expect(log.contains("train/p0 failed 2 times: worker w"), "\(log)")
        #expect(
            log.range(of: #"was killed by signal 9 at [0-9.]+ MiB of its 160 MiB limit"#, options: .regularExpression) != nil,
            "the kernel killed a worker mid-task, and the log says at what memory: \(log)")
        let store = try #require(try E2E.openStore(dir + "/job"))
        #expect(try store.stage() == .failed)
        // The last attempt's cause: normally the kernel's kill; on a loaded machine the worker's own
        // RSS watch (VmRSS also counts mapped file pages the cgroup does not charge) can fail the task
        // first ("exceeded its 160 MiB memory limit"). Either way the retries are bounded.
        let failure = try store.failure() ?? ""
        #expect(failure.hasPrefix("train/p0 failed 2 times: worker w"), "\(failure)")
        #expect(failure.contains("killed by signal 9") || failure.contains("exceeded its 160 MiB memory limit"), "\(failure)")
        let train = try store.tasks().filter { $0.name.kind == .train }
        #expect(train.count == 1 && train.allSatisfy { $0.failures == 2 })
        // The extract task ran to the end on one worker: only training was killed.
        #expect(try store.tasks().filter { $0.name.kind == .extract }.allSatisfy { $0.state == .done })
    }
}
