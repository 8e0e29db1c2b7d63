import Foundation
import TestSupport
import Testing

@testable import Cluster

/// `spacetime cv --workers` with real processes on a table with categorical columns and
/// missing values: the per-fold metrics are those of `cv` in one process (one partition),
/// do not depend on the worker count, and stay the same when a worker is killed with -9
/// in the middle of a fold's training, or when the coordinator is killed and the job resumed.
@Suite(.serialized) struct CrossValidationEndToEndTests {
    static let flags = ["--folds", "3", "--trees", "12", "--seed", "5", "--categorical", "zone", "--ignore", "id"]

    /// The per-fold metrics of a `--report-json` report.
    static func folds(_ path: String) throws -> NSArray {
        let report = try E2E.json(path)
        let points = try #require(report["points"] as? [[String: Any]])
        return try #require(points.first?["folds"] as? NSArray)
    }

    @Test func foldMetricsDoNotDependOnWorkersOrAKilledWorker() throws {
        let dir = try E2E.tempDir("cv-workers")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = dir + "/mixed.csv"
        try CategoricalEndToEndTests.writeTable(rows: 3000, regression: false, seed: 9, to: data)

        func cv(_ name: String, _ extra: [String]) throws -> NSArray {
            let (status, child) = try E2E.run(
                ["cv", data, "--report-json", name + ".json"] + Self.flags + extra, in: dir, name: name)
            #expect(status == 0, "\(child.stderr)")
            return try Self.folds(dir + "/" + name + ".json")
        }
        let single = try cv("single", ["--oof-out", "single-oof.csv"])
        #expect(single.count == 3)
        #expect(try cv("w1p1", ["--workers", "1", "--partitions", "1", "--progress", "plain"]) == single)
        // Three fold tasks over two workers are cut in two tree ranges each: the same forests.
        let (split, splitRun) = try E2E.run(
            [
                "cv", data, "--report-json", "w2p1.json", "--workers", "2", "--partitions", "1", "--progress", "plain", "--oof-out",
                "w2p1-oof.csv"
            ] + Self.flags,
            in: dir, name: "w2p1")
        #expect(split == 0, "\(splitRun.stderr)")
        #expect(
            splitRun.stderr.contains(
                "6 train tasks over tree ranges so that the workers finish together (p0's 12 trees of each fold in 2 ranges)"),
            "\(splitRun.stderr)")
        #expect(try Self.folds(dir + "/w2p1.json") == single)
        // The workers' out-of-fold predictions, gathered in input order, are one process's.
        let oof = try String(contentsOfFile: dir + "/single-oof.csv", encoding: .utf8)
        #expect(oof.split(separator: "\n").count == 3001 && oof.hasPrefix("fold,"))
        #expect(try String(contentsOfFile: dir + "/w2p1-oof.csv", encoding: .utf8) == oof)
        // The worker streamed the first fold task's rows keeps them: every later task reads a spill.
        let streamed = splitRun.stderr.components(separatedBy: "rows streamed again").count - 1
        #expect(streamed == 1, "\(splitRun.stderr)")
        let w1 = try cv("w1p3", ["--workers", "1", "--partitions", "3", "--progress", "plain", "--oof-out", "w1p3-oof.csv"])
        #expect(w1.count == 3)
        #expect(try cv("w3p3", ["--workers", "3", "--partitions", "3", "--progress", "plain", "--oof-out", "w3p3-oof.csv"]) == w1)
        let oof3 = try String(contentsOfFile: dir + "/w1p3-oof.csv", encoding: .utf8)
        #expect(oof3.split(separator: "\n").count == 3001)
        #expect(try String(contentsOfFile: dir + "/w3p3-oof.csv", encoding: .utf8) == oof3)

        // Two workers, one killed while a fold's train task has checkpointed some of its trees.
        _ = try Self.killWorkerInFoldTraining(
            data: data, in: dir, job: "job", partitions: 3, flags: Self.flags, report: "killed.json", treeDelayMS: 300)
        #expect(try Self.folds(dir + "/killed.json") == w1, "the same fold metrics with a kill along the way")

        // The coordinator killed with -9 during training, then `--resume`: the same fold metrics.
        let resumed = try Self.killCoordinatorInTrainingAndResume(
            data: data, in: dir, job: "job2", partitions: 3, flags: Self.flags, report: "resumed.json", treeDelayMS: 300)
        #expect(resumed.stderr.contains("resuming job"), "\(resumed.stderr)")
        #expect(try Self.folds(dir + "/resumed.json") == w1, "the same fold metrics after the coordinator's restart")
        // The job directory holds a 3-fold job: other folds or `local` do not resume it.
        let (status3, other) = try E2E.run(
            ["cv", data, "--workers", "1", "--job-dir", dir + "/job2", "--resume"] + Self.flags + ["--folds", "4"], in: dir,
            name: "cv-other-folds")
        #expect(status3 != 0 && other.stderr.contains("holds a 3-fold cross-validation job, not a 4-fold"), "\(other.stderr)")
        let (status4, local) = try E2E.run(
            ["local", data, "--workers", "1", "--job-dir", dir + "/job2", "--resume"], in: dir, name: "local-resume")
        #expect(status4 != 0 && local.stderr.contains("not a training job"), "\(local.stderr)")
    }

    /// `cv --grid` over workers: every point is cross-validated in the one job, on one
    /// extraction (one extract task per partition) and the same fold extractors; each point's
    /// fold metrics and the ranking are one process's at one partition, and the same with 1
    /// or 3 workers at 2 partitions; `status` shows the points, `--refit` trains the best and
    /// a resume with another grid is refused.
    @Test func gridPointsShareOneExtractionOverWorkers() throws {
        let dir = try E2E.tempDir("cv-grid")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = dir + "/mixed.csv"
        try CategoricalEndToEndTests.writeTable(rows: 2000, regression: false, seed: 4, to: data)
        let grid = ["--grid", "min-samples-leaf=1,20;trees=6,9"]
        func cv(_ name: String, _ extra: [String]) throws -> (points: [NSArray], ranking: NSArray, stderr: String) {
            let (status, child) = try E2E.run(
                ["cv", data, "--report-json", name + ".json"] + Self.flags + grid + extra, in: dir, name: name)
            #expect(status == 0, "\(child.stderr)")
            let report = try E2E.json(dir + "/" + name + ".json")
            let points = try #require(report["points"] as? [[String: Any]])
            return (points.compactMap { $0["folds"] as? NSArray }, try #require(report["ranking"] as? NSArray), child.stderr + child.stdout)
        }
        let single = try cv("single", [])
        #expect(single.points.count == 4 && single.ranking.count == 4)
        let w1p1 = try cv("w1p1", ["--workers", "1", "--partitions", "1", "--progress", "plain"])
        #expect(w1p1.points == single.points, "each point's folds are one process's")
        #expect(w1p1.ranking == single.ranking)
        #expect(w1p1.stderr.contains("ranked by mean accuracy"), "\(w1p1.stderr)")

        let w1 = try cv("w1p2", ["--workers", "1", "--partitions", "2", "--progress", "plain", "--job-dir", dir + "/job"])
        let (w3status, w3) = try E2E.run(
            [
                "cv", data, "--report-json", "w3p2.json", "--workers", "3", "--partitions", "2", "--progress", "plain", "--refit",
                "--model-out", "best.stm"
            ] + Self.flags + grid, in: dir, name: "w3p2")
        #expect(w3status == 0, "\(w3.stderr)")
        let w3points = try #require(try E2E.json(dir + "/w3p2.json")["points"] as? [[String: Any]])
        #expect(w3points.compactMap { $0["folds"] as? NSArray } == w1.points, "the same per-point folds with 1 or 3 workers")
        #expect(w3.stderr.contains("2 partitions × 3 folds × 4 points"), "\(w3.stderr)")
        let best = try #require((try E2E.json(dir + "/w3p2.json")["best"] as? Int))
        #expect(w3.stdout.contains("refit [") && FileManager.default.fileExists(atPath: dir + "/best.stm"), "\(w3.stdout)")
        #expect(best == (w1.ranking.firstObject as? Int))

        // The store: one extract task per partition for all 4 points × 3 folds.
        let store = try #require(try E2E.openStore(dir + "/job"))
        let tasks = try store.tasks()
        #expect(tasks.filter { $0.name.kind == .extract }.count == 2)
        #expect(tasks.filter { $0.name.kind == .evaluate }.count == 2 * 4 * 3)
        #expect(Set(tasks.compactMap(\.name.variant.point)) == [0, 1, 2, 3])
        let (_, status) = try E2E.run(["status", dir + "/job"], in: dir, name: "status")
        #expect(status.stdout.contains("(4 grid points × 3 folds)"), "\(status.stdout)")
        #expect(status.stdout.contains("point 4 [min-samples-leaf=20 trees=9]:"), "\(status.stdout)")
        let (other, refused) = try E2E.run(
            ["cv", data, "--workers", "1", "--job-dir", dir + "/job", "--resume"] + Self.flags + ["--grid", "trees=6,9"], in: dir,
            name: "other-grid")
        #expect(other != 0 && refused.stderr.contains("--grid"), "\(refused.stderr)")

        // The coordinator killed with -9 while the points train, then `--resume` (the grid
        // taken from the job): every point's folds as in the uninterrupted run.
        _ = try Self.killCoordinatorInTrainingAndResume(
            data: data, in: dir, job: "job2", partitions: 2, flags: Self.flags + grid, report: "resumed.json", treeDelayMS: 150)
        let resumedPoints = try #require(try E2E.json(dir + "/resumed.json")["points"] as? [[String: Any]])
        #expect(resumedPoints.compactMap { $0["folds"] as? NSArray } == w1.points, "the same per-point folds after the restart")
        // A worker killed with -9 while a point's fold trains: the same per-point folds.
        _ = try Self.killWorkerInFoldTraining(
            data: data, in: dir, job: "job3", partitions: 2, flags: Self.flags + grid, report: "worker-killed.json", treeDelayMS: 300)
        let killedPoints = try #require(try E2E.json(dir + "/worker-killed.json")["points"] as? [[String: Any]])
        #expect(killedPoints.compactMap { $0["folds"] as? NSArray } == w1.points, "the same per-point folds with a worker killed")
    }

    /// Runs `cv --workers 2` in job directory `job` (writing `report`), kills with -9 the
    /// worker of a fold train task caught between its checkpoints, and returns the finished
    /// run, whose status and log (the kill named, the task resumed) it checks.
    static func killWorkerInFoldTraining(
        data: String, in dir: String, job: String, partitions: Int, flags: [String], report: String, treeDelayMS: Int
    ) throws -> E2E.Child {
        let run = try E2E.Child(
            [
                "cv", data, "--report-json", report, "--workers", "2", "--partitions", "\(partitions)", "--job-dir", dir + "/" + job,
                "--progress", "plain"
            ] + flags,
            in: dir, name: job + "-worker-kill", environment: ["SPACETIME_TEST_TREE_DELAY_MS": "\(treeDelayMS)"])
        defer { _ = run.wait(1) }
        let store = try #require(try E2E.openStore(dir + "/" + job))
        var victim: String?
        let found = try E2E.waitUntil(240) {
            guard try store.stage() == .train else { return false }
            for task in try store.tasks() where task.name.kind == .train && [.leased, .running, .checkpointed].contains(task.state) {
                guard let range = task.name.variant.treeRange, task.name.variant.fold != nil else { continue }
                let done = try store.checkpointedTreeCount(partition: task.name.partition, in: range)
                guard done >= 1, done < range.count, let attempt = task.currentAttempt, let a = try store.attempt(attempt) else { continue }
                victim = a.workerID
                return true
            }
            return false
        }
        #expect(found, "a fold's train task was caught between checkpoints")
        let worker = try #require(victim)
        let pid = try #require(try store.workers().first { $0.id == worker && $0.state == .connected }?.pid)
        kill(Int32(pid), SIGKILL)
        let status = run.wait(180)
        #expect(status == 0, "\(run.stderr)")
        #expect(run.stderr.contains("was killed by signal 9"), "the log names the kill")
        #expect(run.stderr.contains("resumed at tree"), "the killed fold's training resumed from its checkpoints")
        return run
    }

    /// Runs `cv --workers 2` in job directory `job`, kills its coordinator with -9 once the
    /// train stage has checkpointed trees, and resumes it with the same flags (writing
    /// `report`); returns the resumed run, whose status it checks.
    static func killCoordinatorInTrainingAndResume(
        data: String, in dir: String, job: String, partitions: Int, flags: [String], report: String, treeDelayMS: Int
    ) throws -> E2E.Child {
        let cluster = ["--workers", "2", "--partitions", "\(partitions)", "--job-dir", dir + "/" + job, "--progress", "plain"]
        let first = try E2E.Child(
            ["cv", data] + cluster + flags, in: dir, name: job + "-coordinator",
            environment: ["SPACETIME_TEST_TREE_DELAY_MS": "\(treeDelayMS)"])
        let store = try #require(try E2E.openStore(dir + "/" + job))
        let training = try E2E.waitUntil(240) {
            try store.stage() == .train
                && (0..<partitions).contains { p in ((try? store.checkpointedTreeCount(partition: p, in: 0..<10_000)) ?? 0) >= 1 }
        }
        #expect(training, "the job reached its training with some trees checkpointed")
        kill(first.pid, SIGKILL)
        _ = first.wait(30)
        let (status, resumed) = try E2E.run(
            ["cv", data, "--report-json", report] + cluster + ["--resume"] + flags, in: dir, name: job + "-resume")
        #expect(status == 0, "\(resumed.stderr)")
        return resumed
    }

    @Test func clusterOnlyFlagsNeedWorkersAndFlagsTheirBind() throws {
        let dir = try E2E.tempDir("cv-flags")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "a,b\n1,0\n2,1\n".write(toFile: dir + "/d.csv", atomically: true, encoding: .utf8)
        var (status, child) = try E2E.run(["cv", "d.csv", "--partitions", "2"], in: dir, name: "partitions")
        #expect(status != 0 && child.stderr.contains("--partitions needs --workers"), "\(child.stderr)")
        (status, child) = try E2E.run(["cv", "d.csv", "--curve-secret", "k.secret"], in: dir, name: "curve")
        #expect(status != 0 && child.stderr.contains("--curve-secret needs --bind"), "\(child.stderr)")
        (status, child) = try E2E.run(["cv", "d.csv", "--workers", "1", "--bind", "tcp://127.0.0.1:*"], in: dir, name: "both")
        #expect(status != 0 && child.stderr.contains("give one"), "\(child.stderr)")
        (status, child) = try E2E.run(["cv", "d.csv", "--bind", "tcp://0.0.0.0:1"], in: dir, name: "clear")
        #expect(status != 0 && child.stderr.contains("without encryption"), "\(child.stderr)")
        (status, child) = try E2E.run(["cv", "d.csv", "--insecure"], in: dir, name: "insecure")
        #expect(status != 0 && child.stderr.contains("--insecure needs --bind"), "\(child.stderr)")
        (status, child) = try E2E.run(
            ["cv", "d.csv", "--bind", "tcp://127.0.0.1:*", "--allow-workers", "keys"], in: dir, name: "half-curve")
        #expect(status != 0 && child.stderr.contains("--curve-secret and --allow-workers go together"), "\(child.stderr)")
    }

    /// `cv --bind`: workers that join from outside (here two `spacetime worker` processes)
    /// run the same job as `--workers`: the fold metrics of one process at one partition.
    @Test func workersJoiningAtBindRunTheSameFolds() throws {
        let dir = try E2E.tempDir("cv-bind")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = dir + "/mixed.csv"
        try CategoricalEndToEndTests.writeTable(rows: 2000, regression: false, seed: 3, to: data)
        let (status, single) = try E2E.run(["cv", data, "--report-json", "single.json"] + Self.flags, in: dir, name: "single")
        #expect(status == 0, "\(single.stderr)")
        let endpoint = "tcp://127.0.0.1:\(try E2E.freePort())"
        let coordinator = try E2E.Child(
            [
                "cv", data, "--report-json", "bind.json", "--bind", endpoint, "--wait-workers", "2", "--partitions", "1",
                "--job-dir", dir + "/job", "--memory-limit", "256MiB", "--progress", "plain"
            ] + Self.flags, in: dir, name: "cv-bind")
        var workers: [E2E.Child] = []
        for i in 1...2 {
            workers.append(
                try E2E.Child(
                    ["worker", "--connect", endpoint, "--memory-limit", "256MiB", "--worker-id", "w\(i)", "--threads", "1"], in: dir,
                    name: "w\(i)"))
        }
        defer { for w in workers where w.process.isRunning { kill(w.pid, SIGKILL) } }
        #expect(coordinator.wait(180) == 0, "\(coordinator.stderr)")
        #expect(coordinator.stdout.contains("(classification, 2 worker(s), 1 partition(s))"), "\(coordinator.stdout)")
        #expect(try Self.folds(dir + "/bind.json") == Self.folds(dir + "/single.json"))
        let store = try #require(try E2E.openStore(dir + "/job"))
        #expect(try Set(store.workers().map(\.id)) == ["w1", "w2"])
    }
}
