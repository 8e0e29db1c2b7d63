import Foundation
import Testing

@testable import Cluster

/// The coordinator engine's side of predict tasks with a scripted worker and
/// a recording sink: assignment with the model and prediction credit,
/// batches handed to the sink with more credit granted, an incomplete `done`
/// failing the attempt (part discarded, block redone), a complete one sealing it.
@Suite struct PredictionEngineTests {
    final class RecordingSink: PredictionSink {
        let blockRows: [Int]
        var written: [UInt64: Int] = [:]
        var sealed: [Int] = []
        var discarded: [UInt64] = []
        init(blockRows: [Int]) { self.blockRows = blockRows }

        func predictions(attemptID: UInt64, task: TaskName, batch: WirePredictionBatch, payload: Data) throws -> String? {
            written[attemptID, default: 0] += Int(batch.rows)
            return written[attemptID]! > blockRows[task.partition] ? "too many rows" : nil
        }

        func finish(attemptID: UInt64, task: TaskName, rows: UInt64) throws -> String? {
            guard written[attemptID] == blockRows[task.partition], Int(rows) == blockRows[task.partition] else {
                return "\(task) reported done with too few predictions"
            }
            written[attemptID] = nil
            sealed.append(task.partition)
            return nil
        }

        func discard(attemptID: UInt64) {
            if written.removeValue(forKey: attemptID) != nil { discarded.append(attemptID) }
        }
    }

    struct Worker {
        let address = PeerAddress([0, 1])
        var seq: UInt64 = 0
        var session: UInt64 = 0
        mutating func frames(_ body: WireEnvelope.OneOf_Body, payload: Data? = nil) throws -> [Data] {
            seq += 1
            return try WireMessage(body, payload: payload, seq: seq, session: session).encodeFrames()
        }
    }

    func t(_ s: Double) -> EngineTime { EngineTime(monotonic: s, wall: 1_800_000_000 + s) }
    func sent(_ out: [CoordinatorOutput]) -> [WireMessage] { out.compactMap { if case .send(_, let m) = $0 { m } else { nil } } }

    @Test func predictionsFlowUnderCreditAndAnIncompleteBlockIsRedone() throws {
        let store = try JobStore()
        try store.createPredictionJob(
            JobSpec(
                jobID: "predict-1", dataFiles: ["d.csv"], parameters: Data([1]), seed: 0, partitions: 2,
                testFraction: 0, trees: 4, maxAttempts: 3), blockRows: [3, 2], now: 0)
        var config = CoordinatorEngine.Configuration()
        config.predictionWindowBatches = 1
        config.scheduler.plan = .prediction
        let engine = try CoordinatorEngine(store: store, schema: WireSamples.schema(), configuration: config, makeSessionID: { 7 })
        let sink = RecordingSink(blockRows: [3, 2])
        engine.predictionSink = sink
        let blob = engine.addBlob(Data([1, 2, 3]), digest: Data(repeating: 0xAB, count: 32))
        engine.model = blob
        engine.extractor = blob

        var w = Worker()
        var h = WireHello()
        h.protocolVersion = ProtocolVersion.current
        h.workerID = "w1"
        h.host = "h"
        h.pid = 9
        h.cores = 1
        h.memoryLimitBytes = 512 << 20
        _ = try engine.receive(from: w.address, frames: try w.frames(.hello(h)), at: t(0))
        w.session = 7

        func assignment(at time: Double) throws -> (WireTaskAssignment, WireCredit) {
            let out = sent(try engine.tick(at: t(time)))
            let a = try #require(out.compactMap { if case .assignment(let a) = $0.body { a } else { nil } }.first)
            let c = try #require(out.compactMap { if case .credit(let c) = $0.body { c } else { nil } }.first)
            var started = WireTaskStarted()
            started.taskID = a.taskID
            started.attemptID = a.attemptID
            _ = try engine.receive(from: w.address, frames: try w.frames(.started(started)), at: t(time))
            return (a, c)
        }
        func batch(_ a: WireTaskAssignment, seq: UInt64, rows: UInt32, at time: Double) throws -> [WireMessage] {
            var b = WirePredictionBatch()
            b.attemptID = a.attemptID
            b.batchSeq = seq
            b.firstLine = 2
            b.rows = rows
            b.bytesPerRow = 16
            return sent(
                try engine.receive(
                    from: w.address, frames: try w.frames(.predictionBatch(b), payload: Data(count: Int(rows) * 16)), at: t(time)))
        }
        func done(_ a: WireTaskAssignment, rows: UInt64, at time: Double) throws {
            var d = WireTaskDone()
            d.taskID = a.taskID
            d.attemptID = a.attemptID
            d.rows = rows
            d.peakRssBytes = 1
            _ = try engine.receive(from: w.address, frames: try w.frames(.done(d)), at: t(time))
        }

        // predict/p0: the model goes with the assignment, and one batch of prediction credit.
        let (a1, c1) = try assignment(at: 1)
        #expect(a1.kind == .predict && a1.partition == 0 && a1.expectedRows == 3 && a1.hasModel)
        #expect(c1.stream == .predictions && c1.attemptID == a1.attemptID && c1.grantedBatches == 1)
        // A batch reaches the sink, and the coordinator grants the next one.
        let regrant = try batch(a1, seq: 0, rows: 2, at: 1.2).compactMap { if case .credit(let c) = $0.body { c } else { nil } }
        #expect(sink.written[a1.attemptID] == 2 && regrant.first?.grantedBatches == 2)
        // Done with 2 of 3 rows: the attempt fails, its part is discarded, the block is pending again.
        try done(a1, rows: 2, at: 1.3)
        #expect(sink.discarded == [a1.attemptID] && sink.sealed.isEmpty)
        #expect(try store.task(TaskName(.predict, 0)).state == .lost, "schedulable again, one failure counted")
        #expect(try store.attempts(of: TaskName(.predict, 0)).first?.outcome == .failed)

        // Redone (the only worker, although it failed there): complete this time.
        let (a2, _) = try assignment(at: 2.5)
        #expect(a2.partition == 0 && a2.attemptID != a1.attemptID)
        _ = try batch(a2, seq: 0, rows: 3, at: 2.6)
        try done(a2, rows: 3, at: 2.7)
        #expect(sink.sealed == [0])
        #expect(try store.task(TaskName(.predict, 0)).state == .done)

        let (a3, _) = try assignment(at: 4)
        #expect(a3.partition == 1)
        _ = try batch(a3, seq: 0, rows: 2, at: 4.1)
        try done(a3, rows: 2, at: 4.2)
        #expect(sink.sealed == [0, 1])
        _ = try engine.tick(at: t(5.5))
        #expect(try store.stage() == .save, "every block done: the driver assembles the output")
    }
}
