import Foundation
import SpaceTime
import TestSupport
import Testing

@testable import Cluster

/// SIGTERM to a coordinator, a worker and `local` in every stage of a job (extract, train,
/// evaluate and, for the coordinator, save), each slowed by a test delay so that the signal
/// lands in it: the process exits with its documented status, no spill directory is left,
/// the job store is consistent, and the job finishes (after `--resume` where it was stopped)
/// with the fingerprint of an uninterrupted run. And SIGTERM to `predict --workers` while
/// it scores blocks. Serialized: one job at a time, so that the suite does not load the
/// machine with a dozen jobs beside the other end-to-end suites (a worker of
/// `ProcessLifecycleEndToEndTests` then missed its resumed coordinator).
@Suite(.serialized) struct ShutdownSignalEndToEndTests {
    /// A stage to interrupt, the delay that makes it last, and whose environment it goes in.
    enum Stage: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case extract, train, evaluate, save

        var jobStage: JobStage {
            switch self {
            case .extract: .extract
            case .train: .train
            case .evaluate: .evaluate
            case .save: .save
            }
        }
        /// Slows this stage: workers' task delays; the coordinator's save delay.
        var delay: [String: String] {
            switch self {
            case .extract: ["SPACETIME_TEST_BATCH_DELAY_MS": "2000"]
            case .train: ["SPACETIME_TEST_TREE_DELAY_MS": "500"]
            case .evaluate: ["SPACETIME_TEST_EVALUATE_DELAY_MS": "2000"]
            case .save: ["SPACETIME_TEST_SAVE_DELAY_MS": "1200"]
            }
        }
        /// Whether the delay is the coordinator's (else the workers').
        var coordinatorDelay: Bool { self == .save }
        var testDescription: String { rawValue }
    }

    static let model = ["--partitions", "2", "--trees", "8", "--seed", "7"]
    static let liveness = ["--heartbeat", "0.25", "--liveness", "8", "--progress", "plain"]

    /// The data and the single-process reference fingerprint, made once for the suite.
    struct Fixture: Sendable {
        let dir: String
        let data: String
        let fingerprint: String
    }
    static let fixture: Result<Fixture, any Error> = Result {
        let dir = try E2E.tempDir("shutdown-fixture")
        let data = try E2E.generate(rows: 3000, in: dir)
        let single = try E2E.singleProcess(data, in: dir, flags: model)
        return Fixture(dir: dir, data: data, fingerprint: single.fingerprint)
    }

    /// Waits until the job in `jobDir` is in `stage` (and, with `log`, a task of it was assigned).
    static func waitForStage(_ jobDir: String, _ stage: Stage, log: (() -> String)? = nil) throws -> Bool {
        guard let store = try E2E.openStore(jobDir, timeout: 60) else { return false }
        return E2E.waitUntil(60) {
            guard (try? store.stage()) == stage.jobStage else { return false }
            guard let log, stage != .save else { return true }
            return log().contains("\(stage.rawValue)/p")
        }
    }

    /// The store of a job stopped in `stage`: it opens, its spec reads, it is in that stage or a
    /// later one, neither failed nor done, and no partition has more trees than its share.
    static func expectResumable(_ jobDir: String, stoppedIn stage: Stage, _ label: String) throws {
        let store = try JobStore(path: jobDir + "/job.sqlite")
        #expect(try store.jobSpec() != nil, "\(label): the job spec")
        let now = try #require(try store.stage(), "\(label): no stage")
        let order = JobStage.allCases
        let rank = { (s: JobStage) in order.firstIndex(of: s) ?? -1 }
        #expect(now != .failed && now != .done, "\(label): stage \(now)")
        #expect(rank(now) >= rank(stage.jobStage), "\(label): stage \(now) before \(stage)")
        for p in try store.partitions() {
            #expect(try store.checkpointedTrees(partition: p.partition).count <= p.trees, "\(label): partition \(p.partition)")
        }
    }

    /// Spill directories (and their lock files) left under `base`.
    static func spills(in base: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []).filter { $0.hasPrefix("spacetime-spill-") }
    }

    static func fingerprint(_ report: String) -> String? {
        (try? E2E.json(report))?["fingerprint"] as? String
    }

    @Test(arguments: Stage.allCases)
    func sigtermToLocal(_ stage: Stage) throws {
        let fixture = try Self.fixture.get()
        let dir = try E2E.tempDir("shutdown-local-\(stage)")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let spill = dir + "/spill"
        let arguments =
            [
                "local", fixture.data, "--workers", "2", "--memory-limit", "256MiB", "--job-dir", dir + "/job",
                "--model-out", "m.stm", "--report-json", "r.json", "--spill-dir", spill
            ] + Self.model + Self.liveness
        let local = try E2E.Child(arguments, in: dir, name: "local", environment: stage.delay)
        #expect(try Self.waitForStage(dir + "/job", stage) { local.stderr }, "\(stage) reached: \(local.stderr)")
        kill(local.pid, SIGTERM)
        let status = local.wait(30)
        #expect(
            local.stderr.contains("SIGTERM: stopping the job and its workers; continue later with --resume --job-dir"), "\(local.stderr)")
        #expect(Self.spills(in: spill).isEmpty, "spill left: \(Self.spills(in: spill))")
        #expect(!local.stderr.contains("every worker has exited"), "stopping the workers must not fail the job")
        if stage == .save {
            // The save is one step of the coordinator's loop: it completes, and the job is done.
            #expect(status == 0, "\(local.stderr)")
            #expect(Self.fingerprint(dir + "/r.json") == fixture.fingerprint)
            return
        }
        #expect(status == 143, "\(local.stderr)")
        try Self.expectResumable(dir + "/job", stoppedIn: stage, "local in \(stage)")
        let (resumed, child) = try E2E.run(arguments + ["--resume"], in: dir, name: "resumed", timeout: 120)
        #expect(resumed == 0, "\(child.stderr)")
        #expect(Self.fingerprint(dir + "/r.json") == fixture.fingerprint, "\(child.stderr)")
        #expect(Self.spills(in: spill).isEmpty, "spill left after the resume: \(Self.spills(in: spill))")
    }

    @Test(arguments: Stage.allCases)
    func sigtermToTheCoordinator(_ stage: Stage) throws {
        let fixture = try Self.fixture.get()
        let dir = try E2E.tempDir("shutdown-coordinator-\(stage)")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let endpoint = "tcp://127.0.0.1:\(try E2E.freePort())"
        let arguments =
            [
                "coordinator", fixture.data, "--bind", endpoint, "--job-dir", dir + "/job", "--model-out", "m.stm",
                "--report-json", "r.json", "--wait-workers", "2"
            ] + Self.model + Self.liveness
        let coordinator = try E2E.Child(
            arguments, in: dir, name: "coordinator", environment: stage.coordinatorDelay ? stage.delay : [:])
        let workers = try (1...2).map { i in
            try E2E.Child(
                [
                    "worker", "--connect", endpoint, "--memory-limit", "256MiB", "--worker-id", "w\(i)", "--threads", "1",
                    "--spill-dir", dir + "/spill-w\(i)"
                ],
                in: dir, name: "w\(i)", environment: stage.coordinatorDelay ? [:] : stage.delay)
        }
        defer { for w in workers where w.process.isRunning { kill(w.pid, SIGKILL) } }
        #expect(try Self.waitForStage(dir + "/job", stage) { coordinator.stderr }, "\(stage) reached: \(coordinator.stderr)")
        kill(coordinator.pid, SIGTERM)
        let status = coordinator.wait(30)
        #expect(coordinator.stderr.contains("SIGTERM: stopping; continue later with --resume"), "\(coordinator.stderr)")
        if stage == .save {
            #expect(status == 0, "the save completes: \(coordinator.stderr)")
        } else {
            #expect(status == 143, "\(coordinator.stderr)")
            try Self.expectResumable(dir + "/job", stoppedIn: stage, "coordinator in \(stage)")
            for w in workers {
                #expect(
                    E2E.waitUntil(10) { w.stderr.contains("the coordinator is stopping to be resumed; reconnecting") },
                    "\(w.stderr)")
                #expect(w.process.isRunning, "the workers wait for the resumed coordinator: \(w.stderr)")
            }
            let (resumed, child) = try E2E.run(arguments + ["--resume"], in: dir, name: "resumed", timeout: 120)
            #expect(resumed == 0, "\(child.stderr)")
        }
        #expect(Self.fingerprint(dir + "/r.json") == fixture.fingerprint)
        for (i, w) in workers.enumerated() {
            // A worker that rejoined before the job ended is told it is done and exits. One that
            // had not (its reconnect backoff, on a loaded machine, outlasted the resumed run)
            // keeps trying, by design, until it is stopped: SIGTERM ends it cleanly.
            if !E2E.waitUntil(10, { !w.process.isRunning }) { kill(w.pid, SIGTERM) }
            #expect(w.wait(20) == 0, "the worker exits: \(w.stderr)")
            #expect(Self.spills(in: dir + "/spill-w\(i + 1)").isEmpty)
        }
    }

    @Test(arguments: [Stage.extract, .train, .evaluate])
    func sigtermToAWorker(_ stage: Stage) throws {
        let fixture = try Self.fixture.get()
        let dir = try E2E.tempDir("shutdown-worker-\(stage)")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let endpoint = "tcp://127.0.0.1:\(try E2E.freePort())"
        let coordinator = try E2E.Child(
            [
                "coordinator", fixture.data, "--bind", endpoint, "--job-dir", dir + "/job", "--model-out", "m.stm",
                "--report-json", "r.json", "--wait-workers", "2"
            ] + Self.model + Self.liveness, in: dir, name: "coordinator")
        let workers = try (1...2).map { i in
            try E2E.Child(
                [
                    "worker", "--connect", endpoint, "--memory-limit", "256MiB", "--worker-id", "w\(i)", "--threads", "1",
                    "--spill-dir", dir + "/spill-w\(i)"
                ],
                in: dir, name: "w\(i)", environment: stage.delay)
        }
        defer { for w in workers where w.process.isRunning { kill(w.pid, SIGKILL) } }
        defer { if coordinator.process.isRunning { kill(coordinator.pid, SIGKILL) } }
        #expect(try Self.waitForStage(dir + "/job", stage) { coordinator.stderr }, "\(stage) reached: \(coordinator.stderr)")
        // w1 leaves: goodbye, its spill directory removed, exit 0; its tasks run again on w2.
        kill(workers[0].pid, SIGTERM)
        #expect(workers[0].wait(30) == 0, "\(workers[0].stderr)")
        #expect(workers[0].stderr.contains("exiting: SIGTERM"), "\(workers[0].stderr)")
        #expect(Self.spills(in: dir + "/spill-w1").isEmpty, "\(Self.spills(in: dir + "/spill-w1"))")
        #expect(coordinator.wait(120) == 0, "\(coordinator.stderr)")
        #expect(Self.fingerprint(dir + "/r.json") == fixture.fingerprint, "\(coordinator.stderr)")
        #expect(workers[1].wait(20) == 0, "\(workers[1].stderr)")
        #expect(Self.spills(in: dir + "/spill-w2").isEmpty)
    }

    @Test func sigtermToPredictOverWorkers() throws {
        let fixture = try Self.fixture.get()
        let dir = try E2E.tempDir("shutdown-predict")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let spill = dir + "/spill"
        let predict = try E2E.Child(
            [
                "predict", "--model", fixture.dir + "/single.stm", fixture.data, "-o", "p.csv", "--workers", "2",
                "--block-rows", "300", "--spill-dir", spill, "--heartbeat", "0.25", "--liveness", "8"
            ], in: dir, name: "predict", environment: ["SPACETIME_TEST_BATCH_DELAY_MS": "400"])
        #expect(E2E.waitUntil(60) { predict.stderr.contains("predict/p") }, "\(predict.stderr)")
        kill(predict.pid, SIGTERM)
        #expect(predict.wait(30) == 143, "\(predict.stderr)")
        #expect(predict.stderr.contains("SIGTERM: stopping the prediction"), "\(predict.stderr)")
        #expect(predict.stderr.components(separatedBy: "exiting: SIGTERM").count == 3, "both workers left: \(predict.stderr)")
        #expect(Self.spills(in: spill).isEmpty, "\(Self.spills(in: spill))")
        let outputs = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix("p.csv") }
        #expect(outputs.isEmpty, "no prediction file, committed or temporary: \(outputs)")
        let temporaries = try FileManager.default.contentsOfDirectory(atPath: NSTemporaryDirectory())
        #expect(!temporaries.contains { $0.hasPrefix("spacetime-predict-\(predict.pid)-") }, "the temporary job directory is removed")
    }
}
